//! `report --help`, the README's Report section and the man page's REPORT
//! section name the same options.

use super::bin;
use std::collections::BTreeSet;
use std::process::Command;

fn long_options(text: &str, marker: &str) -> BTreeSet<String> {
    text.match_indices(marker)
        .map(|(i, _)| {
            text[i + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect::<String>()
        })
        .filter(|name| name.len() > 1 && name != "help" && name != "version")
        .collect()
}

fn help(args: &[&str]) -> BTreeSet<String> {
    let out = Command::new(bin())
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    long_options(&String::from_utf8(out.stdout).unwrap(), "      --")
}

fn section<'a>(text: &'a str, start: &str, next: &str) -> &'a str {
    let at = text.find(start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let rest = &text[at..];
    &rest[..rest.find(next).unwrap_or(rest.len())]
}

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

#[test]
fn report_options_are_documented() {
    // The filter's options are global in clap, so they show in `report
    // --help` too; the report's own are the rest.
    let filter = help(&[]);
    let report: BTreeSet<String> = help(&["report"]).difference(&filter).cloned().collect();
    assert_eq!(
        report,
        ["format", "since", "top", "until"].map(String::from).into()
    );
    let readme = repo_file("README.md");
    let readme = long_options(section(&readme, "\n## Report\n", "\n## "), "| `--");
    assert_eq!(report, readme, "report --help vs the README's Report table");
    let man = repo_file("filter-jsonlog.8");
    let man = section(&man, ".Sh REPORT", ".Sh ");
    let mut man_options = long_options(man, ".It Fl -");
    man_options.extend(long_options(man, ", Fl -"));
    assert_eq!(
        report, man_options,
        "report --help vs REPORT in filter-jsonlog.8"
    );
}
