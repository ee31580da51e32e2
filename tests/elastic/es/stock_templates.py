#!/usr/bin/env python3
"""Install stand-ins for the component templates a stock Elasticsearch 8
cluster has and filter-jsonlog's index template composes: logs@mappings,
logs@settings, ecs@mappings.  Their content is Elastic's, read from the
x-pack-template-resources jar that pom.xml unpacks; only what needs X-Pack is
left out (DIFFERENCES says what, and tests/elastic/test_chain.py prints it).

    stock_templates.py URL DIR
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

TEMPLATES = ("logs@mappings", "logs@settings", "ecs@mappings")

# Every way this node differs from a stock 8.14.1 cluster with the default
# distribution, as far as filter-jsonlog's assets can tell.
DIFFERENCES = (
    "distribution: integ-test-zip (server, transport-netty4, x-pack-core, x-pack-security modules only); "
    "no ingest-common, lang-painless, ingest-geoip, data-streams, mapper-extras modules, so no ingest "
    "processor but 'pipeline' and no _data_stream API",
    "component templates logs@mappings, logs@settings, ecs@mappings: Elastic's JSON from "
    "x-pack-template-resources 8.13.0 (no 8.14 build is published), installed by hand, not by the stack "
    "template registry",
    "logs@settings without index.lifecycle.name (ILM is X-Pack) and without "
    "index.default_pipeline logs@default-pipeline (an X-Pack pipeline; our template sets its own)",
    "no built-in logs index template (logs-*-*) and no logs@custom / logs@default-pipeline",
    "constant_keyword (X-Pack) is a keyword: the mapping reads keyword, and a document whose value differs "
    "from the mapping's is not refused",
    "wildcard (X-Pack) is a keyword; match_only_text (mapper-extras) is text; "
    "scaled_float (mapper-extras) is a double",
    "GET / and HEAD / answered by a stand-in handler of ours (the rest-root module is absent), "
    "same fields as a stock node but cluster_uuid '_na_'",
    "security off (xpack.security.enabled=false), http on 127.0.0.1, single node (replicas stay unassigned: yellow)",
)


def stand_in(name: str, text: str) -> dict:
    body = json.loads(text.replace("${xpack.stack.template.version}", "1")
                      .replace("${xpack.stack.template.deprecated}", "false"))
    body.pop("deprecated", None)
    settings = body.get("template", {}).get("settings", {}).get("index", {})
    settings.pop("lifecycle", None)
    settings.pop("default_pipeline", None)
    body.setdefault("_meta", {})["stand_in"] = "filter-jsonlog tests/elastic/es: see DIFFERENCES"
    return body


def main() -> int:
    url, src = sys.argv[1].rstrip("/"), Path(sys.argv[2])
    for name in TEMPLATES:
        body = stand_in(name, (src / f"{name}.json").read_text())
        req = urllib.request.Request(f"{url}/_component_template/{name}", method="PUT",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as resp:
                print(f"PUT _component_template/{name}: {resp.status}")
        except urllib.error.HTTPError as e:
            print(f"PUT _component_template/{name}: {e.code} {e.read().decode(errors='replace')}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
