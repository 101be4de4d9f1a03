//! Helpers shared by the integration tests: the binary, loopback peers, schema checks.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cutover::lab::{Lab, LabConfig};
use cutover::report::model::TargetResult;
use cutover::report::Report;
use cutover::run;
use cutover::scenario::{self, Plan};

pub const HOST: &str = "shop.example.test";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cutover")
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub async fn lab() -> Lab {
    Lab::start(LabConfig::new(HOST))
        .await
        .expect("lab starts on loopback")
}

/// A plan from YAML text; `${NAME}` comes from `vars`.
pub fn plan(yaml: &str, vars: &[(&str, String)]) -> Plan {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    scenario::load_str(yaml, Path::new("test.yaml"), &move |k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .unwrap_or_else(|e| panic!("scenario is valid:\n{e}"))
}

/// The diagnostics of a scenario that must not validate, as the user reads them.
pub fn plan_errors(yaml: &str) -> String {
    match scenario::load_str(yaml, Path::new("test.yaml"), &|_| None) {
        Ok(_) => panic!("scenario validated but should not have"),
        Err(e) => e.to_string(),
    }
}

/// Runs the check pass in-process and returns the (redacted) report.
pub async fn check(plan: &Plan) -> Report {
    let options = run::RunOptions {
        mode: run::Mode::Check,
        engine: cutover::load::engine::Options::default(),
        marks: PathBuf::from("reports/.marks"),
    };
    let (stop, _) = tokio::sync::watch::channel(false);
    let recorded = run::execute(plan, &options, &Arc::new(stop), &mut run::Unobserved).await;
    let verdict = cutover::analyze::judge(plan, &recorded, None);
    let report = cutover::report::build::build(plan, &recorded, &verdict);
    let report = cutover::report::redact(&report, &plan.secrets).expect("redacts");
    assert_valid_report(&serde_json::to_value(&report).expect("serializes"));
    report
}

/// A loopback server that accepts connections and never answers.
/// `accepted()` tells how many connections it holds.
pub struct Silent {
    pub addr: SocketAddr,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let held = Arc::new(Mutex::new(Vec::new()));
        let h = Arc::clone(&held);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                h.lock().expect("lock").push(stream);
            }
        });
        Silent { addr, held }
    }

    pub fn accepted(&self) -> usize {
        self.held.lock().expect("lock").len()
    }
}

/// A loopback address where nothing listens (bound, then released).
pub fn refused_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr
}

/// Validates a report against the committed JSON Schema.
pub fn assert_valid_report(report: &serde_json::Value) {
    let schema_text = std::fs::read_to_string(root().join("reports/schema/report.schema.json"))
        .expect("schema file");
    let schema: serde_json::Value = serde_json::from_str(&schema_text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema:\n{}",
        errors.join("\n")
    );
}

/// Reads a whole file as text.
pub fn read(path: &Path) -> String {
    let mut s = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    s
}

/// Runs the binary with args in `dir` (blocking; call from spawn_blocking when a lab runs in-process).
pub fn run_bin(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("CUTOVER_OUT")
        .output()
        .expect("binary runs")
}

/// One check's result on one target.
pub fn result<'a>(r: &'a Report, check: &str, target: &str) -> &'a TargetResult {
    r.checks
        .iter()
        .find(|c| c.name == check)
        .and_then(|c| c.results.iter().find(|x| x.target == target))
        .unwrap_or_else(|| panic!("no result for {check} [{target}]"))
}

/// Runs the binary off the async runtime, so a lab in this process keeps serving.
pub async fn run_bin_async(dir: &Path, args: &[&str]) -> std::process::Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_bin(&dir, &args)
    })
    .await
    .expect("join")
}

/// Reads `<dir>/<out>/report.json` and validates it against the schema.
pub fn report_in(dir: &Path, out: &str) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_str(&read(&dir.join(out).join("report.json")))
        .expect("report.json is JSON");
    assert_valid_report(&report);
    report
}

/// A result's typed details as JSON, for tests that look at one field.
pub trait DetailsJson {
    fn details_json(&self) -> serde_json::Value;
}

impl DetailsJson for TargetResult {
    fn details_json(&self) -> serde_json::Value {
        serde_json::to_value(self.details.as_ref().expect("the result has details"))
            .expect("details serialize")
    }
}
