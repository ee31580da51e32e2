use super::*;

/// A document holding `path` (dotted) with a value of `kind`, the way the
/// filter nests it (recipient lists are arrays of objects).
fn document_with(path: &str, kind: &str) -> String {
    let value = match kind {
        "long" => "1".to_string(),
        "boolean" => "true".to_string(),
        _ => "\"2026-11-25T15:00:35.000000Z\"".to_string(),
    };
    let (prefix, leaf_value) = match path {
        "email.to.address" | "opensmtpd.transaction.rcpt.envelope_ids" => {
            (path, format!("[{value}]"))
        }
        _ => (path, value),
    };
    let parts: Vec<&str> = prefix.split('.').collect();
    let mut json = leaf_value;
    for (i, part) in parts.iter().enumerate().rev() {
        let in_rcpt_list = i >= 2 && parts[i - 1] == "rcpt" && parts[i - 2] == "transaction";
        json = format!("{{\"{part}\":{json}}}");
        if in_rcpt_list {
            json = format!("[{json}]");
        }
    }
    json
}

#[test]
fn every_schema_field_is_known() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/fields.json")).unwrap();
    let fields = schema["fields"].as_array().unwrap();
    assert!(fields.len() > 50);
    for f in fields {
        let name = f["name"].as_str().unwrap();
        let kind = f["type"].as_str().unwrap();
        let json = document_with(name, kind);
        let doc = Doc::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}: {json}"));
        assert_eq!(
            doc.unknown_fields, 0,
            "{name} is not known to the report: {json}"
        );
    }
}

#[test]
fn unknown_fields_are_counted_and_named() {
    let doc = Doc::parse(
        br#"{"event":{"action":"tx-commit","colour":"red"},"opensmtpd":{"novel":{"x":1}}}"#,
    )
    .unwrap();
    assert_eq!(doc.unknown_fields, 2);
    assert_eq!(doc.unknown_field.as_deref(), Some("event.colour"));
}

#[test]
fn repeated_state_is_skipped_but_checked() {
    let doc = Doc::parse(br#"{"event":{"action":"protocol-server"},"opensmtpd":{"subsystem":"smtp-in","transaction":{"rcpt":[{"address":"a@b"}]}}}"#).unwrap();
    assert!(doc.skip_rest);
    assert!(doc.subsystem.is_none() && doc.tx.is_none());
    assert!(
        Doc::parse(br#"{"event":{"action":"protocol-server"},"opensmtpd":{"subsystem":"smt"#)
            .is_err()
    );
}

#[test]
fn transactions_borrow_unless_escaped() {
    let doc = Doc::parse(
        br#"{"event":{"action":"tx-commit","dataset":"opensmtpd.jsonlog"},"opensmtpd":{"subsystem":"smtp-in","session":{"id":"1","final":false},"transaction":{"msgid":"ab","status":"committed","mail":{"address":"s@x","result":"ok"},"rcpt":[{"address":"caf\u00e9@x","result":"ok","envelope_ids":["ab01"]},{"address":"n@y","result":"permfail"}],"rcpt_accepted":1,"rcpt_refused":1,"size":42}}}"#,
    )
    .unwrap();
    let tx = doc.tx.unwrap();
    assert_eq!(tx.size, 42);
    assert_eq!(tx.rcpt.len(), 2);
    let first = tx.rcpt[0].address.as_ref().unwrap();
    assert_eq!(first.as_str(), "café@x");
    assert!(matches!(first.0, Cow::Owned(_)));
    assert!(matches!(
        tx.rcpt[1].address.as_ref().unwrap().0,
        Cow::Borrowed(_)
    ));
    assert_eq!(tx.mail.unwrap().as_str(), "s@x");
}

#[test]
fn wrong_types_are_errors_not_panics() {
    for bad in [
        &br#"{"event":{"action":7}}"#[..],
        br#"{"opensmtpd":{"counters":{"messages":"many"}}}"#,
        br#"{"opensmtpd":{"transaction":{"rcpt":{"address":"x"}}}}"#,
        br#"[1,2]"#,
        br#"{"event":{"action":"tx-commit"}} trailing"#,
    ] {
        assert!(Doc::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}
