//! Shipping cutover where its users run it: the completion scripts and the
//! man page from the built binary, the CI examples in `ci/` (valid YAML,
//! running a `cutover check` the real command line accepts, in step with
//! the README's excerpts), and the crate's metadata and package contents.

use std::process::{Command, Output};

use clap::Parser as _;
use serde_json::Value;

use crate::support::{bin, read, root};

fn cutover(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("binary runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8")
}

fn yaml(path: &str) -> Value {
    let text = read(&root().join(path));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"))
}

/// Every `cutover …` command in `commands` (shell lines), parsed by the
/// real command line: the CI examples cannot drift from the flags.
fn assert_cutover_commands_parse(commands: &str) -> usize {
    let mut found = 0;
    for line in commands.lines().map(str::trim) {
        let Some(args) = line.strip_prefix("cutover ") else {
            continue;
        };
        // The shell's part: a redirection, a pipe, a comment.
        let args = args.split(['>', '|', '#']).next().unwrap_or_default();
        let argv = std::iter::once("cutover").chain(args.split_whitespace());
        if let Err(e) = cutover::cli::Cli::try_parse_from(argv) {
            panic!("`{line}` is refused by cutover: {e}");
        }
        found += 1;
    }
    found
}

#[test]
fn completions_for_bash_zsh_and_fish_name_the_commands_and_their_flags() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(&cutover(&["completions", shell]));
        for command in ["check", "watch", "init", "completions"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
        // fish spells a long flag `-l junit`.
        let junit = if shell == "fish" {
            "-l junit"
        } else {
            "--junit"
        };
        assert!(script.contains(junit), "{shell} lacks {junit}");
        assert!(
            !script.contains("lab-deploy"),
            "{shell} completes a hidden command"
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error_listing_the_shells() {
    let out = cutover(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for shell in ["bash", "zsh", "fish"] {
        assert!(err.contains(shell), "{err}");
    }
}

#[test]
fn the_man_page_is_roff_that_opens_with_th_and_lists_the_exit_codes() {
    let page = stdout(&cutover(&["man"]));
    // Before `.TH` only roff's apostrophe preamble (`.ie`/`.el`) may come.
    let first = page
        .lines()
        .find(|l| !l.starts_with(".ie") && !l.starts_with(".el"))
        .expect("a page");
    assert!(first.starts_with(".TH cutover 1"), "{first}");
    assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
    assert!(page.contains("cutover\\-check(1)"), "{page}");
}

#[test]
fn man_dir_writes_a_page_per_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listed = stdout(&cutover(&[
        "man",
        "--dir",
        &dir.path().display().to_string(),
    ]));
    for page in ["cutover.1", "cutover-check.1", "cutover-init.1"] {
        let path = dir.path().join(page);
        assert!(listed.contains(&path.display().to_string()), "{listed}");
        assert!(read(&path).contains(".TH"), "{page}");
    }
}

#[test]
fn the_github_example_runs_check_with_junit_and_publishes_summary_junit_and_report() {
    let workflow = yaml("ci/github-action.yml");
    let steps = workflow["jobs"]["check"]["steps"]
        .as_array()
        .expect("jobs.check.steps");
    let runs: String = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(assert_cutover_commands_parse(&runs), 1, "{runs}");
    assert!(
        runs.contains("--junit reports/junit.xml --out reports/run"),
        "{runs}"
    );
    assert!(
        runs.contains("reports/run/summary.md >> \"$GITHUB_STEP_SUMMARY\""),
        "{runs}"
    );
    let uses = |action: &str| {
        steps
            .iter()
            .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)))
            .unwrap_or_else(|| panic!("no {action} step"))
    };
    assert_eq!(
        uses("mikepenz/action-junit-report")["with"]["report_paths"],
        "reports/junit.xml"
    );
    assert_eq!(
        uses("actions/upload-artifact")["with"]["path"],
        "reports/run/"
    );
    // The publishing steps run when the check fails (exit 1) too.
    for step in steps
        .iter()
        .skip_while(|s| s["name"] != "Check both paths")
        .skip(1)
    {
        assert_eq!(step["if"], "${{ !cancelled() }}", "{step}");
    }
}

