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

/// Runs `cutover validate` on `file` in `dir`, failing the test if it has not
/// ended within 20 s (a FIFO used to block it for ever).
fn validate_within_a_deadline(dir: &std::path::Path, file: &str) -> (Option<i32>, String) {
    use std::io::Read;
    let mut child = std::process::Command::new(crate::support::bin())
        .args(["validate", file])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`cutover validate {file}` still running after 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("stderr");
    (status.code(), stderr)
}

fn scenario_with_files(body_file: &str, ca: &str) -> String {
    format!(
        "host: shop.example.com\ntargets:\n  ingress:\n    connect: 127.0.0.1:8443\n    tls: {{ ca: {ca} }}\nchecks:\n  - name: create\n    http: {{ method: POST, path: /api/items, body_file: {body_file} }}\n"
    )
}

#[test]
#[cfg(unix)]
fn a_fifo_as_body_file_or_ca_is_refused_without_blocking_validate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    std::fs::write(
        dir.path().join("s.yaml"),
        scenario_with_files("pipe", "pipe"),
    )
    .expect("write");
    let (code, stderr) = validate_within_a_deadline(dir.path(), "s.yaml");
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "s.yaml:5:16: CA file `pipe` is a named pipe (FIFO), not a regular file: give the path of a file\n\
         s.yaml:8:56: body file `pipe` is a named pipe (FIFO), not a regular file: give the path of a file\n\
         2 errors in s.yaml\n"
    );
}

#[test]
fn files_over_their_size_cap_are_refused_before_they_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Sparse files: the size is what matters, and nothing is read.
    let body = std::fs::File::create(dir.path().join("big.bin")).expect("create");
    body.set_len((16 << 20) + 1).expect("grow");
    let ca = std::fs::File::create(dir.path().join("big.pem")).expect("create");
    ca.set_len((1 << 20) + 1).expect("grow");
    std::fs::write(
        dir.path().join("s.yaml"),
        scenario_with_files("big.bin", "big.pem"),
    )
    .expect("write");
    let (code, stderr) = validate_within_a_deadline(dir.path(), "s.yaml");
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "s.yaml:5:16: CA file `big.pem` is larger than 1 MiB, the most a scenario reads: use a smaller file\n\
         s.yaml:8:56: body file `big.bin` is larger than 16 MiB, the most a scenario reads: use a smaller file\n\
         2 errors in s.yaml\n"
    );
}

#[test]
fn a_body_file_at_its_size_cap_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("body.bin"), vec![b'x'; 16 << 20]).expect("write");
    std::fs::write(
        dir.path().join("s.yaml"),
        "host: shop.example.com\ntargets:\n  ingress: { connect: 127.0.0.1:8080 }\nchecks:\n  - name: create\n    http: { method: POST, path: /api/items, body_file: body.bin }\n",
    )
    .expect("write");
    let (code, stderr) = validate_within_a_deadline(dir.path(), "s.yaml");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_zero_load_duration_and_zero_workers_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (args, says) in [
        (&["run", "s.yaml", "--duration", "0s"][..], "no time at all"),
        (
            &["run", "s.yaml", "--duration", "8d"][..],
            "longer than 7 days",
        ),
        (&["run", "s.yaml", "--workers", "0"][..], "give 1 to 1024"),
        (&["demo", "--workers", "0"][..], "give 1 to 1024"),
        (
            &["run", "s.yaml", "--rate-scale", "1e9"][..],
            "largest factor",
        ),
    ] {
        let out = run_bin(dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
