//! What each subcommand does, from a parsed command to an exit code.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::progress::Progress;
use super::{Command, Exit, LoadArgs, OutputArgs};
use crate::lab::{Lab, LabConfig, LabPorts};
use crate::load::engine::{self, Options};
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
            Ok(plan) => check(&plan, &output, None).await.0,
            Err(code) => code,
        },
        Command::Run {
            scenario,
            output,
            load: args,
        } => match load(&scenario) {
            Ok(plan) if plan.load.is_none() => {
                eprintln!(
                    "{}: the scenario has no `load:` section: add one (for example `load: {{ stages: [{{rate: 50/s, for: 1m}}] }}`) or use `cutover check`",
                    scenario.display()
                );
                Exit::Usage
            }
            Ok(plan) => check(&plan, &output, Some(&args)).await.0,
            Err(code) => code,
        },
        Command::Lab {
            host,
            write_scenario,
            https,
            ports,
            stall,
        } => lab(host, write_scenario, https, ports, stall).await,
        Command::Demo { output, load } => demo(&output, &load).await,
        Command::Mark { name, marks } => mark(&name, &marks),
        Command::LabDeploy { addr, ms } => {
            crate::target::init_tls();
            let url = format!("http://{addr}/__lab/deploy?ms={ms}");
            let sent = match reqwest::Client::builder().no_proxy().build() {
                Ok(c) => c
                    .post(&url)
                    .header("host", DEMO_HOST)
                    .send()
                    .await
                    .map(|r| r.status()),
                Err(e) => Err(e),
            };
            match sent {
                Ok(s) if s.is_success() => Exit::Pass,
                Ok(s) => {
                    eprintln!("error: the lab answered {s}");
                    Exit::Fail
                }
                Err(e) => {
                    eprintln!("error: cannot reach the lab at {addr}: {e}");
                    Exit::Fail
                }
            }
        }
        Command::Dns { scenario, output } => match load(&scenario) {
            Ok(mut plan) => {
                plan.checks
                    .retain(|c| matches!(c.probe, crate::scenario::plan::ProbeSpec::Dns(_)));
                if plan.checks.is_empty() {
                    eprintln!("{}: the scenario has no `dns:` check", scenario.display());
                    return Exit::Usage;
                }
                plan.load = None;
                check(&plan, &output, None).await.0
            }
            Err(code) => code,
        },
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

