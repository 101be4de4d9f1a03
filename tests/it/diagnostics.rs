//! Golden diagnostics: each invalid scenario beside the exact error text it must produce.

use crate::support::{root, run_bin};

#[test]
fn every_invalid_scenario_prints_its_golden_errors_and_exits_2() {
    let dir = root().join("tests/fixtures/scenarios/invalid");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 12,
        "at least 12 invalid scenarios, found {}",
        cases.len()
    );
    let mut mismatches = Vec::new();
    for case in &cases {
        let rel = case.strip_prefix(root()).expect("under root");
        let expected = std::fs::read_to_string(case.with_extension("err"))
            .expect("golden .err beside the .yaml");
        let out = run_bin(&root(), &["validate", rel.to_str().expect("utf-8 path")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(2) || stderr != expected {
            mismatches.push(format!(
                "{}: exit {:?}\n--- expected\n{expected}--- got\n{stderr}",
                rel.display(),
                out.status.code()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn one_pass_reports_errors_from_every_section() {
    let golden =
        std::fs::read_to_string(root().join("tests/fixtures/scenarios/invalid/many-errors.err"))
            .expect("golden");
    // targets, defaults and three checks each contribute.
    assert!(
        golden
            .lines()
            .filter(|l| l.contains("many-errors.yaml:"))
            .count()
            >= 6
    );
}
