"""The requests Kibana sends for a Lens layer, and what its table shows from
the answers, so that Elasticsearch itself computes every panel
(tests/elastic/test_es_panels.py).

What is modelled, from Kibana's data plugin (search/aggs) and Lens:
* the layer's KQL as @kbn/es-query translates it: `f : "v"` match_phrase,
  `f : v` match, `f : *` exists, ranges, and/or/not as bool queries;
* bucket aggregations nested in the layer's columnOrder, metrics under the
  innermost bucket (count is the bucket's doc_count);
* terms: the column's size and order (a metric column: that metric as the
  `<id>-orderAgg` sub-aggregation; alphabetical: _key), `missing:
  "__missing__"` only when missingBucket is on, Lens allows it (otherBucket
  on) and the field is a string field;
* "Other": when a terms aggregation left documents out (sum_other_doc_count),
  a second request with a filters aggregation, one filter per parent bucket
  path: the parents' filters, exists(field) unless the missing bucket was asked
  for (Lens: otherBucket and missingBucket, whatever the field's type) and is
  not among the top terms, and not match_phrase of every top term;
  its doc_count shown only when above 0 (_terms_other_bucket_helper);
* date_histogram at a fixed interval (Kibana's "auto" depends on the time
  range on screen; the evaluator's is one minute), empty buckets left out;
* range with the column's ranges, empty ranges left out;
* sum, max, average, median and percentile (percentiles), unique_count (cardinality without
  precision_threshold); a metric with a KQL filter inside a filter
  aggregation.

Not modelled: the dashboard's time range filter (every test document is in
range), Lens formatting, sampling, time shifts.
"""

from __future__ import annotations

MISSING_KEY = "__missing__"
OTHER_KEY = "__other__"
METRIC_AGG = {"sum": "sum", "max": "max", "min": "min", "average": "avg", "unique_count": "cardinality"}
STRING_TYPES = {"keyword", "constant_keyword", "wildcard", "text", "match_only_text"}


# ---------------------------------------------------------------------------
# KQL -> query DSL, from the evaluator's parser's AST.

def kql_dsl(ast) -> dict:
    op = ast[0]
    if op == "and":
        return {"bool": {"filter": [kql_dsl(ast[1]), kql_dsl(ast[2])]}}
    if op == "or":
        return {"bool": {"should": [kql_dsl(ast[1]), kql_dsl(ast[2])], "minimum_should_match": 1}}
    if op == "not":
        return {"bool": {"must_not": kql_dsl(ast[1])}}
    if op == "range":
        _, field, cmp, bound = ast
        bound = int(bound) if float(bound).is_integer() else bound
        rel = {">=": "gte", ">": "gt", "<=": "lte", "<": "lt"}[cmp]
        return _should({"range": {field: {rel: bound}}})
    _, field, value, quoted = ast
    if value == "*" and not quoted:
        return _should({"exists": {"field": field}})
    if quoted:
        return _should({"match_phrase": {field: value}})
    return _should({"match": {field: value}})


def _should(q: dict) -> dict:
    return {"bool": {"should": [q], "minimum_should_match": 1}}


# ---------------------------------------------------------------------------
# A Lens layer.

