//! What each subcommand does, from a parsed command to an exit code.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::deliver::{deliver, load, report_exit};
use super::output::{say, say_raw};
use super::progress::Progress;
use super::signals::{interrupted, stop_on_signals};
use super::{Command, Exit, LoadArgs, OutputArgs};
use crate::analyze::RunStatus;
use crate::lab::{Lab, LabConfig, LabPorts};
use crate::load::engine::Options;
use crate::report::{self, Report};
use crate::run::{self, RunOptions};
use crate::scenario::{self, Plan};

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
            Ok(plan) => {
                let scaled = plan
                    .load
                    .as_ref()
                    .and_then(|l| crate::scenario::plan::limits::check_scaled(l, args.rate_scale));
                if let Some(problem) = scaled {
                    eprintln!("{}: {problem}", scenario.display());
                    return Exit::Usage;
                }
                check(&plan, &output, Some(&args)).await.0
            }
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
        Command::Report { report, out, quiet } => rerender(&report, out.as_deref(), quiet),
        Command::Merge {
            reports,
            scenario,
            baseline,
            output,
        } => super::merge::merge(
            &super::merge::Args {
                reports,
                scenario,
                baseline,
            },
            &output,
        ),
        Command::Compare { a, b, out, json } => compare(&a, &b, out.as_deref(), json),
        Command::Mark {
            name,
            weights,
            marks,
        } => mark(&name, weights.as_ref(), &marks),
        Command::Init {
            ingress,
            routes,
            gateways,
            ingress_connect,
            gateway_connect,
            output,
            websocket_paths,
            dns_nameserver,
            force,
        } => super::init::init(super::init::Args {
            inputs: ingress.into_iter().chain(routes).chain(gateways).collect(),
            options: crate::init::generate::Options {
                ingress_connect,
                gateway_connect,
                websocket_paths,
                nameservers: dns_nameserver,
            },
            output,
            force,
        }),
        Command::Watch {
            scenario,
            output,
            duration,
            metrics,
            webhook,
            marks,
        } => match load(&scenario) {
            Ok(plan) => {
                super::watch::watch(
                    plan,
                    &output,
                    super::watch::Args {
                        duration,
                        metrics,
                        webhook,
                        marks,
                    },
                )
                .await
            }
            Err(code) => code,
        },
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
        Command::Generate(generate) => generate.run(),
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

fn validate(path: &Path) -> Exit {
    match load(path) {
        Ok(plan) => {
            say!(
                "ok: {} checks, {} targets",
                plan.checks.len(),
                plan.targets.len()
            );
            Exit::Pass
        }
        Err(code) => code,
    }
}

/// Watches the load for the command line: progress and the abort rail.
struct Watcher {
    progress: Option<Progress>,
    rail: Option<crate::analyze::abort::Rail>,
}

impl run::Observer for Watcher {
    fn load_starting(
        &mut self,
        shape: &crate::load::schedule::Shape,
        plan: &Plan,
        options: &RunOptions,
    ) {
        let Some(load) = &plan.load else { return };
        let names: Vec<(usize, String)> = load
            .targets
            .iter()
            .map(|&t| (t, plan.targets[t].name.clone()))
            .collect();
        say!(
            "load: {} across {} targets for {}",
            describe_stages(shape),
            names.len(),
            humantime::format_duration(shape.total())
        );
        say!(
            "marks: `cutover mark NAME` adds an event (file {})",
            options.marks.display()
        );
        self.progress = Some(Progress::new(&names, plan.checks.len(), shape.clone()));
        self.rail = plan
            .analysis
            .abort
            .map(|rule| crate::analyze::abort::Rail::new(rule, &load.targets, plan.checks.len()));
    }

    fn second(
        &mut self,
        done: &crate::record::Finished,
        totals: &crate::record::Aggregator,
    ) -> Option<run::AbortTrip> {
        if let Some(p) = self.progress.as_mut() {
            p.second(done, totals);
        }
        self.rail.as_mut().and_then(|r| r.second(done))
    }

    fn load_finished(&mut self) {
        if let Some(p) = self.progress.take() {
            p.finish();
        }
    }
}

/// The exit code of a judged run: interrupted, aborted, fail, pass.
pub fn exit_code(verdict: &crate::analyze::Verdict) -> Exit {
    match verdict.status {
        RunStatus::Interrupted => Exit::Interrupted,
        RunStatus::Aborted => Exit::Aborted,
        RunStatus::Completed if verdict.passed() => Exit::Pass,
        RunStatus::Completed => Exit::Fail,
    }
}

