//! The man page, the README and `--help` name the same options.

use crate::util::bin;
use std::collections::BTreeSet;
use std::process::Command;

fn long_options(text: &str, marker: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices(marker) {
        let rest = &text[i + marker.len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        if name.len() > 1 && name != "help" && name != "version" {
            found.insert(name);
        }
    }
    found
}

fn help() -> String {
    let out = Command::new(bin()).arg("--help").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// `text` without the section from `start` to the next `next` (the
/// `report` subcommand documents its own options there).
fn without_section(text: &str, start: &str, next: &str) -> String {
    match text.find(start) {
        Some(at) => {
            let rest = &text[at + start.len()..];
            let end = rest.find(next).map_or(text.len(), |e| at + start.len() + e);
            format!("{}{}", &text[..at], &text[end..])
        }
        None => text.to_string(),
    }
}

#[test]
fn man_page_and_help_agree() {
    let help = long_options(&help(), "      --");
    assert!(help.len() >= 14, "{help:?}");
    let man = without_section(&repo_file("filter-jsonlog.8"), ".Sh REPORT", ".Sh ");
    let man = long_options(&man, ".It Fl -");
    assert_eq!(help, man, "options in --help vs .It Fl in filter-jsonlog.8");
}

#[test]
fn readme_and_help_agree() {
    let help = long_options(&help(), "      --");
    let readme = without_section(&repo_file("README.md"), "\n## Report\n", "\n## ");
    let readme = long_options(&readme, "| `--");
    assert_eq!(
        help, readme,
        "options in --help vs the README's option table"
    );
}

#[test]
fn man_page_lints_clean() {
    let Ok(out) = Command::new("mandoc")
        .args(["-T", "lint", "-W", "warning"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("filter-jsonlog.8"))
        .output()
    else {
        // mandoc is not on every development machine; CI installs it.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have mandoc"
        );
        eprintln!("SKIPPED man_page_lints_clean: mandoc is not installed");
        return;
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The README's example document is what the binary writes, not a drawing of
/// it: line 313 of the captured stream's replay, field for field.
#[test]
fn readme_example_document_is_what_the_binary_writes() {
    let readme = repo_file("README.md");
    let begin = "<!-- example-document:begin -->\n```json\n";
    let start = readme.find(begin).expect("README has the example block") + begin.len();
    let end = start + readme[start..].find("```").expect("the block ends");
    let shown: serde_json::Value = serde_json::from_str(&readme[start..end]).unwrap();
    let written = crate::util::replay(&crate::util::data("captured/debian-6.8.0p2-smtp-in.txt"));
    let line = written.split(|b| *b == b'\n').nth(312).expect("313 lines");
    let doc: serde_json::Value = serde_json::from_slice(line).unwrap();
    assert_eq!(shown, doc, "README's example vs line 313 of the replay");
}

/// Every file the README links to or names by its path is in the repository.
#[test]
fn readme_names_only_files_that_exist() {
    let readme = repo_file("README.md");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tops = [
        "src/",
        "tests/",
        "docs/",
        "examples/",
        "schema/",
        "elasticsearch/",
        "filebeat/",
        "dashboards/",
        "debian/",
        "benches/",
        "fuzz/",
        ".ci/",
    ];
    let mut missing = Vec::new();
    for piece in readme.split(['(', ')', '`', ' ', '\n', '"', '\'']) {
        let path = piece.trim_end_matches([',', '.', ':', ';']);
        let path = path.split('#').next().unwrap_or(path);
        if !tops.iter().any(|t| path.starts_with(t)) || path.contains(['*', '<', '{', '$']) {
            continue;
        }
        if !root.join(path).exists() {
            missing.push(path.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "README names files not in the repository: {missing:?}"
    );
}
