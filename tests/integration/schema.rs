//! The schema file against what the filter writes, and against ECS 9.4.

use crate::util::{data, documents, leaves, replay, run, streams};
use serde_json::Value;
use std::collections::HashMap;

fn schema() -> HashMap<String, String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/fields.json"))
        .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ecs() -> HashMap<String, String> {
    let text = std::fs::read_to_string(data("ecs/fields-9.4.0.csv")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("9.4.0,"))
        .filter_map(|l| {
            let cols: Vec<&str> = l.splitn(6, ',').collect();
            Some((cols.get(3)?.to_string(), cols.get(4)?.to_string()))
        })
        .collect()
}

fn type_fits(ty: &str, v: &Value) -> bool {
    match ty {
        "keyword" => v.is_string(),
        "long" => v.is_u64() || v.is_i64(),
        "boolean" => v.is_boolean(),
        "ip" => v
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        "date" => v.as_str().is_some_and(|s| {
            s.len() == 27
                && s.ends_with('Z')
                && s.as_bytes()[10] == b'T'
                && s.as_bytes()[19] == b'.'
        }),
        _ => false,
    }
}

#[test]
fn schema_names_follow_ecs() {
    let ecs = ecs();
    assert!(ecs.len() > 1000, "ECS list read");
    for (name, ty) in schema() {
        match ecs.get(&name) {
            Some(ecs_ty) => assert_eq!(&ty, ecs_ty, "{name}: ECS says {ecs_ty}"),
            None => assert!(
                name.starts_with("opensmtpd."),
                "{name} is neither ECS nor under opensmtpd.*"
            ),
        }
        assert!(!ecs.contains_key(&name) || !name.starts_with("opensmtpd."));
    }
}

#[test]
fn every_emitted_field_is_in_the_schema_with_its_type() {
    let schema = schema();
    let mut seen = std::collections::HashSet::new();
    let mut outputs: Vec<Vec<u8>> = streams().iter().map(|s| replay(s)).collect();
    // Markers that captured streams rarely show.
    let odd = b"report|0.10|1.0|smtp-in|link-teleport|0000000000000009|x\n\
report|0.7|2.0|smtp-in|link-identify|0000000000000009|HELO|\xff\n\
report|0.7|3.0|smtp-in|protocol-client|0000000000000009|HELO a\n";
    outputs.push(run(&["replay"], odd).stdout);
    let mut big = Vec::new();
    big.extend_from_slice(b"report|0.7|1.0|smtp-in|tx-begin|000000000000000a|00000001\n");
    for i in 0..300 {
        big.extend_from_slice(
            format!(
                "report|0.7|1.0|smtp-in|tx-rcpt|000000000000000a|00000001|ok|r{i}@example.org\n"
            )
            .as_bytes(),
        );
    }
    outputs.push(run(&["replay", "--idle-timeout", "1"], &big).stdout);
    for out in outputs {
        for doc in documents(&out) {
            for (path, value) in leaves(&doc) {
                let ty = schema
                    .get(&path)
                    .unwrap_or_else(|| panic!("{path} is not in schema/fields.json"));
                assert!(type_fits(ty, &value), "{path}: {value} is not a {ty}");
                seen.insert(path);
            }
        }
    }
    // The replays above reach most of the schema; what they cannot reach
    // (metrics, expiry, eviction) is covered by other tests.
    let unseen: Vec<&String> = schema
        .keys()
        .filter(|k| !seen.contains(*k) && !k.starts_with("opensmtpd.jsonlog."))
        .collect();
    assert!(
        unseen.len() <= 12,
        "schema fields never written: {unseen:?}"
    );
}