class Layer:
    def __init__(self, layer: dict, field_types: dict, interval_ms: int = 60_000, size_override: int | None = None):
        self.cols = {cid: layer["columns"][cid] for cid in layer["columnOrder"]}
        self.buckets = [cid for cid, c in self.cols.items() if c["isBucketed"]]
        self.metrics = [cid for cid, c in self.cols.items() if not c["isBucketed"]]
        self.types = field_types
        self.interval_ms = interval_ms
        self.size_override = size_override

    def is_string(self, cid: str) -> bool:
        return self.types.get(self.cols[cid].get("sourceField")) in STRING_TYPES

    def sends_missing(self, cid: str) -> bool:
        p = self.cols[cid]["params"]
        return bool(p.get("otherBucket") and p.get("missingBucket")) and self.is_string(cid)

    def metric_dsl(self, cid: str) -> dict | None:
        """None for a plain count (the bucket's doc_count).  A metric with a
        filter (Lens "Filter by") is that metric inside a filter aggregation."""
        c = self.cols[cid]
        op = c["operationType"]
        if op == "count":
            inner = None
        elif op == "percentile":
            inner = {"percentiles": {"field": c["sourceField"], "percents": [c["params"]["percentile"]]}}
        elif op == "median":
            # Kibana's median aggregation is a percentiles request for 50.
            inner = {"percentiles": {"field": c["sourceField"], "percents": [50]}}
        else:
            inner = {METRIC_AGG[op]: {"field": c["sourceField"]}}
        if c.get("filter") and c["filter"].get("query", "").strip():
            from test_elastic import kql_parse
            wrapped = {"filter": kql_dsl(kql_parse(c["filter"]["query"]))}
            if inner:
                wrapped["aggs"] = {f"{cid}-metric": inner}
            return wrapped
        return inner

    def metric_value(self, cid: str, b: dict):
        c = self.cols[cid]
        dsl = self.metric_dsl(cid)
        if dsl is None:
            return b["doc_count"]
        node = b.get(cid, {})
        if "filter" in dsl:
            if "aggs" not in dsl:
                return node.get("doc_count", 0)
            node = node.get(f"{cid}-metric", {})
        if c["operationType"] in ("percentile", "median"):
            values = node.get("values", {})
            return next(iter(values.values()), None)
        if self.types.get(c.get("sourceField")) == "date" and node.get("value") is not None:
            return node.get("value_as_string")  # Kibana shows the date, not its epoch milliseconds
        return node.get("value")

    def bucket_dsl(self, cid: str) -> dict:
        c = self.cols[cid]
        op, p = c["operationType"], c.get("params", {})
        if op == "terms":
            size = self.size_override or p["size"]
            terms = {"field": c["sourceField"], "size": size}
            order_by = p.get("orderBy", {"type": "alphabetical"})
            direction = p.get("orderDirection", "desc")
            if order_by["type"] == "alphabetical":
                terms["order"] = {"_key": direction}
            elif order_by["type"] == "column" and self.cols[order_by["columnId"]]["operationType"] == "count":
                terms["order"] = {"_count": direction}
            elif order_by["type"] == "column":
                terms["order"] = {f"{cid}-orderAgg": direction}
            else:
                raise AssertionError(f"terms orderBy {order_by} not modelled")
            if self.sends_missing(cid):
                terms["missing"] = MISSING_KEY
            return {"terms": terms}
        if op == "date_histogram":
            return {"date_histogram": {"field": c["sourceField"], "fixed_interval": f"{self.interval_ms // 1000}s",
                                       "time_zone": "UTC", "min_doc_count": 1}}
        if op == "range":
            return {"range": {"field": c["sourceField"], "keyed": False,
                              "ranges": [{k: r[k] for k in ("from", "to") if r.get(k) is not None} | {"key": r["label"]}
                                         for r in p["ranges"]]}}
        raise AssertionError(f"bucket operation {op} not modelled")

    def aggs(self, level: int = 0) -> dict:
        """The aggregation tree from bucket `level` down."""
        if level == len(self.buckets):
            return {cid: dsl for cid in self.metrics if (dsl := self.metric_dsl(cid))}
        cid = self.buckets[level]
        dsl = self.bucket_dsl(cid)
        sub = self.aggs(level + 1)
        order = dsl.get("terms", {}).get("order", {})
        if f"{cid}-orderAgg" in order:
            sub[f"{cid}-orderAgg"] = self.metric_dsl(self.cols[cid]["params"]["orderBy"]["columnId"])
        if sub:
            dsl["aggs"] = sub
        return {cid: dsl}

    # -- reading answers ---------------------------------------------------

    def bucket_key(self, cid: str, b: dict):
        c = self.cols[cid]
        op = c["operationType"]
        if op == "date_histogram":
            return b["key_as_string"][:16]
        if op == "range":
            return b["key"]
        key = b["key"]
        if key == MISSING_KEY and self.sends_missing(cid):
            return MISSING_KEY
        t = self.types.get(c["sourceField"])
        if t == "boolean":
            return b["key_as_string"] == "true"
        if t in ("long", "integer", "short", "byte"):
            return int(key)
        return key

    def metric_values(self, b: dict) -> dict:
        return {cid: self.metric_value(cid, b) for cid in self.metrics}

    def rows(self, aggs: dict, level: int = 0, prefix: tuple = ()) -> list:
        """[(((cid, key), ...), {metric cid: value}, bucket)] for every leaf bucket."""
        if level == len(self.buckets):
            return [(prefix, self.metric_values(aggs), aggs)]
        cid = self.buckets[level]
        out = []
        for b in aggs[cid]["buckets"]:
            if b["doc_count"] == 0:
                continue
            out.extend(self.rows(b, level + 1, prefix + ((cid, self.bucket_key(cid, b)),)))
        return out

    def parent_filter(self, cid: str, key, bucket: dict) -> dict:
        c = self.cols[cid]
        op, field = c["operationType"], c["sourceField"]
        if op == "date_histogram":
            return {"range": {field: {"gte": bucket["key"], "lt": bucket["key"] + self.interval_ms,
                                      "format": "epoch_millis"}}}
        if op == "range":
            return {"range": {field: {k2: bucket[k] for k, k2 in (("from", "gte"), ("to", "lt")) if k in bucket}}}
        if key == MISSING_KEY:
            return {"bool": {"must_not": {"exists": {"field": field}}}}
        return {"match_phrase": {field: bucket.get("key_as_string", bucket["key"])}}

    def other_requests(self, aggs: dict) -> list:
        """[(terms column id, its level, filters aggregation, {filter key: parent keys})]:
        Kibana's second requests."""
        out = []
        for level, cid in enumerate(self.buckets):
            c = self.cols[cid]
            if c["operationType"] != "terms" or not c["params"].get("otherBucket"):
                continue
            filters, prefixes, exhaustive = {}, {}, True

            def walk(node, lvl, path, key, prefix=()):
                nonlocal exhaustive
                bcid = self.buckets[lvl]
                agg = node[bcid]
                if lvl < level:
                    for b in agg["buckets"]:
                        k = self.bucket_key(bcid, b)
                        walk(b, lvl + 1, path + [self.parent_filter(bcid, k, b)], f"{key}|{k}",
                             prefix + ((bcid, k),))
                    return
                if agg.get("sum_other_doc_count", 0) > 0:
                    exhaustive = False
                must = list(path)
                keys = [b["key"] for b in agg["buckets"]]
                # Kibana looks at the missingBucket parameter here, not at
                # whether `missing` was sent: on a number field, documents
                # without a value fall into Other.
                asked = bool(c["params"].get("otherBucket") and c["params"].get("missingBucket"))
                if not asked or MISSING_KEY in keys:
                    must.append({"exists": {"field": c["sourceField"]}})
                must_not = [{"match_phrase": {c["sourceField"]: b.get("key_as_string", b["key"])}}
                            for b in agg["buckets"] if b["key"] != MISSING_KEY]
                filters[key] = {"bool": {"filter": must, "must_not": must_not}}
                prefixes[key] = prefix

            walk(aggs, 0, [], "")
            if not exhaustive:
                body = {"filters": {"filters": filters}}
                sub = self.aggs(level + 1)
                if sub:
                    body["aggs"] = sub
                out.append((cid, level, body, prefixes))
        return out

    def other_rows(self, cid: str, level: int, answer: dict, prefixes: dict) -> list:
        """Rows of the Other buckets, under the parent keys their filter stands for."""
        out = []
        for fkey, b in answer["buckets"].items():
            if not b["doc_count"]:
                continue
            prefix = prefixes[fkey] + ((cid, OTHER_KEY),)
            out.extend(self.rows(b, level + 1, prefix))
        return out


def evaluator_key(layer: Layer, prefix: tuple, order: list | None = None) -> tuple:
    """The evaluator's key: the bucket columns in `order` (the evaluator's
    reading order) or else the minute first, then the others in column order."""
    d = dict(prefix)
    if order is not None:
        return tuple(d[cid] for cid in order)
    timed = [d[cid] for cid in layer.buckets if layer.cols[cid]["operationType"] == "date_histogram"]
    rest = [d[cid] for cid in layer.buckets if layer.cols[cid]["operationType"] != "date_histogram"]
    return tuple(timed + rest)
