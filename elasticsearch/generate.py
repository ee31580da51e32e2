#!/usr/bin/env python3
"""Generate the Elasticsearch assets of filter-jsonlog from the field lists.

    python3 elasticsearch/generate.py           # rewrite the JSON files
    python3 elasticsearch/generate.py --check   # exit 1 if they are stale

Inputs (the only sources of truth):
  schema/fields.json                  every field the filter writes, with its type
  elasticsearch/pipeline-fields.json  every field the ingest pipeline adds
  elasticsearch/shipper-fields.json   the fields Filebeat adds that the dashboards use

Outputs (committed; tests/elastic checks that they match this script):
  elasticsearch/index-template.json   body of PUT _index_template/logs-opensmtpd.jsonlog
  elasticsearch/ingest-pipeline.json  body of PUT _ingest/pipeline/logs-opensmtpd.jsonlog

Python 3 standard library only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

SCHEMA = REPO / "schema" / "fields.json"
PIPELINE_FIELDS = HERE / "pipeline-fields.json"
SHIPPER_FIELDS = HERE / "shipper-fields.json"
TEMPLATE_OUT = HERE / "index-template.json"
PIPELINE_OUT = HERE / "ingest-pipeline.json"

DATASET = "opensmtpd.jsonlog"
TEMPLATE_NAME = f"logs-{DATASET}"
PIPELINE_NAME = f"logs-{DATASET}"
INDEX_PATTERN = f"logs-{DATASET}-*"
CUSTOM_COMPONENT = f"logs-{DATASET}@custom"
ECS_VERSION = "9.4.0"
# Bumped whenever the template or the pipeline changes in a way a loaded copy
# should be replaced for (GET _index_template shows which one a cluster has).
VERSION = 3
# Above the built-in "logs" template (priority 100, pattern logs-*-*).
PRIORITY = 200
# The ECS default for keyword fields; longer values are kept in _source but
# not indexed (a keyword term longer than 32766 bytes would reject the document).
IGNORE_ABOVE = 1024

GEO_PROPERTIES = [
    "continent_name",
    "country_iso_code",
    "country_name",
    "region_iso_code",
    "region_name",
    "city_name",
    "location",
]


def load_fields(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["fields"]


def all_fields() -> list[dict]:
    """Schema, pipeline, then shipper fields (names are unique across all three)."""
    return load_fields(SCHEMA) + load_fields(PIPELINE_FIELDS) + load_fields(SHIPPER_FIELDS)


# Mail addresses are case-insensitive in practice (the domain always, the
# local part at nearly every site): indexed lower case, as the pipeline's
# domain fields are, "Bob@Example.org" and "bob@example.org" are one row of
# the address panels and one value of the address controls.  _source keeps
# what the client sent.
LOWERCASE = ("email.from.address", "email.to.address", "opensmtpd.rcpt.address", "opensmtpd.refused_rcpts",
             "opensmtpd.transaction.mail.address", "opensmtpd.transaction.rcpt.address")
# A date field keeps milliseconds; the session's start keeps the filter's
# microseconds in date_nanos (its 2262 upper bound is no concern here).
MAPPING_TYPE = {"opensmtpd.session.start": "date_nanos"}


def leaf_mapping(name: str, es_type: str) -> dict:
    es_type = MAPPING_TYPE.get(name, es_type)
    if es_type == "keyword":
        out = {"type": "keyword", "ignore_above": IGNORE_ABOVE}
        if name in LOWERCASE:
            out["normalizer"] = "lowercase"
        return out
    return {"type": es_type}


def build_properties(fields: list[dict]) -> dict:
    """Dotted names -> nested "properties" objects, sorted for stable output."""
    root: dict = {}
    for field in fields:
        parts = field["name"].split(".")
        node = root
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {"properties": {}})
            if "properties" not in child:
                raise ValueError(f"{'.'.join(parts[: i + 1])} is both a leaf and an object")
            node = child["properties"]
        leaf = parts[-1]
        if leaf in node:
            raise ValueError(f"{field['name']} is mapped twice, or is both a leaf and an object")
        node[leaf] = leaf_mapping(field["name"], field["type"])
    return sort_properties(root)


def sort_properties(node: dict) -> dict:
    out = {}
    for key in sorted(node):
        value = node[key]
        if "properties" in value:
            out[key] = {"properties": sort_properties(value["properties"])}
        else:
            out[key] = value
    return out


def build_template() -> dict:
    return {
        "index_patterns": [INDEX_PATTERN],
        "data_stream": {},
        "priority": PRIORITY,
        "version": VERSION,
        # The built-in logs template has it too: without it, a cluster with
        # action.auto_create_index restricted refuses to create the data
        # stream on Filebeat's first write.
        "allow_auto_create": True,
        "composed_of": [
            "logs@mappings",
            "logs@settings",
            "logs@custom",
            "ecs@mappings",
            CUSTOM_COMPONENT,
        ],
        "ignore_missing_component_templates": ["logs@custom", CUSTOM_COMPONENT],
        "template": {
            "settings": {"index.default_pipeline": PIPELINE_NAME},
            "mappings": {"properties": build_properties(all_fields())},
        },
        "_meta": {
            "description": "filter-jsonlog: OpenSMTPD session documents (one per report event) and the filter's self-metrics",
            "managed_by": "filter-jsonlog",
            "ecs_version": ECS_VERSION,
            "generated_by": "elasticsearch/generate.py from schema/fields.json and elasticsearch/pipeline-fields.json",
        },
    }


# Painless: the domain part of the sender, of every accepted recipient and of
# the RCPT TO of a tx-rcpt document, lower case.  Only java.lang.String
# methods from Painless's allow-list are used (lastIndexOf, substring,
# length, toLowerCase).
DOMAIN_SCRIPT = "\n".join(
    [
        "String domainOf(def address) {",
        "  if (address instanceof String) {",
        "    String s = (String) address;",
        "    int at = s.lastIndexOf('@');",
        "    if (at >= 0 && at + 1 < s.length()) {",
        "      return s.substring(at + 1).toLowerCase();",
        "    }",
        "  }",
        "  return null;",
        "}",
        "if (ctx.opensmtpd instanceof Map) {",
        "  String sender = domainOf(ctx.email?.from?.address);",
        "  if (sender != null) {",
        "    ctx.opensmtpd.from_domain = sender;",
        "  }",
        "  def recipients = ctx.email?.to?.address;",
        "  if (recipients instanceof List) {",
        "    List domains = new ArrayList();",
        "    for (def a : recipients) {",
        "      String d = domainOf(a);",
        "      if (d != null && !domains.contains(d)) {",
        "        domains.add(d);",
        "      }",
        "    }",
        "    if (!domains.isEmpty()) {",
        "      ctx.opensmtpd.to_domains = domains;",
        "    }",
        "  }",
        "  String rcpt = domainOf(ctx.opensmtpd.rcpt?.address);",
        "  if (rcpt != null) {",
        "    ctx.opensmtpd.rcpt_domain = rcpt;",
        "  }",
        "  def tx = ctx.opensmtpd.transaction;",
        "  if (tx instanceof Map && tx.rcpt instanceof List) {",
        "    List refused = new ArrayList();",
        "    List refusedDomains = new ArrayList();",
        "    for (def r : tx.rcpt) {",
        "      if (r instanceof Map && r.result instanceof String && r.result != 'ok' && r.address instanceof String) {",
        "        if (!refused.contains(r.address)) {",
        "          refused.add(r.address);",
        "        }",
        "        String d = domainOf(r.address);",
        "        if (d != null && !refusedDomains.contains(d)) {",
        "          refusedDomains.add(d);",
        "        }",
        "      }",
        "    }",
        "    if (!refused.isEmpty()) {",
        "      ctx.opensmtpd.refused_rcpts = refused;",
        "    }",
        "    if (!refusedDomains.isEmpty()) {",
        "      ctx.opensmtpd.refused_domains = refusedDomains;",
        "    }",
        "  }",
        "}",
    ]
)

SMTP_IN = "ctx.opensmtpd?.subsystem == 'smtp-in' && ctx.source?.ip != null"
SMTP_OUT = "ctx.opensmtpd?.subsystem == 'smtp-out' && ctx.destination?.ip != null"

# What the geography panels show for a remote party GeoLite2 has no entry
# for: private (RFC 1918, fc00::/7), loopback, link-local, CGNAT
# (100.64.0.0/10) and unannounced addresses.  Without it those sessions drop
# out of every country panel, among them the internal senders of
# "Plaintext sessions by country".
NO_GEOIP = "(no GeoIP: private or unknown)"

# The deterministic _id: Filebeat delivers at least once, and a line sent
# again after a restart or a lost registry must meet its first copy (a
# version conflict on create) instead of becoming a second document.  A
# session document is unique by host, subsystem, session id and event
# sequence; a self-metrics document by host, action and timestamp.  Lines
# that were not JSON (no event.action) keep Elasticsearch's own id.
DOCUMENT_ID_SCRIPT = "\n".join(
    [
        "def host = ctx.host?.name;",
        "def action = ctx.event?.action;",
        "if (action instanceof String) {",
        "  String key = null;",
        "  def sid = ctx.opensmtpd?.session?.id;",
        "  def seq = ctx.event?.sequence;",
        "  if (sid != null && seq != null) {",
        "    key = 'session|' + host + '|' + ctx.opensmtpd.subsystem + '|' + sid + '|' + seq;",
        "  } else if (ctx.event?.kind == 'metric') {",
        "    key = 'metric|' + host + '|' + action + '|' + ctx['@timestamp'];",
        "  }",
        "  if (key != null) {",
        "    ctx._id = key.sha256();",
        "  }",
        "}",
    ]
)

# data_stream.* always from the data stream the document is written to
# (logs-<dataset>-<namespace>): the fields are constant_keyword, and a
# shipper's add_fields naming another stream than its output (a namespace
# changed in one place only) would get every document rejected.
DATA_STREAM_SCRIPT = "\n".join(
    [
        "if (ctx._index instanceof String) {",
        "  String name = (String) ctx._index;",
        "  int first = name.indexOf('-');",
        "  int last = name.lastIndexOf('-');",
        "  if (first > 0 && last > first + 1 && last + 1 < name.length()) {",
        "    if (!(ctx.data_stream instanceof Map)) {",
        "      ctx.data_stream = new HashMap();",
        "    }",
        "    ctx.data_stream.type = name.substring(0, first);",
        "    ctx.data_stream.dataset = name.substring(first + 1, last);",
        "    ctx.data_stream.namespace = name.substring(last + 1);",
        "  }",
        "}",
    ]
)


def no_geoip(side: str, cond: str) -> list[dict]:
    """The label in the country and AS organisation fields when GeoLite2 had nothing."""
    return [
        {
            "set": {
                "tag": f"{side}-no-geoip",
                "if": f"{cond} && ctx.{side}?.geo?.country_name == null",
                "field": f"{side}.geo.country_name",
                "value": NO_GEOIP,
            }
        },
        {
            "set": {
                "tag": f"{side}-no-asn",
                "if": f"{cond} && ctx.{side}?.as?.organization?.name == null",
                "field": f"{side}.as.organization.name",
                "value": NO_GEOIP,
            }
        },
    ]


def custom_pipelines(name: str) -> list[dict]:
    """The hooks a user's own processors go in (as Elastic's integrations
    have them): logs@custom for every logs data stream, then the dataset's."""
    return [
        {"pipeline": {"tag": "logs-custom", "name": "logs@custom", "ignore_missing_pipeline": True}},
        {"pipeline": {"tag": "dataset-custom", "name": f"{name}@custom", "ignore_missing_pipeline": True}},
    ]


