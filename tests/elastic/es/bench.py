#!/usr/bin/env python3
"""What filter-jsonlog's documents cost Elasticsearch: a benchmark, not a
test (docs/benchmarks.md has its results).

    python3 tests/elastic/es/bench.py [--sessions 5000]     (ES_URL: a node; else node.sh starts one)

A generated smtp-in stream (examples/gen-stream.rs) is replayed with
--events all and with --events summaries.  Each document gets what Filebeat
adds (filebeat/filebeat.yml: host, agent, log, input, ecs, data_stream) and
what the ingest pipeline adds, made by its Python twin (tests/elastic/
test_panels.enrich), because this node cannot run the pipeline's processors
(es/README.md); GeoIP fields are those of test_panels.fake_geo.  The
documents go through _bulk (1,000 a request, one client) into a data stream
made by our index template; the rate is documents per second over the
whole load, request bodies made beforehand.  Then the data stream is force-merged to one segment and
_stats gives its bytes on disk (primaries, best_compression from
logs@settings), per document and per received mail (smtp-in tx-commit).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import esnode  # noqa: E402
import test_panels  # noqa: E402
from test_elastic import REPO, TEMPLATE  # noqa: E402

PIPELINE_ONLY = ("opensmtpd.from_domain", "opensmtpd.to_domains", "opensmtpd.rcpt_domain",
                 "opensmtpd.refused_rcpts", "opensmtpd.refused_domains")
GEO_PREFIXES = ("source.geo.", "source.as.", "destination.geo.", "destination.as.")


def put(doc: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        doc = doc.setdefault(p, {})
    doc[parts[-1]] = value


def shipped(doc: dict, n: int, path: str) -> dict:
    """The document as Filebeat would send it, plus the pipeline's additions."""
    flat = test_panels.enrich(doc, "mx1.example.org")
    out = json.loads(json.dumps(doc))
    for f, v in flat.items():
        if f in PIPELINE_ONLY or f.startswith(GEO_PREFIXES):
            put(out, f, v if f.endswith(("_domains", "_rcpts")) else v[0])
    out["host"] = {"name": "mx1.example.org", "hostname": "mx1", "architecture": "x86_64"}
    out["agent"] = {"type": "filebeat", "version": "9.3.0", "name": "mx1",
                    "id": "0d8f1a6e-5a1c-4a4c-9d6c-0a7f0b0f6a11", "ephemeral_id": "6b1f8c2e-0c1e-4f2b-8d7e-3e0f9f1a2b3c"}
    out["log"] = {"file": {"path": path, "device_id": "64769", "inode": "1234567"}, "offset": n * 600}
    out["input"] = {"type": "filestream"}
    out["ecs"] = {"version": "8.17.0"}
    out["data_stream"] = {"type": "logs", "dataset": "opensmtpd.jsonlog", "namespace": "default"}
    out["event"] = dict(out.get("event", {}), ingested=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()

    stream = Path(tempfile.mkdtemp()) / "bench.txt"
    subprocess.run(["cargo", "run", "-q", "--release", "--example", "gen-stream", "--", "--sessions",
                    str(args.sessions), "--concurrency", "50", "--version", "0.7", "--seed", "3",
                    "--output", str(stream)], cwd=REPO, check=True)
    subprocess.run(["cargo", "build", "-q", "--release", "--locked"], cwd=REPO, check=True)
    binary = REPO / "target" / "release" / "filter-jsonlog"
    esnode.request("PUT", "_index_template/logs-opensmtpd.jsonlog", json.loads(TEMPLATE.read_text()))
    esnode.request("PUT", "_ingest/pipeline/logs-opensmtpd.jsonlog", {"processors": []})
    stamp = time.strftime("%H%M%S")
    results = {}
    for preset in ("all", "summaries"):
        out = subprocess.run([str(binary), "replay", "--events", preset, str(stream)],
                             capture_output=True, check=True).stdout
        docs = [json.loads(line) for line in out.splitlines() if line.strip()]
        mails = sum(1 for d in docs if d.get("event", {}).get("action") == "tx-commit"
                    and d.get("opensmtpd", {}).get("subsystem") == "smtp-in")
        if preset == "all":
            # summaries writes no tx-commit document: the same stream's mails.
            results["mails"] = mails
        index = f"logs-opensmtpd.jsonlog-bench{preset}{stamp}"
        bodies = [shipped(d, i, "/var/log/filter-jsonlog.json") for i, d in enumerate(docs)]
        raw_bytes = sum(len(json.dumps(b)) for b in bodies)
        # The request bodies are made before the clock starts: the rate is
        # Elasticsearch's, not this script's JSON encoder's.
        requests = ["".join('{"create":{}}\n' + json.dumps(b) + "\n" for b in bodies[i:i + args.batch])
                    for i in range(0, len(bodies), args.batch)]
        t0 = time.monotonic()
        for nd in requests:
            _, answer = esnode.request("POST", f"{index}/_bulk", ndjson=nd)
            assert not answer["errors"], json.dumps([x for x in answer["items"] if x["create"].get("error")][:2])
        esnode.request("POST", f"{index}/_refresh")
        seconds = time.monotonic() - t0
        esnode.request("POST", f"{index}/_forcemerge?max_num_segments=1")
        _, stats = esnode.request("GET", f"{index}/_stats/store,docs")
        prim = stats["_all"]["primaries"]
        assert prim["docs"]["count"] == len(docs), (prim["docs"], len(docs))
        results[preset] = {"documents": len(docs), "seconds": seconds, "rate": len(docs) / seconds,
                           "store_bytes": prim["store"]["size_in_bytes"], "json_bytes": raw_bytes}
    mails = results["mails"]
    print(f"stream: {args.sessions} generated smtp-in sessions, {mails} received mails")
    print("| preset | documents | documents/s | JSON bytes/doc | on disk bytes/doc | on disk bytes/mail | GB/day per 10,000 mails/day |")
    print("|---|---|---|---|---|---|---|")
    for preset in ("all", "summaries"):
        r = results[preset]
        per_mail = r["store_bytes"] / mails
        print(f"| {preset} | {r['documents']} | {r['rate']:.0f} | {r['json_bytes'] / r['documents']:.0f} | "
              f"{r['store_bytes'] / r['documents']:.0f} | {per_mail:.0f} | {per_mail * 10_000 / 1e9:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
