//! `cutover init` on the command line: read the manifests, write the
//! scenario (checked by the same validation as `cutover validate` first)
//! and the lint beside it, print what was read, linted and left unmapped.

use std::path::{Path, PathBuf};

use super::output::say;
use super::Exit;
use crate::init::generate::{self, Options};
use crate::init::k8s::Manifests;

/// The command's arguments.
pub struct Args {
    pub inputs: Vec<PathBuf>,
    pub options: Options,
    pub output: PathBuf,
    pub force: bool,
}

/// Runs `init` and returns its exit code.
pub fn init(args: Args) -> Exit {
    let lint_path = lint_path(&args.output);
    for p in [&args.output, &lint_path] {
        if p.exists() && !args.force {
            eprintln!(
                "error: {} exists: pick another --output, or add --force to replace it",
                p.display()
            );
            return Exit::Usage;
        }
    }
    let mut manifests = Manifests::default();
    let problems = crate::init::read::read(&args.inputs, &mut std::io::stdin(), &mut manifests);
    for p in &problems {
        eprintln!("{p}");
    }
    if manifests.ingresses.is_empty() {
        eprintln!("error: no Ingress was read: init turns Ingress paths into checks, so give at least one with --ingress");
        return Exit::Usage;
    }
    let generated = generate::generate(&manifests, &args.options);
    if generated.checks == 0 && generated.grpc_paths > 0 {
        eprintln!(
            "error: no check could be written: every path of these Ingresses goes to a gRPC backend (backend-protocol: GRPC), and a gRPC check needs the service's descriptor set, which no manifest holds; start from scenarios/grpc.yaml with your descriptor set (protoc --include_imports --descriptor_set_out=api.pb api.proto)"
        );
        return Exit::Usage;
    }
    // What init writes, `validate` must accept.
    if let Err(e) = crate::scenario::load_str(&generated.scenario, &args.output, &|_| None) {
        eprintln!("error: the generated scenario does not validate, which is a bug in cutover init; please report it with the manifests:\n{e}");
        return Exit::ReportWrite;
    }
    let lints = crate::init::lint::lint(&manifests);
    let report = crate::init::report::Report {
        manifests: &manifests,
        problems: &problems,
        lints: &lints,
        generated: &generated,
        scenario: &args.output,
    };
    if let Err(e) = crate::report::atomic::write(&args.output, generated.scenario.as_bytes()) {
        eprintln!("error: cannot write {}: {e}", args.output.display());
        return Exit::ReportWrite;
    }
    if let Err(e) = crate::report::atomic::write(&lint_path, report.markdown().as_bytes()) {
        eprintln!("error: cannot write {}: {e}", lint_path.display());
        return Exit::ReportWrite;
    }
    super::output::say_raw(&report.terminal());
    say!("lint: {}", lint_path.display());
    if report.fails() {
        Exit::Fail
    } else {
        Exit::Pass
    }
}

/// `scenario.yaml` → `scenario.lint.md`.
fn lint_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into());
    output.with_file_name(format!("{stem}.lint.md"))
}
