"""The Elasticsearch node the Elastic tests share (tests/elastic/es/node.sh).

ES_URL names a running node (tests/run.sh starts one for the whole suite);
without it a node started by hand (node.sh start) is used, else the first
test that asks starts one and stops it at exit.  A
machine without Java or Maven skips these tests, except under CI=true, where
they fail.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import unittest
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE_SH = HERE / "es" / "node.sh"
ES_VERSION = "8.14.1"

_url: str | None = None


def url() -> str:
    """The node's URL; raises SkipTest where no node can be had and CI is not set."""
    global _url
    if _url:
        return _url
    if os.environ.get("ES_URL"):
        _url = os.environ["ES_URL"].rstrip("/")
        return _url
    missing = [t for t in ("java", "mvn", "curl") if not shutil.which(t)]
    if missing:
        why = f"no {', '.join(missing)}: cannot start Elasticsearch"
        if os.environ.get("CI") == "true":
            raise AssertionError(f"{why} (CI=true: a failure)")
        raise unittest.SkipTest(why)
    running = subprocess.run(["bash", str(NODE_SH), "url"], capture_output=True, text=True)
    if running.returncode == 0 and running.stdout.strip():
        # Somebody's node (node.sh start by hand): use it, leave it running.
        _url = running.stdout.strip().splitlines()[-1]
        return _url
    proc = subprocess.run(["bash", str(NODE_SH), "start"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"node.sh start exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    _url = proc.stdout.strip().splitlines()[-1]
    atexit.register(lambda: subprocess.run(["bash", str(NODE_SH), "stop"], capture_output=True))
    return _url


def request(method: str, path: str, body=None, ndjson: str | None = None, ok=(200, 201)):
    """-> (status, decoded JSON).  body: a JSON value; ndjson: a _bulk body."""
    data, ctype = None, "application/json"
    if ndjson is not None:
        data, ctype = ndjson.encode(), "application/x-ndjson"
    elif body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(f"{url()}/{path.lstrip('/')}", data=data, method=method,
                                 headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    out = json.loads(raw) if raw else None
    if ok and status not in ok:
        raise AssertionError(f"{method} {path}: {status} {json.dumps(out)[:2000]}")
    return status, out


def search(index: str, body: dict) -> dict:
    return request("POST", f"{index}/_search", body)[1]