/// Runs the check pass (and the load, with `load_args`), judges it, writes
/// and prints the report. Returns the exit code and the report.
async fn check(
    plan: &Plan,
    output: &OutputArgs,
    load_args: Option<&LoadArgs>,
) -> (Exit, Option<(Report, PathBuf)>) {
    if output.json {
        super::output::human_to_stderr();
    }
    // Inputs are read and outputs proven writable before the first request.
    let outputs = match report::outputs::prepare(
        output.out.as_deref(),
        output.junit.as_deref(),
        &plan.name,
        std::time::SystemTime::now(),
        output.force,
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return (Exit::Usage, None);
        }
    };
    let baseline = match load_args.and_then(|a| a.baseline.as_ref()) {
        Some(path) => match report::read_baseline(path) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("error: {e}");
                return (Exit::Usage, None);
            }
        },
        None => None,
    };
    let (stop, signals) = stop_on_signals();
    let options = RunOptions {
        mode: if load_args.is_some() {
            run::Mode::Run
        } else {
            run::Mode::Check
        },
        engine: match load_args {
            Some(args) => Options {
                rate_scale: args.rate_scale,
                duration: args.duration,
                workers: args.workers.unwrap_or_else(|| Options::default().workers),
                shard: args.shard.unwrap_or_default(),
                ..Options::default()
            },
            None => Options::default(),
        },
        marks: load_args
            .map(|a| a.marks.clone())
            .unwrap_or_else(|| PathBuf::from("reports/.marks")),
    };
    let mut watcher = Watcher {
        progress: None,
        rail: None,
    };
    let recorded = run::execute(plan, &options, &stop, &mut watcher).await;
    signals.abort();
    let verdict = crate::analyze::judge(plan, &recorded, baseline.as_ref());
    let report = report::build::build(plan, &recorded, &verdict);
    let report = match report::redact(&report, &plan.secrets) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return (Exit::ReportWrite, None);
        }
    };
    let code = exit_code(&verdict);
    match deliver(&report, &outputs, output, recorded.load.is_some()) {
        Ok(()) => (code, Some((report, outputs.dir))),
        Err(e) => (e, None),
    }
}

