//! The command line: clap definitions and the commands they run.
//!
//! Exit codes: 0 the verdict passed · 1 a finding at level `fail` (a check,
//! a threshold, a regression against the baseline) · 2 scenario or usage
//! error · 3 aborted by the abort rule · 4 the report could not be written ·
//! 130 interrupted (the partial report is still written).

pub mod commands;
pub mod completions;
mod deliver;
mod init;
mod merge;
pub mod output;
mod progress;
mod signals;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Prove that a cluster can move from ingress-nginx to a Gateway API
/// implementation without its users noticing.
#[derive(Debug, Parser)]
#[command(name = "cutover", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and validate a scenario; print every error as file:line:col.
    Validate {
        /// The scenario file (YAML).
        scenario: PathBuf,
    },
    /// Run every check once against every target, write the report; exit 0 pass, 1 fail, 2 usage, 4 report not written, 130 interrupted.
    Check {
        /// The scenario file (YAML).
        scenario: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Run every check once, then drive the scenario's load against each target
    /// separately, and write the report with latency distributions side by side.
    Run {
        /// The scenario file (YAML).
        scenario: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Run only the scenario's `dns:` checks: sample the weighted answers and test the split.
    Dns {
        /// The scenario file (YAML).
        scenario: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Watch both paths for hours (during the DNS shift): a steady low rate,
    /// the checks again every minute, alerts raised and cleared as they
    /// happen, the report rewritten every minute. Ends on Ctrl-C, SIGTERM or
    /// `--for` with the final report; exit 0 when no alert is raised at the
    /// end, 1 otherwise, 2 usage, 4 report not written.
    Watch {
        /// The scenario file (YAML).
        scenario: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
        /// Stop after this long (e.g. 8h) [default: until Ctrl-C or SIGTERM].
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_watch_duration)]
        duration: Option<std::time::Duration>,
        /// Serve Prometheus metrics on this address (`/metrics`, `/healthz`).
        #[arg(long, value_name = "ADDR")]
        metrics: Option<std::net::SocketAddr>,
        /// POST each alert change as JSON (Slack and Teams incoming webhooks accept it).
        #[arg(long, value_name = "URL")]
        webhook: Option<reqwest::Url>,
        /// The marks file `cutover mark` appends to (events and weight changes).
        #[arg(
            long,
            value_name = "FILE",
            env = "CUTOVER_MARKS",
            default_value = "reports/.marks"
        )]
        marks: PathBuf,
    },
    /// Write a scenario (and a migration lint) from the cluster's Ingress,
    /// HTTPRoute and Gateway manifests: files, directories, or `-` for
    /// `kubectl get ingress,httproute,gateway -A -o yaml`. Exit 0 written, 1
    /// written with failing lint findings, 2 usage or nothing readable.
    Init {
        /// Ingress manifests (file, directory or `-`); repeatable.
        #[arg(long, value_name = "FILE_OR_DIR", required = true)]
        ingress: Vec<PathBuf>,
        /// HTTPRoute manifests (from your hands or from ingress2gateway); repeatable.
        #[arg(long, value_name = "FILE_OR_DIR")]
        routes: Vec<PathBuf>,
        /// Gateway (and ReferenceGrant) manifests; repeatable.
        #[arg(long, value_name = "FILE_OR_DIR")]
        gateways: Vec<PathBuf>,
        /// Where the ingress path answers (its load balancer), host:port.
        #[arg(long, value_name = "ADDR")]
        ingress_connect: String,
        /// Where the gateway path answers, host:port.
        #[arg(long, value_name = "ADDR")]
        gateway_connect: String,
        /// The scenario to write (the lint goes beside it as FILE.lint.md).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Paths served over WebSocket, comma-separated (e.g. /ws,/chat).
        #[arg(long, value_name = "PATHS", value_delimiter = ',')]
        websocket_paths: Vec<String>,
        /// The zone's authoritative nameservers, for the weighted DNS check.
        #[arg(long, value_name = "NS", value_delimiter = ',')]
        dns_nameserver: Vec<String>,
        /// Overwrite FILE and FILE.lint.md if they exist.
        #[arg(long)]
        force: bool,
    },
    /// Mark an event (a deploy) on the timeline of the `run` or `watch` going
    /// on in this directory: it picks the mark up and attributes 503 spikes to it.
    Mark {
        /// What happened, e.g. "deploy api v42".
        name: String,
        /// The DNS weights expected from now on, e.g. `ingress=50,gateway=50`
        /// (after a Route 53 weight change).
        #[arg(long, value_name = "TARGET=WEIGHT,…", value_parser = parse_weights)]
        weights: Option<std::collections::BTreeMap<String, f64>>,
        /// The marks file the run or watch reads.
        #[arg(
            long,
            value_name = "FILE",
            env = "CUTOVER_MARKS",
            default_value = "reports/.marks"
        )]
        marks: PathBuf,
    },
    /// Start a rollout in a running lab (its ingress address): the gateway
    /// answers Envoy's upstream-reset 503s for a moment, the ingress does not.
    #[command(hide = true)]
    LabDeploy {
        /// The lab's ingress http address, host:port.
        addr: String,
        /// How long the rollout lasts, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        ms: u64,
    },
    /// Start the embedded lab (ingress-like and gateway-like servers) until Ctrl-C.
    Lab {
        /// Production hostname the lab serves.
        #[arg(long, default_value = "shop.example.test")]
        host: String,
        /// Write a ready-to-run scenario pointing at the lab to this file.
        #[arg(long, value_name = "FILE")]
        write_scenario: Option<PathBuf>,
        /// Point the written scenario at the lab's HTTPS ports (with the lab's CA).
        #[arg(long)]
        https: bool,
        /// Fixed ports (0 = ephemeral): ingress http, ingress https, gateway http, gateway https.
        #[arg(
            long,
            value_delimiter = ',',
            value_name = "I_HTTP,I_HTTPS,G_HTTP,G_HTTPS"
        )]
        ports: Option<Vec<u16>>,
        /// Stall the app once: `AT:FOR` (e.g. 10s:1s) delays every response by
        /// FOR during that window (for coordinated-omission benchmarks).
        #[arg(long, value_name = "AT:FOR", value_parser = parse_stall)]
        stall: Option<(std::time::Duration, std::time::Duration)>,
    },
    /// Re-render report.html, summary.md and junit.xml from a saved report.json
    /// (of this schema version or the previous one); exits with the saved verdict.
    Report {
        /// The saved report, e.g. reports/shop-20260101T000000Z/report.json.
        report: PathBuf,
        /// Write the renderings here [default: the report's directory].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print only the verdict line.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Merge the shard reports of one sharded run (`run --shard i/n`) into one
    /// report, judged again; exit like `run`.
    Merge {
        /// Every shard's report.json, or the directory holding it.
        #[arg(required = true, value_name = "REPORT")]
        reports: Vec<PathBuf>,
        /// The scenario the shards ran [default: the path their reports name].
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
        /// Also compare latency with this saved run's report.json (as `run --baseline`).
        #[arg(long, value_name = "REPORT")]
        baseline: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Compare two saved runs of the same scenario: quantiles, failed shares,
    /// statuses, findings new and gone; exit 1 when B regressed against A.
    Compare {
        /// The earlier run's report.json.
        a: PathBuf,
        /// The later run's report.json.
        b: PathBuf,
        /// Write compare.md and compare.html here [default: B's directory].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print the comparison as JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Start the lab, run scenarios/demo.yaml against it, and write a full report.
    Demo {
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// `completions SHELL` and `man`: generated from these definitions
    /// (their arguments are in [`completions::Generate`]).
    #[command(flatten)]
    Generate(completions::Generate),
}

#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Write the report files into this directory
    /// [default: reports/<scenario>-<UTC timestamp>].
    #[arg(short = 'o', long, value_name = "DIR", env = "CUTOVER_OUT")]
    pub out: Option<PathBuf>,
    /// Also write the JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Overwrite a report already in `--out`.
    #[arg(long)]
    pub force: bool,
    /// Print only the verdict line (the report files are written as always).
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the report model to stdout as one JSON document, for scripts
    /// (the files are written as always; the summary goes to stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Fit the load stages into this total duration (e.g. 30s, 2m), keeping their proportions.
    #[arg(long, value_name = "DURATION", value_parser = parse_load_duration)]
    pub duration: Option<std::time::Duration>,
    /// Multiply every rate and concurrency (e.g. 0.5 for half the load).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = parse_scale)]
    pub rate_scale: f64,
    /// Load worker threads [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = parse_workers)]
    pub workers: Option<usize>,
    /// Run shard INDEX of COUNT (0-based, e.g. `--shard $(JOB_COMPLETION_INDEX)/4`):
    /// this process sends its exact share of every rate, closed client and
    /// WebSocket of the load; the shards' shares add up to the whole.
    #[arg(long, value_name = "INDEX/COUNT", value_parser = crate::load::engine::Shard::parse)]
    pub shard: Option<crate::load::engine::Shard>,
    /// The file `cutover mark` appends events to; the run watches it.
    #[arg(
        long,
        value_name = "FILE",
        env = "CUTOVER_MARKS",
        default_value = "reports/.marks"
    )]
    pub marks: PathBuf,
    /// Compare latencies with a saved report of the same scenario (a regression fails the run).
    #[arg(long, value_name = "REPORT")]
    pub baseline: Option<PathBuf>,
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    crate::scenario::units::parse_duration(s)
}

