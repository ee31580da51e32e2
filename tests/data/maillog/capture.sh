#!/bin/bash
# Captures smtpd's own log (what syslog gets, without the header) for one run
# of every delivery outcome: local delivery Ok, mda temporary and permanent
# failure, relay accepted and refused (5xx) by a second listener, a domain
# that does not exist, bounces delivered and bounces refused, expiry
# (queue ttl 20s), an administrator's removal.  Made the two .log files here:
#
#   flock /tmp/e2e.lock tests/data/maillog/capture.sh /usr/sbin/smtpd /usr/sbin/smtpctl debian-6.8.0p2.log
#
# smtpd -d uses the system's control socket and spool: run it only under the
# e2e lock, and remove what stays queued (closed.test, temp.test) afterwards.
set -u
SMTPD=$1 CTL=$2 OUT=$3
W=/tmp/dcap
mkdir -p $W
echo '@ nobody' > $W/vusers
cp "$(dirname "$0")/smtpd.conf" $W/smtpd.conf
"$SMTPD" -d -f $W/smtpd.conf > "$OUT" 2>&1 &
pid=$!
sleep 2
s() { swaks --server 127.0.0.1:10025 --from "$1" --to "$2" --body "test" --hide-all; }
s alice@sender.test bob@ok.test
s alice@bounce.test carol@temp.test
s alice@bounce.test dave@perm.test
s alice@sender.test erin@relayed.test
s alice@bounce.test frank@refused.test
s alice@sender.test gina@closed.test
s alice@sender.test hank@nx.invalid
s "" ivan@ok.test
s alice@sender.test judy@closed.test
sleep 8
evp=$("$CTL" show queue 2>/dev/null | grep 'judy@closed.test' | cut -d'|' -f1 | head -1)
[ -n "$evp" ] && "$CTL" remove "$evp"
for i in $(seq 100); do grep -q "Expire for" "$OUT" && break; sleep 2; done
sleep 2
kill $pid
wait $pid