/// Runs the check pass (and the load, with `load_args`), writes and prints
/// the report. Returns the exit code and the report.
async fn check(
    plan: &Plan,
    output: &OutputArgs,
    load_args: Option<&LoadArgs>,
) -> (Exit, Option<(Report, PathBuf)>) {
    let started = SystemTime::now();
    let connectors = session::connectors(plan).await;
    // One signal listener for the whole run: it flips `stop`, which every phase watches.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = std::sync::Arc::new(stop_tx);
    let signals = {
        let stop_tx = std::sync::Arc::clone(&stop_tx);
        tokio::spawn(async move {
            interrupted().await;
            let _ = stop_tx.send(true);
        })
    };
    let mut stop = stop_rx.clone();
    let pass = session::check_pass(plan, &connectors, async move {
        let _ = stop.wait_for(|s| *s).await;
    })
    .await;
    let mode = if load_args.is_some() { "run" } else { "check" };
    let mut report = session::build_report(plan, mode, &pass, started, SystemTime::now());
    if let (Some(args), Some(load), false) = (load_args, &plan.load, pass.interrupted) {
        let options = Options {
            rate_scale: args.rate_scale,
            duration: args.duration,
            workers: args.workers.unwrap_or_else(|| Options::default().workers),
            ..Options::default()
        };
        let shape =
            crate::load::schedule::Shape::new(&load.stages, options.rate_scale, options.duration);
        let names: Vec<(usize, String)> = load
            .targets
            .iter()
            .map(|&t| (t, plan.targets[t].name.clone()))
            .collect();
        println!(
            "load: {} across {} targets for {}",
            describe_stages(&shape),
            names.len(),
            humantime::format_duration(shape.total())
        );
        let mut progress = Progress::new(&names, plan.checks.len(), shape);
        // DNS checks sample again during the load: the split over time.
        let (dns_stop, dns_stop_rx) = tokio::sync::watch::channel(false);
        let dns_task = {
            let (plan, addrs) = (plan.clone(), pass.target_addrs.clone());
            let started = tokio::time::Instant::now();
            tokio::spawn(async move {
                session::dns_over_time(&plan, &addrs, started, dns_stop_rx).await
            })
        };
        let events_task = {
            let plan = plan.clone();
            let started = tokio::time::Instant::now();
            let stop = dns_stop.subscribe();
            let natural = crate::load::schedule::Shape::new(&load.stages, 1.0, None).total();
            let stretch = match options.duration {
                Some(d) if !natural.is_zero() => d.as_secs_f64() / natural.as_secs_f64(),
                _ => 1.0,
            };
            tokio::spawn(async move { session::run_events(&plan, started, stretch, stop).await })
        };
        // The abort rail: a target whose errors (transport + 5xx) stay above the
        // ratio for `for` seconds stops the load.
        let mut aborted: Option<String> = None;
        let mut breach: Vec<u64> = vec![0; plan.targets.len()];
        let abort = plan.analysis.abort;
        let checks = plan.checks.len();
        let marks_task = {
            let stop = dns_stop.subscribe();
            tokio::spawn(watch_marks(args.marks.clone(), SystemTime::now(), stop))
        };
        println!(
            "marks: `cutover mark NAME` adds an event (file {})",
            args.marks.display()
        );
        let outcome = engine::run(plan, load, &connectors, &options, stop_rx, |done, agg| {
            progress.second(done, agg);
            let Some((max, hold)) = abort else { return };
            for &ti in &load.targets {
                let (mut req, mut bad) = (0u64, 0u64);
                for b in done.buckets[ti * checks..(ti + 1) * checks]
                    .iter()
                    .flatten()
                {
                    req += b.requests;
                    bad += b.errors + b.server_errors();
                }
                let over = req > 0 && bad as f64 / req as f64 > max;
                breach[ti] = if over { breach[ti] + 1 } else { 0 };
                if aborted.is_none() && breach[ti] >= hold.as_secs().max(1) {
                    aborted = Some(format!(
                        "{}: errors above {:.1} % for {} s (second {}: {bad} of {req})",
                        plan.targets[ti].name,
                        100.0 * max,
                        breach[ti],
                        done.second
                    ));
                    let _ = stop_tx.send(true);
                }
            }
        })
        .await;
        progress.finish();
        let _ = dns_stop.send(true);
        let dns_series = dns_task.await.unwrap_or_default();
        let mut events = events_task.await.unwrap_or_default();
        events.extend(marks_task.await.unwrap_or_default());
        events.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        session::add_load(&mut report, plan, load, &outcome, options.workers);
        if let Some(l) = report.load.as_mut() {
            l.dns = dns_series;
            l.events = events;
        }
        session::event_findings(&mut report, plan, &outcome);
        session::threshold_findings(&mut report, plan);
        if let Some(base) = &args.baseline {
            if let Err(e) = session::baseline_findings(&mut report, plan, base) {
                eprintln!("error: {e}");
                return (Exit::Usage, None);
            }
        }
        if let Some(reason) = aborted {
            report.status = RunStatus::Aborted;
            report.verdict = Verdict::Fail;
            report.findings.push(crate::analyze::Finding {
                kind: "aborted".into(),
                severity: crate::analyze::Severity::Error,
                check: "load".into(),
                target: None,
                message: format!("the load was stopped by the abort threshold: {reason}"),
                hint: None,
            });
        }
        report.ended_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        report.duration_ms = SystemTime::now()
            .duration_since(started)
            .unwrap_or_default()
            .as_millis() as u64;
    }
    signals.abort();
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

/// Appends one mark to the marks file (one JSON object a line).
fn mark(name: &str, path: &Path) -> Exit {
    use std::io::Write as _;
    let at = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let line = serde_json::json!({ "name": name, "at_unix_ms": at }).to_string();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"));
    match written {
        Ok(()) => {
            println!("marked `{name}` in {}", path.display());
            Exit::Pass
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            Exit::Usage
        }
    }
}

/// Watches the marks file from its current end until `stop`; returns the marks
/// as events, timed from `started` (a wall-clock time, as marks carry).
async fn watch_marks(
    path: PathBuf,
    started: SystemTime,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<crate::report::model::EventRecord> {
    let mut offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut out = Vec::new();
    let started_ms = started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0);
    loop {
        let done = tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(200)) => false,
            _ = stop.changed() => true,
        };
        if let Ok(bytes) = std::fs::read(&path) {
            let len = bytes.len() as u64;
            if len < offset {
                offset = 0; // truncated: start over
            }
            let new = &bytes[offset as usize..];
            // Only whole lines; a line being written is read next time.
            if let Some(end) = new.iter().rposition(|b| *b == b'\n') {
                for line in String::from_utf8_lossy(&new[..end]).lines() {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                        continue;
                    };
                    let (Some(name), Some(at)) = (v["name"].as_str(), v["at_unix_ms"].as_f64())
                    else {
                        continue;
                    };
                    let at_s = (at - started_ms) / 1000.0;
                    out.push(crate::report::model::EventRecord {
                        name: name.to_owned(),
                        at_s,
                        end_s: None,
                        exit_code: None,
                        output: "marked with `cutover mark`".into(),
                        error: None,
                    });
                }
                offset += end as u64 + 1;
            }
        }
        if done {
            break;
        }
    }
    out
}