/// The directory of a report file (`.` for a bare file name).
fn dir_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// `cutover report`: re-renders a saved run; exits with its verdict.
fn rerender(path: &Path, out: Option<&Path>, quiet: bool) -> Exit {
    let saved = match report::saved::read(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let dir =
        match report::outputs::prepare_render(&out.map_or_else(|| dir_of(path), Path::to_path_buf))
        {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        };
    if let Err(e) = report::render_all(&saved, &dir) {
        eprintln!("error: {e}");
        return Exit::ReportWrite;
    }
    say_raw(&report::terminal::render(
        &saved,
        report::terminal::Style::detect(quiet),
    ));
    if !quiet {
        say!("rendered: {}", dir.join("report.html").display());
    }
    report_exit(&saved)
}

/// `cutover compare`: B against A; exit 1 on a regression.
fn compare(a: &Path, b: &Path, out: Option<&Path>, json: bool) -> Exit {
    let read = |p: &Path| {
        report::saved::read(p).map_err(|e| {
            eprintln!("error: {e}");
            Exit::Usage
        })
    };
    let (ra, rb) = match (read(a), read(b)) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let c = match report::compare::compare(
        &ra,
        &a.display().to_string(),
        &rb,
        &b.display().to_string(),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let dir =
        match report::outputs::prepare_render(&out.map_or_else(|| dir_of(b), Path::to_path_buf)) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        };
    let written = report::atomic::write(
        &dir.join("compare.md"),
        report::compare::markdown(&c).as_bytes(),
    )
    .and_then(|()| {
        report::atomic::write(
            &dir.join("compare.html"),
            report::compare::html(&c).as_bytes(),
        )
    });
    if let Err(e) = written {
        eprintln!(
            "error: cannot write compare.md and compare.html into `{}`: {e}; choose another --out",
            dir.display()
        );
        return Exit::ReportWrite;
    }
    if json {
        match serde_json::to_string_pretty(&c) {
            Ok(text) => super::output::data_raw(&format!("{text}\n")),
            Err(e) => {
                eprintln!("error: cannot serialize the comparison: {e}");
                return Exit::ReportWrite;
            }
        }
    } else {
        say_raw(&report::compare::terminal(&c));
        say!("written: {}", dir.join("compare.html").display());
    }
    if c.regressed() {
        Exit::Fail
    } else {
        Exit::Pass
    }
}

/// Appends one mark to the marks file (one JSON object a line).
fn mark(
    name: &str,
    weights: Option<&std::collections::BTreeMap<String, f64>>,
    path: &Path,
) -> Exit {
    match run::marks::append(name, weights, path) {
        Ok(()) => {
            say!("marked `{name}` in {}", path.display());
            Exit::Pass
        }
        Err(e) => {
            eprintln!("error: cannot write the marks file {}: {e}", path.display());
            Exit::Usage
        }
    }
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
    say!("lab for host {}", lab.host);
    say!(
        "  ingress  http://{}  https://{}",
        lab.ingress_http,
        lab.ingress_https
    );
    say!(
        "  gateway  http://{}  https://{}",
        lab.gateway_http,
        lab.gateway_https
    );
    say!(
        "  dns      {} (udp+tcp, weighted A records for {})",
        lab.dns,
        lab.host
    );
    if let Some(path) = write_scenario {
        let ca_path = path.with_extension("ca.pem");
        // Written aside and renamed, so a reader never sees half a scenario.
        let written = report::atomic::write(&ca_path, lab.ca_pem.as_bytes()).and_then(|()| {
            report::atomic::write(&path, lab.scenario_yaml(&ca_path, https).as_bytes())
        });
        match written {
            Ok(()) => say!(
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
            say!(
                "stall: every response now waits {}",
                humantime::format_duration(len)
            );
            tokio::time::sleep(len).await;
            switches.app_stall_ms.store(0, Ordering::Relaxed);
            say!("stall over");
        });
    }
    say!("press Ctrl-C to stop");
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
    // Behaviour differences: a shared rate-limit bucket (10 requests, no
    // refill during the check), ingress-nginx's 1m body limit, a gateway
    // route timeout of 1 s.
    lab.switches.rate_limit_burst.store(10, Ordering::Relaxed);
    lab.switches
        .ingress_max_body
        .store(1024 * 1024, Ordering::Relaxed);
    lab.switches
        .gateway_route_timeout_ms
        .store(1000, Ordering::Relaxed);
    // /account is https-only: plain HTTP is redirected, with 308 by the
    // ingress and the HTTPRoute's 301 by the gateway.
    lab.switches.ssl_redirect.store(true, Ordering::Relaxed);
    if let Ok(mut prefix) = lab.switches.ssl_redirect_prefix.lock() {
        "/account".clone_into(&mut prefix);
    }
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
    // The lab's gRPC service, which the gateway has no GRPCRoute for yet.
    lab.switches
        .gateway_grpc_unrouted
        .store(true, Ordering::Relaxed);
    let descriptor =
        std::env::temp_dir().join(format!("cutover-lab-shop-{}.pb", std::process::id()));
    if let Err(e) = std::fs::write(&descriptor, crate::lab::grpc::DESCRIPTOR_SET) {
        eprintln!("error: cannot write the lab's gRPC descriptor set: {e}");
        return Exit::Usage;
    }
    let env = demo_env(&lab, &ca_file, &descriptor);
    let plan = match scenario::load_str(DEMO_SCENARIO, Path::new(DEMO_PATH), &|k| env(k)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Exit::Usage;
        }
    };
    say!(
        "lab: ingress {} / gateway {} for host {} (https {} / {})\n",
        lab.ingress_http,
        lab.gateway_http,
        lab.host,
        lab.ingress_https,
        lab.gateway_https
    );
    let (code, report) = check(&plan, output, Some(load_args)).await;
    let _ = std::fs::remove_file(&ca_file);
    let _ = std::fs::remove_file(&descriptor);
    lab.shutdown().await;
    match (code, report) {
        (Exit::Interrupted, _) => Exit::Interrupted,
        (_, Some((report, dir))) => {
            say!(
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
pub fn demo_env(lab: &Lab, ca_file: &Path, descriptor: &Path) -> impl Fn(&str) -> Option<String> {
    let vars = [
        ("LAB_INGRESS".to_owned(), lab.ingress_http.to_string()),
        ("LAB_GATEWAY".to_owned(), lab.gateway_http.to_string()),
        ("LAB_INGRESS_TLS".to_owned(), lab.ingress_https.to_string()),
        ("LAB_GATEWAY_TLS".to_owned(), lab.gateway_https.to_string()),
        ("LAB_CA".to_owned(), ca_file.display().to_string()),
        ("LAB_DNS".to_owned(), lab.dns.to_string()),
        (
            "LAB_GRPC_DESCRIPTOR".to_owned(),
            descriptor.display().to_string(),
        ),
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