def on_failure(*more: dict) -> list[dict]:
    """A document a processor fails on is kept, marked and explained."""
    return [
        {"set": {"field": "event.kind", "value": "pipeline_error"}},
        {
            "append": {
                "field": "error.message",
                "value": "{{{_ingest.on_failure_processor_type}}} {{{_ingest.on_failure_processor_tag}}}: {{{_ingest.on_failure_message}}}",
            }
        },
        *more,
    ]


def build_pipeline() -> dict:
    def append(field: str, source: str, subsystem: str) -> dict:
        # Only the remote party: our own address and HELO name would be on
        # every document and match every search.
        cond = f"ctx.opensmtpd?.subsystem == '{subsystem}' && ctx." + source.replace(".", "?.") + " != null"
        return {
            "append": {
                "tag": f"{field}-from-{source}",
                "if": cond,
                "field": field,
                "value": "{{{" + source + "}}}",
                "allow_duplicates": False,
            }
        }

    return {
        "description": "filter-jsonlog: enrich OpenSMTPD session documents (ECS version, ingest time, GeoIP/ASN of smtp-in clients and smtp-out servers, related.*, sender, recipient and refused-recipient domains, data_stream.*)",
        "processors": [
            {"set": {"tag": "ecs-version", "field": "ecs.version", "value": ECS_VERSION}},
            {"set": {"tag": "event-ingested", "field": "event.ingested", "value": "{{{_ingest.timestamp}}}"}},
            {
                "geoip": {
                    "tag": "source-geo",
                    "if": SMTP_IN,
                    "field": "source.ip",
                    "target_field": "source.geo",
                    "database_file": "GeoLite2-City.mmdb",
                    "properties": GEO_PROPERTIES,
                    "ignore_missing": True,
                }
            },
            {
                "geoip": {
                    "tag": "source-as",
                    "if": SMTP_IN,
                    "field": "source.ip",
                    "target_field": "source.as",
                    "database_file": "GeoLite2-ASN.mmdb",
                    "properties": ["asn", "organization_name"],
                    "ignore_missing": True,
                }
            },
            {
                "rename": {
                    "tag": "source-as-number",
                    "field": "source.as.asn",
                    "target_field": "source.as.number",
                    "ignore_missing": True,
                }
            },
            {
                "rename": {
                    "tag": "source-as-organization",
                    "field": "source.as.organization_name",
                    "target_field": "source.as.organization.name",
                    "ignore_missing": True,
                }
            },
            {
                "geoip": {
                    "tag": "destination-geo",
                    "if": SMTP_OUT,
                    "field": "destination.ip",
                    "target_field": "destination.geo",
                    "database_file": "GeoLite2-City.mmdb",
                    "properties": GEO_PROPERTIES,
                    "ignore_missing": True,
                }
            },
            {
                "geoip": {
                    "tag": "destination-as",
                    "if": SMTP_OUT,
                    "field": "destination.ip",
                    "target_field": "destination.as",
                    "database_file": "GeoLite2-ASN.mmdb",
                    "properties": ["asn", "organization_name"],
                    "ignore_missing": True,
                }
            },
            {
                "rename": {
                    "tag": "destination-as-number",
                    "field": "destination.as.asn",
                    "target_field": "destination.as.number",
                    "ignore_missing": True,
                }
            },
            {
                "rename": {
                    "tag": "destination-as-organization",
                    "field": "destination.as.organization_name",
                    "target_field": "destination.as.organization.name",
                    "ignore_missing": True,
                }
            },
            *no_geoip("source", SMTP_IN),
            *no_geoip("destination", SMTP_OUT),
            append("related.ip", "source.ip", "smtp-in"),
            append("related.hosts", "source.domain", "smtp-in"),
            append("related.hosts", "opensmtpd.helo.name", "smtp-in"),
            append("related.user", "user.name", "smtp-in"),
            append("related.ip", "destination.ip", "smtp-out"),
            append("related.hosts", "destination.domain", "smtp-out"),
            append("related.hosts", "opensmtpd.greeting", "smtp-out"),
            {
                "convert": {
                    "tag": "reply-code",
                    "description": "opensmtpd.response_code as a keyword, for panels that must show replies without a code",
                    "field": "opensmtpd.response_code",
                    "target_field": "opensmtpd.reply_code",
                    "type": "string",
                    "ignore_missing": True,
                }
            },
            {
                "script": {
                    "tag": "mail-domains",
                    "lang": "painless",
                    "description": "opensmtpd.from_domain, opensmtpd.to_domains, opensmtpd.rcpt_domain, opensmtpd.refused_rcpts, opensmtpd.refused_domains",
                    "source": DOMAIN_SCRIPT,
                }
            },
            {
                "script": {
                    "tag": "data-stream",
                    "lang": "painless",
                    "description": "data_stream.* from the name of the data stream the document is written to",
                    "source": DATA_STREAM_SCRIPT,
                }
            },
            {
                "script": {
                    "tag": "document-id",
                    "lang": "painless",
                    "description": "_id from host, subsystem, session id and event sequence (metric documents: host, action, timestamp), so that a line delivered twice is one document",
                    "source": DOCUMENT_ID_SCRIPT,
                }
            },
            *custom_pipelines(PIPELINE_NAME),
        ],
        "on_failure": on_failure(),
        "_meta": {
            "managed_by": "filter-jsonlog",
            "ecs_version": ECS_VERSION,
            "generated_by": "elasticsearch/generate.py",
        },
    }


def render(obj: dict) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=True) + "\n"


def outputs() -> dict[Path, str]:
    return {TEMPLATE_OUT: render(build_template()), PIPELINE_OUT: render(build_pipeline())}


def write_or_check(outputs: dict[Path, str], argv: list[str], command: str) -> int:
    """Writes the generated files, or with --check says which are stale
    (the tests run it so: a hand edit of a generated file fails them)."""
    check = "--check" in argv
    stale = []
    for path, text in outputs.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    if check and stale:
        for path in stale:
            print(f"stale: {path.relative_to(REPO)} (run python3 {command})", file=sys.stderr)
        return 1
    for path in stale:
        print(f"wrote {path.relative_to(REPO)}")
    return 0


def main(argv: list[str]) -> int:
    return write_or_check(outputs(), argv, "elasticsearch/generate.py")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