fn parse_weights(s: &str) -> Result<std::collections::BTreeMap<String, f64>, String> {
    let mut out = std::collections::BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, w) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not TARGET=WEIGHT, like ingress=50"))?;
        match w.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => {
                out.insert(name.trim().to_owned(), v);
            }
            _ => {
                return Err(format!(
                    "the weight of `{name}` must be a number of 0 or more"
                ))
            }
        }
    }
    if out.is_empty() {
        return Err("give at least one TARGET=WEIGHT, like ingress=50,gateway=50".into());
    }
    Ok(out)
}

fn parse_stall(s: &str) -> Result<(std::time::Duration, std::time::Duration), String> {
    let (at, len) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not AT:FOR, like 10s:1s"))?;
    Ok((parse_duration_arg(at)?, parse_duration_arg(len)?))
}

/// `--duration`: more than zero (a zero-length load is a green run of no
/// requests) and at most the scenario limit, 7 days.
fn parse_load_duration(s: &str) -> Result<std::time::Duration, String> {
    parse_bounded_duration(
        s,
        "the load would send no request; give a duration like 30s or 2m",
        "the longest load a run may take",
    )
}

/// `watch --for`: the same bounds as a load.
fn parse_watch_duration(s: &str) -> Result<std::time::Duration, String> {
    parse_bounded_duration(
        s,
        "give a duration like 8h or 30m",
        "the longest a watch may run",
    )
}