fn describe_stages(shape: &crate::load::schedule::Shape) -> String {
    use crate::load::schedule::Phase;
    shape
        .phases
        .iter()
        .map(|p| match *p {
            Phase::Open { from, to, .. } if from == to => format!("{from:.0}/s"),
            Phase::Open { from, to, .. } => format!("{from:.0}/s→{to:.0}/s"),
            Phase::Closed { concurrency, .. } => format!("{concurrency} clients"),
            Phase::Sockets {
                sockets, interval, ..
            } => {
                format!(
                    "{sockets} WebSockets ({:.1} messages/s each)",
                    1.0 / interval.as_secs_f64()
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", then ")
}

fn lab_ports(ports: Option<Vec<u16>>) -> LabPorts {
    match ports.as_deref() {
        Some([ih, is, gh, gs]) => LabPorts {
            ingress_http: *ih,
            ingress_https: *is,
            gateway_http: *gh,
            gateway_https: *gs,
            dns: 0,
        },
        _ => LabPorts::default(),
    }
}

async fn lab(
    host: String,
    write_scenario: Option<PathBuf>,
    https: bool,
    ports: Option<Vec<u16>>,
    stall: Option<(std::time::Duration, std::time::Duration)>,
) -> Exit {
    if ports.as_ref().is_some_and(|p| p.len() != 4) {
        eprintln!("error: --ports takes four ports: ingress http, ingress https, gateway http, gateway https (0 = any)");
        return Exit::Usage;
    }
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
    println!(
        "  dns      {} (udp+tcp, weighted A records for {})",
        lab.dns, lab.host
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
    if let Some((at, len)) = stall {
        let switches = std::sync::Arc::clone(&lab.switches);
        tokio::spawn(async move {
            tokio::time::sleep(at).await;
            switches
                .app_stall_ms
                .store(len.as_millis() as u64, Ordering::Relaxed);
            println!(
                "stall: every response now waits {}",
                humantime::format_duration(len)
            );
            tokio::time::sleep(len).await;
            switches.app_stall_ms.store(0, Ordering::Relaxed);
            println!("stall over");
        });
    }
    println!("press Ctrl-C to stop");
    interrupted().await;
    lab.shutdown().await;
    Exit::Pass
}

async fn demo(output: &OutputArgs, load_args: &LoadArgs) -> Exit {
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
    lab.switches
        .gateway_cors_differs
        .store(true, Ordering::Relaxed);
    // external-dns also published a ClusterIP for the HTTPRoute.
    lab.dns_switches.set_records(vec![
        (90, std::net::IpAddr::from([192, 0, 2, 10])),
        (10, std::net::IpAddr::from([192, 0, 2, 20])),
        (1, std::net::IpAddr::from([10, 96, 0, 12])),
    ]);
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
    let (code, report) = check(&plan, output, Some(load_args)).await;
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
        ("LAB_DNS".to_owned(), lab.dns.to_string()),
        (
            "CUTOVER".to_owned(),
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "cutover".into()),
        ),
    ];
    move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

fn tempfile_with(contents: &str) -> std::io::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("cutover-lab-ca-{}.pem", std::process::id()));
    std::fs::write(&path, contents)?;
    Ok(path)
}