#[test]
fn the_gitlab_example_runs_check_with_junit_and_keeps_its_reports_on_failure() {
    let ci = yaml("ci/gitlab-ci.yml");
    let job = &ci["cutover"];
    let script: Vec<&str> = job["script"]
        .as_array()
        .expect("cutover.script")
        .iter()
        .map(|l| l.as_str().expect("a script line"))
        .collect();
    assert_eq!(assert_cutover_commands_parse(&script.join("\n")), 1);
    assert!(
        script
            .iter()
            .any(|l| l.contains("--junit reports/junit.xml")),
        "{script:?}"
    );
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["reports"]["junit"], "reports/junit.xml");
    assert_eq!(artifacts["when"], "always");
    assert_eq!(artifacts["paths"][0], "reports/run/");
}

#[test]
fn the_readme_ci_excerpts_are_lines_of_the_ci_examples_and_its_commands_parse() {
    let readme = read(&root().join("README.md"));
    let section = |heading: &str| {
        let start = readme.find(heading).unwrap_or_else(|| panic!("{heading}"));
        let rest = &readme[start + heading.len()..];
        rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned()
    };
    let blocks = |text: &str, lang: &str| -> Vec<String> {
        text.split(&format!("```{lang}\n"))
            .skip(1)
            .map(|b| b[..b.find("```").expect("closed block")].to_owned())
            .collect()
    };
    let in_ci = section("## In CI");
    let yaml_blocks = blocks(&in_ci, "yaml");
    assert_eq!(yaml_blocks.len(), 2, "{in_ci}");
    for (block, file) in yaml_blocks
        .iter()
        .zip(["ci/github-action.yml", "ci/gitlab-ci.yml"])
    {
        let example = read(&root().join(file));
        for line in block.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                example.lines().any(|l| l == line),
                "README's `{line}` is not in {file}"
            );
        }
    }
    let shell = [section("## Install"), in_ci]
        .iter()
        .flat_map(|s| blocks(s, "sh"))
        .collect::<Vec<_>>()
        .join("\n");
    // check; completions ×3; man ×2.
    assert_eq!(assert_cutover_commands_parse(&shell), 6, "{shell}");
}

#[test]
fn the_crate_metadata_has_what_crates_io_needs() {
    let cargo = env!("CARGO");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
    let package = &meta["packages"][0];
    for field in [
        "description",
        "license",
        "repository",
        "readme",
        "rust_version",
    ] {
        assert!(package[field].is_string(), "{field}: {package}");
    }
    let keywords = package["keywords"].as_array().expect("keywords");
    // crates.io: at most five, each at most 20 ASCII characters.
    assert!((1..=5).contains(&keywords.len()), "{keywords:?}");
    for k in keywords {
        let k = k.as_str().expect("a keyword");
        assert!(
            k.len() <= 20 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{k}"
        );
    }
    let categories = package["categories"].as_array().expect("categories");
    assert!(
        categories.iter().any(|c| c == "command-line-utilities"),
        "{categories:?}"
    );
}

#[test]
fn the_package_keeps_the_report_schema_but_no_reports_or_bench_results() {
    let out = Command::new(env!("CARGO"))
        .args(["package", "--list", "--offline", "--allow-dirty"])
        .current_dir(root())
        .output()
        .expect("cargo package --list");
    let files = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        files
            .lines()
            .any(|f| f == "reports/schema/report.schema.json"),
        "{files}"
    );
    assert!(
        files.lines().any(|f| f == "src/cli/completions.rs"),
        "{files}"
    );
    let stray = files
        .lines()
        .filter(|f| {
            f.starts_with("bench/")
                || f.starts_with("reports/") && !f.starts_with("reports/schema/")
        })
        .collect::<Vec<_>>();
    assert!(stray.is_empty(), "{stray:?}");
}