fn parse_bounded_duration(
    s: &str,
    if_zero: &str,
    if_long: &str,
) -> Result<std::time::Duration, String> {
    use crate::scenario::plan::limits::{MAX_DURATION, MAX_DURATION_TEXT};
    let d = parse_duration_arg(s)?;
    if d.is_zero() {
        Err(format!("`{s}` is no time at all: {if_zero}"))
    } else if d > MAX_DURATION {
        Err(format!(
            "`{s}` is longer than {MAX_DURATION_TEXT}, {if_long}"
        ))
    } else {
        Ok(d)
    }
}

/// The most load worker threads (one runtime each; more than cores only adds switching).
const MAX_WORKERS: usize = 1024;

fn parse_workers(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}` is not a number of worker threads: give 1 to {MAX_WORKERS}, or leave it out for one per core"
        )),
    }
}

/// The largest `--rate-scale`: beyond, scaled counts overflow (the
/// scenario's own limits are checked against the scaled plan as well).
const MAX_RATE_SCALE: f64 = 1000.0;

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= MAX_RATE_SCALE => Ok(v),
        Ok(v) if v.is_finite() && v > MAX_RATE_SCALE => Err(format!(
            "`{s}` is more than {MAX_RATE_SCALE}, the largest factor: raise the scenario's rates instead"
        )),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

/// Process exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Pass = 0,
    Fail = 1,
    Usage = 2,
    Aborted = 3,
    /// The report files could not be written.
    ReportWrite = 4,
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Parses the arguments, runs the command, returns the exit code.
///
/// Exit codes: 0 pass · 1 fail · 2 usage or scenario error · 3 aborted ·
/// 4 report not written · 130 interrupted.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Usage.into();
        }
    };
    let code = runtime.block_on(commands::run(cli.command));
    // Lab servers and in-flight probes must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_duration_of_zero_or_over_seven_days_is_refused() {
        assert!(parse_load_duration("0s")
            .unwrap_err()
            .contains("no time at all"));
        assert!(parse_load_duration("8d").unwrap_err().contains("7 days"));
        assert_eq!(
            parse_load_duration("30s"),
            Ok(std::time::Duration::from_secs(30))
        );
    }

    #[test]
    fn zero_workers_and_absurd_rate_scales_are_refused() {
        assert!(parse_workers("0").unwrap_err().contains("1 to 1024"));
        assert!(parse_workers("100000").is_err());
        assert_eq!(parse_workers("2"), Ok(2));
        assert!(parse_scale("0").is_err());
        assert!(parse_scale("1e300").unwrap_err().contains("largest factor"));
        assert_eq!(parse_scale("0.5"), Ok(0.5));
    }
}
