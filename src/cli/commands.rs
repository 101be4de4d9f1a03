//! What each subcommand does, from a parsed command to an exit code.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::{Command, Exit, OutputArgs};
use crate::lab::{Lab, LabConfig, LabPorts};
use crate::report::{self, Report, RunStatus, Verdict};
use crate::scenario::{self, Plan};
use crate::session;

/// The demo scenario, embedded so `cutover demo` works from any directory.
pub const DEMO_SCENARIO: &str = include_str!("../../scenarios/demo.yaml");
pub const DEMO_PATH: &str = "scenarios/demo.yaml";
pub const DEMO_HOST: &str = "shop.example.test";

pub async fn run(command: Command) -> Exit {
    match command {
        Command::Validate { scenario } => validate(&scenario),
        Command::Check { scenario, output } => match load(&scenario) {
            Ok(plan) => check(&plan, &output, "check").await.0,
            Err(code) => code,
        },
        Command::Lab {
            host,
            write_scenario,
            https,
            ports,
        } => lab(host, write_scenario, https, ports).await,
        Command::Demo { output } => demo(&output).await,
    }
}

fn load(path: &Path) -> Result<Plan, Exit> {
    scenario::load(path).map_err(|e| {
        eprintln!("{e}");
        if e.count() > 1 {
            eprintln!("{} errors in {}", e.count(), path.display());
        }
        Exit::Usage
    })
}

fn validate(path: &Path) -> Exit {
    match load(path) {
        Ok(plan) => {
            println!(
                "ok: {} checks, {} targets",
                plan.checks.len(),
                plan.targets.len()
            );
            Exit::Pass
        }
        Err(code) => code,
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the check pass, writes and prints the report. Returns the exit code and the report.
async fn check(plan: &Plan, output: &OutputArgs, mode: &str) -> (Exit, Option<(Report, PathBuf)>) {
    let started = SystemTime::now();
    let connectors = session::connectors(plan).await;
    let pass = session::check_pass(plan, &connectors, interrupted()).await;
    let report = session::build_report(plan, mode, &pass, started, SystemTime::now());
    let report = match report::redact(&report, &plan.secrets) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return (Exit::Usage, None);
        }
    };
    let dir = output
        .out
        .clone()
        .unwrap_or_else(|| report::run_dir(Path::new("reports"), &plan.name, started));
    if let Err(e) = report::write_all(&report, &dir) {
        eprintln!("error: {e}");
        return (Exit::Usage, None);
    }
    if let Some(junit) = &output.junit {
        if let Err(e) = report::write_junit(&report, junit) {
            eprintln!("error: {e}");
            return (Exit::Usage, None);
        }
    }
    print!("{}", report::terminal::render(&report));
    println!("report: {}", dir.display());
    let code = match (report.status, report.verdict) {
        (RunStatus::Interrupted, _) => Exit::Interrupted,
        (RunStatus::Aborted, _) => Exit::Aborted,
        (_, Verdict::Pass) => Exit::Pass,
        _ => Exit::Fail,
    };
    (code, Some((report, dir)))
}

fn lab_ports(ports: Option<Vec<u16>>) -> LabPorts {
    match ports.as_deref() {
        Some([ih, is, gh, gs]) => LabPorts {
            ingress_http: *ih,
            ingress_https: *is,
            gateway_http: *gh,
            gateway_https: *gs,
        },
        _ => LabPorts::default(),
    }
}

async fn lab(
    host: String,
    write_scenario: Option<PathBuf>,
    https: bool,
    ports: Option<Vec<u16>>,
) -> Exit {
    let mut config = LabConfig::new(host);
    config.ports = lab_ports(ports);
    let lab = match Lab::start(config).await {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("error: cannot start the lab: {e}");
            return Exit::Usage;
        }
    };
    println!("lab for host {}", lab.host);
    println!(
        "  ingress  http://{}  https://{}",
        lab.ingress_http, lab.ingress_https
    );
    println!(
        "  gateway  http://{}  https://{}",
        lab.gateway_http, lab.gateway_https
    );
    if let Some(path) = write_scenario {
        let ca_path = path.with_extension("ca.pem");
        // Written aside and renamed, so a reader never sees half a scenario.
        let tmp = path.with_extension("yaml.partial");
        let written = std::fs::write(&ca_path, &lab.ca_pem)
            .and_then(|()| std::fs::write(&tmp, lab.scenario_yaml(&ca_path, https)))
            .and_then(|()| std::fs::rename(&tmp, &path));
        match written {
            Ok(()) => println!(
                "scenario written to {} (CA in {})",
                path.display(),
                ca_path.display()
            ),
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                return Exit::Usage;
            }
        }
    }
    println!("press Ctrl-C to stop");
    interrupted().await;
    lab.shutdown().await;
    Exit::Pass
}

async fn demo(output: &OutputArgs) -> Exit {
    let lab = match Lab::start(LabConfig::new(DEMO_HOST)).await {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("error: cannot start the lab: {e}");
            return Exit::Usage;
        }
    };
    // The differences a real migration hits first; the report should show them.
    lab.switches
        .gateway_redirect_301
        .store(true, Ordering::Relaxed);
    lab.switches
        .gateway_strict_prefix
        .store(true, Ordering::Relaxed);
    let ca_file = match tempfile_with(&lab.ca_pem) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot write the lab's CA file: {e}");
            return Exit::Usage;
        }
    };
    let env = demo_env(&lab, &ca_file);
    let plan = match scenario::load_str(DEMO_SCENARIO, Path::new(DEMO_PATH), &|k| env(k)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Exit::Usage;
        }
    };
    println!(
        "lab: ingress {} / gateway {} for host {} (https {} / {})\n",
        lab.ingress_http, lab.gateway_http, lab.host, lab.ingress_https, lab.gateway_https
    );
    let (code, report) = check(&plan, output, "check").await;
    let _ = std::fs::remove_file(&ca_file);
    lab.shutdown().await;
    match (code, report) {
        (Exit::Interrupted, _) => Exit::Interrupted,
        (_, Some((report, dir))) => {
            println!(
                "\nThe demo's gateway has known differences switched on, so {} findings are expected.\nOpen {} for the summary.",
                report.findings.len(),
                dir.join("summary.md").display()
            );
            Exit::Pass
        }
        (code, None) => code,
    }
}

/// The variables `scenarios/demo.yaml` reads: the lab's addresses and CA file.
pub fn demo_env(lab: &Lab, ca_file: &Path) -> impl Fn(&str) -> Option<String> {
    let vars = [
        ("LAB_INGRESS".to_owned(), lab.ingress_http.to_string()),
        ("LAB_GATEWAY".to_owned(), lab.gateway_http.to_string()),
        ("LAB_INGRESS_TLS".to_owned(), lab.ingress_https.to_string()),
        ("LAB_GATEWAY_TLS".to_owned(), lab.gateway_https.to_string()),
        ("LAB_CA".to_owned(), ca_file.display().to_string()),
    ];
    move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

fn tempfile_with(contents: &str) -> std::io::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("cutover-lab-ca-{}.pem", std::process::id()));
    std::fs::write(&path, contents)?;
    Ok(path)
}
