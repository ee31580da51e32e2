#!/usr/bin/env python3
"""Generate the Elasticsearch assets of the delivery data stream.

    python3 elasticsearch/generate_delivery.py           # rewrite the JSON files
    python3 elasticsearch/generate_delivery.py --check   # exit 1 if they are stale

smtpd's report stream says nothing about local delivery, bounces or expiry;
its mail log does, one line per delivery attempt.  Filebeat ships those lines
(filebeat/*.yml, input opensmtpd-delivery) to logs-opensmtpd.delivery-*; the
pipeline made here parses them into ECS.  The line formats (the same in
OpenSMTPD 6.8.0p2 and 7.8.0p1):

  mda.c    <id> mda delivery evpid=<16hex> from=<s> to=<d> [rcpt=<r> ]user=<u> delay=<t> result=<R> stat=<text>
  mta.c    <id> mta delivery evpid=<16hex> from=<s> to=<d> rcpt=<r|-> source="<ip|->" relay="<relay>" delay=<t> result="<R>" stat="<text>"
  queue.c  <delivery|relay>: <Expire|Remove> for <16hex>: from=<u@d>, to=<u@d>, rcpt=<r|->, delay=<t>, stat=<text>
  bounce.c warn: <R> injecting failure report on message <8hex> to <addr> for <n> envelope[s]: <text>

<t> is duration_to_text(): whole seconds as [-][Nd][Nh][Nm][Ns], "0s" for 0.
<R> is Ok, TempFail or PermFail.  <relay> is "<ip> (<ptr name>)", "<ip>", or,
when no session was opened (mta_flush(), session id 16 zeros), the relay's
domain or host name.  IPv6 addresses are in brackets.

Inputs: schema/delivery-fields.json (every field of the data stream, with
its type).  Outputs (committed; tests/elastic/test_delivery.py checks them):
  elasticsearch/delivery-index-template.json   PUT _index_template/logs-opensmtpd.delivery
  elasticsearch/delivery-pipeline.json         PUT _ingest/pipeline/logs-opensmtpd.delivery

Python 3 standard library only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402  (the jsonlog generator: same mapping rules)

FIELDS = REPO / "schema" / "delivery-fields.json"
TEMPLATE_OUT = HERE / "delivery-index-template.json"
PIPELINE_OUT = HERE / "delivery-pipeline.json"

DATASET = "opensmtpd.delivery"
TEMPLATE_NAME = f"logs-{DATASET}"
PIPELINE_NAME = f"logs-{DATASET}"
INDEX_PATTERN = f"logs-{DATASET}-*"
CUSTOM_COMPONENT = f"logs-{DATASET}@custom"
VERSION = 1

PATTERN_DEFINITIONS = {
    "HEX16": "[0-9a-f]{16}",
    "HEX8": "[0-9a-f]{8}",
    "SMTPD_DELAY": "-?(?:[0-9]+[dhms])+",
    "SMTPD_RESULT": "(?:Ok|TempFail|PermFail)",
}

# The syslog header: rsyslog's default file format on Debian 12 (RFC 3339
# time), the traditional BSD one (OpenBSD syslogd, rsyslog with
# RSYSLOG_TraditionalFileFormat), or none (journald: Filebeat has the time
# and the identifier from the journal).
HEADER_PATTERNS = [
    "^(?:%{TIMESTAMP_ISO8601:_tmp.time}|%{SYSLOGTIMESTAMP:_tmp.time}) %{SYSLOGHOST:log.syslog.hostname} "
    "%{PROG:log.syslog.appname}(?:\\[%{POSINT:process.pid:long}\\])?: %{GREEDYDATA:_tmp.body}$",
    "^%{GREEDYDATA:_tmp.body}$",
]

BODY_PATTERNS = [
    # mda.c mda_log()
    "^%{HEX16:opensmtpd.delivery.session_id} %{WORD:_tmp.agent} delivery evpid=%{HEX16:opensmtpd.delivery.envelope_id} "
    "from=<%{DATA:_tmp.from}> to=<%{DATA:_tmp.to}> (?:rcpt=<%{DATA:_tmp.rcpt}> )?user=%{NOTSPACE:user.name} "
    "delay=%{SMTPD_DELAY:_tmp.delay} result=%{SMTPD_RESULT:opensmtpd.delivery.result} "
    "stat=%{GREEDYDATA:opensmtpd.delivery.stat}$",
    # mta.c mta_log()
    "^%{HEX16:opensmtpd.delivery.session_id} %{WORD:_tmp.agent} delivery evpid=%{HEX16:opensmtpd.delivery.envelope_id} "
    "from=<%{DATA:_tmp.from}> to=<%{DATA:_tmp.to}> rcpt=<%{DATA:_tmp.rcpt}> source=\"%{DATA:_tmp.source}\" "
    "relay=\"%{DATA:opensmtpd.delivery.relay}\" delay=%{SMTPD_DELAY:_tmp.delay} "
    "result=\"%{SMTPD_RESULT:opensmtpd.delivery.result}\" stat=\"%{GREEDYDATA:opensmtpd.delivery.stat}\"$",
    # queue.c queue_log()
    "^%{WORD:_tmp.queue_type}: %{WORD:_tmp.queue_action} for %{HEX16:opensmtpd.delivery.envelope_id}: "
    "from=<%{DATA:_tmp.from}>, to=<%{DATA:_tmp.to}>, rcpt=<%{DATA:_tmp.rcpt}>, delay=%{SMTPD_DELAY:_tmp.delay}, "
    "stat=%{GREEDYDATA:opensmtpd.delivery.stat}$",
    # bounce.c bounce_delivery(): the bounce could not be queued
    "^warn: %{SMTPD_RESULT:opensmtpd.delivery.result} injecting failure report on message %{HEX8:email.local_id} "
    "to <%{DATA:_tmp.to}> for %{INT:opensmtpd.delivery.envelopes:long} envelopes?: "
    "%{GREEDYDATA:opensmtpd.delivery.stat}$",
]

# Everything the grok captures leaves as text becomes ECS here.
PARSE_SCRIPT = "\n".join([
    "def t = ctx._tmp;",
    "def d = ctx.opensmtpd.delivery;",
    "for (String k : ['event', 'email', 'destination']) { if (!(ctx[k] instanceof Map)) { ctx[k] = new HashMap(); } }",
    "ctx.event.kind = 'event';",
    "ctx.event.category = ['email'];",
    "ctx.event.type = ['info'];",
    "String action = null; String method = null;",
    "if (t.agent != null) {",
    "  if (t.agent == 'mda') { action = 'mda-delivery'; method = 'local'; }",
    "  else if (t.agent == 'mta') { action = 'mta-delivery'; method = 'relay'; }",
    "  else { throw new IllegalArgumentException('unknown delivery agent ' + t.agent); }",
    "} else if (t.queue_action != null) {",
    "  if (t.queue_action == 'Expire') { action = 'envelope-expire'; d.result = 'Expire'; }",
    "  else if (t.queue_action == 'Remove') { action = 'envelope-remove'; d.result = 'Remove'; }",
    "  else { throw new IllegalArgumentException('unknown queue action ' + t.queue_action); }",
    "  method = t.queue_type == 'delivery' ? 'local' : 'relay';",
    "} else {",
    "  action = 'bounce-report-failure';",
    "}",
    "ctx.event.action = action;",
    "if (method != null) { d.method = method; }",
    # The outcome of this attempt, and what it means for the recipient.
    "String r = d.result;",
    "if (action == 'bounce-report-failure') { d.status = 'bounce-failed'; ctx.event.outcome = 'failure'; }",
    "else if (r == 'Ok') { d.status = 'delivered'; ctx.event.outcome = 'success'; }",
    "else if (r == 'TempFail') { d.status = 'deferred'; ctx.event.outcome = 'failure'; }",
    "else if (r == 'PermFail') { d.status = 'bounced'; ctx.event.outcome = 'failure'; }",
    "else if (r == 'Expire') { d.status = 'expired'; ctx.event.outcome = 'failure'; }",
    "else { d.status = 'removed'; ctx.event.outcome = 'unknown'; }",
    "d['final'] = d.status != 'deferred' && d.status != 'bounce-failed';",
    "if (d.envelope_id != null) { ctx.email.local_id = d.envelope_id.substring(0, 8); }",
    # queue_log() writes the null sender as <@>.
    "if (t.from != null) {",
    "  String from = t.from == '@' ? '' : t.from;",
    "  d.bounce = from.isEmpty();",
    "  if (!from.isEmpty()) { ctx.email.from = ['address': from]; }",
    "}",
    "if (t.to != null) {",
    "  ctx.email.to = ['address': t.to];",
    "  int at = t.to.lastIndexOf('@');",
    "  if (at >= 0 && at + 1 < t.to.length()) { ctx.destination.domain = t.to.substring(at + 1).toLowerCase(); }",
    "}",
    # rcpt: the address as the client gave it, when expansion changed it
    # (queue_log() and mta_log() write '-' otherwise, mda_log() the same
    # address again).
    "if (t.rcpt != null && t.rcpt != '-' && !t.rcpt.isEmpty() && t.rcpt != t.to) { d.rcpt = t.rcpt; }",
    # delay: [-][Nd][Nh][Nm][Ns] -> nanoseconds.
    "if (t.delay != null) {",
    "  long total = 0; long n = 0; boolean neg = false;",
    "  for (int i = 0; i < t.delay.length(); i++) {",
    "    char c = t.delay.charAt(i);",
    "    if (c == (char) '-') { neg = true; }",
    "    else if (c >= (char) '0' && c <= (char) '9') { n = n * 10 + (c - (char) '0'); }",
    "    else {",
    "      long unit = c == (char) 'd' ? 86400L : c == (char) 'h' ? 3600L : c == (char) 'm' ? 60L : 1L;",
    "      total += n * unit; n = 0;",
    "    }",
    "  }",
    "  if (neg) { total = -total; }",
    "  d.delay_seconds = total;",
    "  ctx.event.duration = total * 1000000000L;",
    "}",
    # relay: '<ip> (<ptr>)', '<ip>', or a domain/host name (mta_flush()).
    "if (d.relay != null) {",
    "  String host = d.relay; String ptr = null;",
    "  int p = host.indexOf(' (');",
    "  if (p > 0 && host.endsWith(')')) { ptr = host.substring(p + 2, host.length() - 1); host = host.substring(0, p); }",
    "  boolean v4 = host.length() > 0;",
    "  for (int i = 0; i < host.length(); i++) {",
    "    char c = host.charAt(i);",
    "    if (!(c == (char) '.' || (c >= (char) '0' && c <= (char) '9'))) { v4 = false; }",
    "  }",
    "  if (host.startsWith('[') && host.endsWith(']')) { ctx.destination.ip = host.substring(1, host.length() - 1); }",
    "  else if (v4) { ctx.destination.ip = host; }",
    "  else { ptr = host; }",
    "  if (ptr != null && !ptr.isEmpty()) { d.relay_host = ptr.toLowerCase(); }",
    "}",
    "if (t.source != null && t.source != '-' && !t.source.isEmpty()) {",
    "  String s = t.source;",
    "  if (s.startsWith('[') && s.endsWith(']')) { s = s.substring(1, s.length() - 1); }",
    "  ctx.source = ['ip': s];",
    "}",
    # An smtp-out session id joins the line to that session's documents in
    # logs-opensmtpd.jsonlog-*; mta_flush() (no session) writes zeros, and
    # the mda's id names no session.
    "if (t.agent == 'mta' && d.session_id != '0000000000000000') { ctx.opensmtpd.session = ['id': d.session_id]; }",
    # The deterministic _id: host, the line's own time, the envelope (or the
    # message and recipient of a bounce report), the action and result.
    "String idHost = ctx.log?.syslog?.hostname;",
    "if (idHost == null) { idHost = ctx.host?.hostname; }",
    "if (idHost == null) { idHost = ctx.host?.name; }",
    "t.id_host = idHost;",
    "t.id_time = t.time != null ? t.time : ctx['@timestamp'];",
])

# The leftover empty objects (ctx.destination etc. are created only when
# filled) and the _tmp scratch object go away.
CLEANUP_SCRIPT = "\n".join([
    "ctx.remove('_tmp');",
    "for (String k : ['email', 'destination']) { if (ctx[k] instanceof Map && ctx[k].isEmpty()) { ctx.remove(k); } }",
])


def build_pipeline() -> dict:
    return {
        "description": "filter-jsonlog: smtpd's delivery, expiry and bounce-report lines from the mail log, parsed into ECS (logs-opensmtpd.delivery-*)",
        "processors": [
            {"set": {"tag": "ecs-version", "field": "ecs.version", "value": generate.ECS_VERSION}},
            {"set": {"tag": "event-ingested", "field": "event.ingested", "value": "{{{_ingest.timestamp}}}"}},
            {"set": {"tag": "event-dataset", "field": "event.dataset", "value": DATASET}},
            {"set": {"tag": "event-module", "field": "event.module", "value": "opensmtpd"}},
            {
                "grok": {
                    "tag": "syslog-header",
                    "field": "message",
                    "patterns": HEADER_PATTERNS,
                }
            },
            {
                "grok": {
                    "tag": "smtpd-line",
                    "field": "_tmp.body",
                    "patterns": BODY_PATTERNS,
                    "pattern_definitions": PATTERN_DEFINITIONS,
                }
            },
            {
                "date": {
                    "tag": "time-iso",
                    "if": "ctx._tmp?.time instanceof String && ctx._tmp.time =~ /^[0-9]/",
                    "field": "_tmp.time",
                    "formats": ["ISO8601"],
                }
            },
            {
                # A BSD header has neither year nor zone: Filebeat's add_locale
                # (filebeat/*.yml) gives the zone; the year is the current one.
                "date": {
                    "tag": "time-bsd",
                    "if": "ctx._tmp?.time instanceof String && ctx._tmp.time =~ /^[A-Z]/",
                    "field": "_tmp.time",
                    "formats": ["MMM  d HH:mm:ss", "MMM d HH:mm:ss", "MMM dd HH:mm:ss"],
                    "timezone": "{{{event.timezone}}}",
                }
            },
            {
                "script": {
                    "tag": "delivery-fields",
                    "lang": "painless",
                    "description": "event.*, email.*, destination.*, source.ip, event.duration and opensmtpd.delivery.* from the captured text",
                    "source": PARSE_SCRIPT,
                }
            },
            {
                "fingerprint": {
                    "tag": "document-id",
                    "fields": ["_tmp.id_host", "_tmp.id_time", "opensmtpd.delivery.envelope_id", "email.local_id",
                               "email.to.address", "event.action", "opensmtpd.delivery.result"],
                    "target_field": "_tmp.id",
                    "method": "SHA-256",
                    "ignore_missing": True,
                }
            },
            {"set": {"tag": "set-id", "field": "_id", "copy_from": "_tmp.id"}},
            {"script": {"tag": "cleanup", "lang": "painless", "source": CLEANUP_SCRIPT}},
            {
                "script": {
                    "tag": "data-stream",
                    "lang": "painless",
                    "description": "data_stream.* from the data stream's name when the shipper did not set them",
                    "source": generate.DATA_STREAM_SCRIPT,
                }
            },
            *generate.custom_pipelines(PIPELINE_NAME),
        ],
        "on_failure": generate.on_failure({"remove": {"field": "_tmp", "ignore_missing": True}}),
        "_meta": {
            "managed_by": "filter-jsonlog",
            "ecs_version": generate.ECS_VERSION,
            "generated_by": "elasticsearch/generate_delivery.py",
        },
    }


def build_template() -> dict:
    return {
        "index_patterns": [INDEX_PATTERN],
        "data_stream": {},
        "priority": generate.PRIORITY,
        "version": VERSION,
        "allow_auto_create": True,
        "composed_of": ["logs@mappings", "logs@settings", "logs@custom", "ecs@mappings", CUSTOM_COMPONENT],
        "ignore_missing_component_templates": ["logs@custom", CUSTOM_COMPONENT],
        "template": {
            "settings": {"index.default_pipeline": PIPELINE_NAME},
            "mappings": {"properties": generate.build_properties(generate.load_fields(FIELDS))},
        },
        "_meta": {
            "description": "filter-jsonlog: smtpd's delivery lines (mda, mta, expiry, bounce reports) from the mail log",
            "managed_by": "filter-jsonlog",
            "ecs_version": generate.ECS_VERSION,
            "generated_by": "elasticsearch/generate_delivery.py from schema/delivery-fields.json",
        },
    }


def outputs() -> dict[Path, str]:
    return {TEMPLATE_OUT: generate.render(build_template()), PIPELINE_OUT: generate.render(build_pipeline())}


def main(argv: list[str]) -> int:
    return generate.write_or_check(outputs(), argv, "elasticsearch/generate_delivery.py")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
