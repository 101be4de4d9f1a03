//! The container image and the Kubernetes examples in deploy/, checked
//! without building the image or having a cluster.
//!
//! - Every manifest parses as its Kubernetes type (k8s-openapi's 1.33 API,
//!   the oldest it knows) and serialises back to exactly what the file
//!   says: a misspelt, misplaced or newer field, which k8s-openapi skips as
//!   the API server would drop or refuse it, shows up by JSON pointer.
//! - Every container's `args`, with `$(VAR)` expanded as the kubelet does,
//!   after the image's ENTRYPOINT, is a command line the binary's own
//!   parser accepts; it reads the scenario from the ConfigMap and writes
//!   only to the reports volume (the root filesystem is read-only).
//! - The ConfigMap's scenario validates.
//! - The Dockerfile, read by the small parser at the end of this file: a
//!   build stage and a runtime stage running as a numeric non-root user,
//!   whose ENTRYPOINT is the binary it copies from the build, with CA
//!   certificates, and a CMD the parser accepts. The build context keeps
//!   every file the release build reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser as _;
use cutover::cli::{Cli, Command};
use cutover::load::engine::Shard;
use cutover::scenario::Plan;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PersistentVolumeClaim, PodSpec};
use serde_json::Value;

use crate::support::root;

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// deploy/`file` as its Kubernetes type, once proven that the type keeps
/// every field the file has.
fn manifest<K>(file: &str) -> K
where
    K: k8s_openapi::Resource + serde::de::DeserializeOwned + serde::Serialize,
{
    let text = read(&format!("deploy/{file}"));
    let written: Value = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("deploy/{file} is not one YAML document: {e}"));
    let typed: K = serde_json::from_value(written.clone())
        .unwrap_or_else(|e| panic!("deploy/{file} is not a {}: {e}", K::KIND));
    let kept = serde_json::to_value(&typed).expect("a Kubernetes object serialises");
    let lost: Vec<String> = cutover::jsondiff::diff(&written, &kept)
        .iter()
        .map(|leaf| leaf.describe())
        .collect();
    assert!(
        lost.is_empty(),
        "deploy/{file}: the {} API of Kubernetes 1.33 does not keep these as written (file → parsed):\n{}",
        K::KIND,
        lost.join("\n")
    );
    typed
}

const MANIFESTS: [&str; 5] = [
    "configmap.yaml",
    "pvc.yaml",
    "job-sharded.yaml",
    "job-merge.yaml",
    "cronjob-smoke.yaml",
];

#[test]
fn every_manifest_is_its_kubernetes_type_with_no_field_dropped() {
    manifest::<ConfigMap>("configmap.yaml");
    manifest::<PersistentVolumeClaim>("pvc.yaml");
    manifest::<Job>("job-sharded.yaml");
    manifest::<Job>("job-merge.yaml");
    manifest::<CronJob>("cronjob-smoke.yaml");
    // A new manifest must be checked here too.
    let mut on_disk: Vec<String> = std::fs::read_dir(root().join("deploy"))
        .expect("deploy/ exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let mut known = MANIFESTS.map(String::from).to_vec();
    known.sort();
    assert_eq!(on_disk, known, "every manifest in deploy/ is parsed above");
}

// ---- the pods ------------------------------------------------------------

fn job() -> Job {
    manifest("job-sharded.yaml")
}

fn merge_job() -> Job {
    manifest("job-merge.yaml")
}

fn cronjob() -> CronJob {
    manifest("cronjob-smoke.yaml")
}

fn job_pod(job: &Job) -> &PodSpec {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("the Job has a pod template")
}

fn cronjob_pod(cron: &CronJob) -> &PodSpec {
    cron.spec
        .as_ref()
        .and_then(|s| s.job_template.spec.as_ref())
        .and_then(|s| s.template.spec.as_ref())
        .expect("the CronJob has a pod template")
}

/// The one container of a pod, which runs the image's entrypoint.
fn the_container(pod: &PodSpec) -> &Container {
    assert_eq!(pod.containers.len(), 1, "one container per pod");
    let c = &pod.containers[0];
    assert!(
        c.command.is_none(),
        "container `{}` sets `command`, replacing the image's ENTRYPOINT; give cutover's arguments in `args`",
        c.name
    );
    c
}

/// `$(NAME)` expanded as the kubelet expands `command` and `args`: a
/// defined variable by its value, `$$` by `$`, anything else as written.
fn expand(arg: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let var = after
            .strip_prefix('(')
            .and_then(|inner| inner.find(')').map(|j| (&inner[..j], &inner[j + 1..])))
            .and_then(|(name, tail)| vars.get(name).map(|v| (v, tail)));
        match var {
            Some((value, tail)) => {
                out.push_str(value);
                rest = tail;
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The container's literal environment, plus `extra` (what Kubernetes adds).
fn env_of(c: &Container, extra: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = c
        .env
        .iter()
        .flatten()
        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
        .collect();
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    vars
}

/// The process a container starts: the image's ENTRYPOINT, then `args`
/// expanded; no `$(` may be left for cutover to read literally.
fn argv(c: &Container, vars: &BTreeMap<String, String>) -> Vec<String> {
    let mut argv = image().entrypoint;
    for arg in c.args.iter().flatten() {
        let arg = expand(arg, vars);
        assert!(
            !arg.contains("$("),
            "container `{}`: `{arg}` names a variable Kubernetes does not set",
            c.name
        );
        argv.push(arg);
    }
    argv
}

fn parse(argv: &[String]) -> Command {
    match Cli::try_parse_from(argv) {
        Ok(cli) => cli.command,
        Err(e) => panic!("cutover refuses `{}`:\n{}", argv.join(" "), e.render()),
    }
}

#[test]
fn each_shard_of_the_indexed_job_runs_its_share_into_its_own_directory() {
    let job = job();
    let spec = job.spec.as_ref().expect("spec");
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    let count = spec.completions.expect("completions") as u64;
    assert_eq!(
        spec.parallelism, spec.completions,
        "every shard runs at once: the shares add up to the whole load only then"
    );
    assert_eq!(
        spec.backoff_limit_per_index,
        Some(0),
        "a failed shard is not run again alone, out of step with the others"
    );
    let c = the_container(job_pod(&job));
    let mut dirs = Vec::new();
    for index in 0..count {
        let vars = env_of(c, &[("JOB_COMPLETION_INDEX", index.to_string())]);
        let argv = argv(c, &vars);
        let Command::Run { output, load, .. } = parse(&argv) else {
            panic!("shard {index} runs `{}`, not `cutover run`", argv.join(" "));
        };
        assert_eq!(load.shard, Some(Shard { index, count }), "{argv:?}");
        assert!(output.force && output.quiet, "{argv:?}");
        dirs.push(output.out.expect("each shard names its --out"));
    }
    dirs.sort();
    dirs.dedup();
    assert_eq!(
        dirs.len() as u64,
        count,
        "no two shards write the same report directory: {dirs:?}"
    );
}

#[test]
fn the_merge_job_merges_every_shard_the_indexed_job_writes() {
    let shards = job();
    let count = shards
        .spec
        .as_ref()
        .and_then(|s| s.completions)
        .expect("completions") as u64;
    let shard = the_container(job_pod(&shards));
    let mut written = Vec::new();
    let mut ran = None;
    for index in 0..count {
        let argv = argv(
            shard,
            &env_of(shard, &[("JOB_COMPLETION_INDEX", index.to_string())]),
        );
        if let Command::Run {
            output, scenario, ..
        } = parse(&argv)
        {
            written.extend(output.out);
            ran = Some(scenario);
        }
    }
    let merge = merge_job();
    assert_eq!(
        merge.spec.as_ref().and_then(|s| s.backoff_limit),
        Some(0),
        "a failing merged verdict is not retried"
    );
    let c = the_container(job_pod(&merge));
    let argv = argv(c, &env_of(c, &[]));
    let Command::Merge {
        reports,
        scenario,
        output,
        ..
    } = parse(&argv)
    else {
        panic!(
            "job-merge.yaml runs `{}`, not `cutover merge`",
            argv.join(" ")
        );
    };
    assert_eq!(
        reports, written,
        "the merge reads exactly the shards' report directories, one per completion index"
    );
    assert_eq!(scenario, ran, "the merge reads the scenario the shards ran");
    assert!(output.force, "{argv:?}");
    assert!(
        output.out.is_some_and(|o| !written.contains(&o)),
        "the merged report has a directory of its own"
    );
}

#[test]
fn the_smoke_cronjob_runs_a_check_whose_failing_verdict_fails_its_job() {
    let cron = cronjob();
    let spec = cron.spec.as_ref().expect("spec");
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    let job = spec.job_template.spec.as_ref().expect("job spec");
    assert_eq!(
        job.backoff_limit,
        Some(0),
        "a failing verdict is not retried until green"
    );
    let pod = cronjob_pod(&cron);
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let c = the_container(pod);
    let argv = argv(c, &env_of(c, &[]));
    let Command::Check { output, .. } = parse(&argv) else {
        panic!(
            "the smoke check runs `{}`, not `cutover check`",
            argv.join(" ")
        );
    };
    assert!(
        output.out.is_some() && output.force && output.quiet,
        "{argv:?}"
    );
}

/// The ConfigMap's scenario, validated with an empty environment: the pods
/// set no variable it could read.
fn scenario() -> Plan {
    let map: ConfigMap = manifest("configmap.yaml");
    let text = map
        .data
        .as_ref()
        .and_then(|d| d.get("scenario.yaml"))
        .expect("the ConfigMap has scenario.yaml");
    cutover::scenario::load_str(text, Path::new("scenario.yaml"), &|_| None)
        .unwrap_or_else(|e| panic!("deploy/configmap.yaml's scenario does not validate:\n{e}"))
}

#[test]
fn the_configmap_scenario_validates_with_a_load_and_no_event_command() {
    let plan = scenario();
    assert!(plan.load.is_some(), "the sharded Job runs a load");
    assert!(
        plan.events.is_empty(),
        "every shard would run each event's command, and the image has no shell to run it"
    );
}

#[test]
fn the_jobs_deadline_outlasts_the_scenarios_load() {
    let plan = scenario();
    let load = plan.load.as_ref().expect("a load");
    let length = cutover::load::schedule::Shape::new(&load.stages, 1.0, None).total();
    let job = job();
    let deadline = job
        .spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .expect("the Job has activeDeadlineSeconds");
    assert!(
        deadline as f64 > length.as_secs_f64() * 1.5,
        "activeDeadlineSeconds {deadline} leaves too little room for a {}s load",
        length.as_secs()
    );
}

/// Where a container's volumes are mounted: path → (volume, read-only).
fn mounts<'a>(
    pod: &'a PodSpec,
    c: &'a Container,
) -> Vec<(&'a str, &'a k8s_openapi::api::core::v1::Volume, bool)> {
    c.volume_mounts
        .iter()
        .flatten()
        .map(|m| {
            let volume = pod
                .volumes
                .iter()
                .flatten()
                .find(|v| v.name == m.name)
                .unwrap_or_else(|| panic!("mount `{}` names no volume of the pod", m.name));
            (m.mount_path.as_str(), volume, m.read_only == Some(true))
        })
        .collect()
}

#[test]
fn pods_read_the_scenario_from_the_configmap_and_write_only_to_the_shared_volume() {
    let map: ConfigMap = manifest("configmap.yaml");
    let map_name = map.metadata.name.as_deref().expect("ConfigMap name");
    let pvc: PersistentVolumeClaim = manifest("pvc.yaml");
    let claim = pvc.metadata.name.as_deref().expect("PVC name");
    let modes = pvc.spec.as_ref().and_then(|s| s.access_modes.clone());
    assert_eq!(
        modes,
        Some(vec!["ReadWriteMany".to_owned()]),
        "the shards on different nodes write to the same volume at once"
    );

    let job = job();
    let merge = merge_job();
    let cron = cronjob();
    let pods = [
        ("job-sharded.yaml", job_pod(&job), true),
        ("job-merge.yaml", job_pod(&merge), false),
        ("cronjob-smoke.yaml", cronjob_pod(&cron), false),
    ];
    for (file, pod, indexed) in pods {
        let c = the_container(pod);
        let mounts = mounts(pod, c);
        let index: &[(&str, String)] = if indexed {
            &[("JOB_COMPLETION_INDEX", "0".to_owned())]
        } else {
            &[]
        };
        let vars = env_of(c, index);
        let argv = argv(c, &vars);
        let (scenario, output) = match parse(&argv) {
            Command::Run {
                scenario, output, ..
            }
            | Command::Check { scenario, output } => (scenario, output),
            Command::Merge {
                scenario: Some(scenario),
                output,
                ..
            } => (scenario, output),
            _ => panic!(
                "{file} runs `{}`, not `run`, `check` or `merge --scenario`",
                argv.join(" ")
            ),
        };
        assert_eq!(indexed, argv.iter().any(|a| a == "--shard"), "{file}");

        // The scenario is a key of the ConfigMap, where it is mounted.
        let from_map = mounts.iter().any(|(path, v, _)| {
            v.config_map.as_ref().map(|m| m.name.as_str()) == Some(map_name)
                && scenario.parent() == Some(Path::new(path))
                && scenario
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|key| map.data.as_ref().is_some_and(|d| d.contains_key(key)))
        });
        assert!(
            from_map,
            "{file}: {} is not a key of ConfigMap `{map_name}` where it is mounted",
            scenario.display()
        );

        // What is written (the report, the JUnit file, and the marks file
        // `cutover mark` appends to) lies on the reports claim, mounted writable.
        let mut written: Vec<PathBuf> = output.out.into_iter().chain(output.junit).collect();
        written.extend(vars.get("CUTOVER_MARKS").map(PathBuf::from));
        assert!(!written.is_empty(), "{file}: names where the report goes");
        for path in written {
            assert!(
                path.is_absolute(),
                "{file}: {} is relative to the image's WORKDIR, on the read-only root",
                path.display()
            );
            let on_claim = mounts.iter().any(|(mount, v, read_only)| {
                !read_only
                    && path.starts_with(mount)
                    && v.persistent_volume_claim
                        .as_ref()
                        .map(|p| p.claim_name.as_str())
                        == Some(claim)
            });
            assert!(
                on_claim,
                "{file}: {} is not on a writable mount of claim `{claim}`",
                path.display()
            );
        }
    }
}

#[test]
fn pods_run_the_images_non_root_user_on_a_read_only_root_with_resources() {
    let image = image();
    let job = job();
    let merge = merge_job();
    let cron = cronjob();
    for (file, pod) in [
        ("job-sharded.yaml", job_pod(&job)),
        ("job-merge.yaml", job_pod(&merge)),
        ("cronjob-smoke.yaml", cronjob_pod(&cron)),
    ] {
        let c = the_container(pod);
        let tag = c
            .image
            .as_deref()
            .and_then(|i| i.rsplit_once(':'))
            .map(|(_, t)| t);
        assert_eq!(
            tag,
            Some(env!("CARGO_PKG_VERSION")),
            "{file}: the image tag is this crate's version"
        );
        assert_eq!(pod.automount_service_account_token, Some(false), "{file}");
        let pod_sc = pod.security_context.as_ref().expect("pod securityContext");
        assert_eq!(pod_sc.run_as_non_root, Some(true), "{file}");
        assert_eq!(
            pod_sc.run_as_user,
            Some(image.uid),
            "{file}: runs as the Dockerfile's USER"
        );
        let sc = c
            .security_context
            .as_ref()
            .expect("container securityContext");
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{file}");
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{file}");
        let dropped = sc.capabilities.as_ref().and_then(|k| k.drop.clone());
        assert_eq!(dropped, Some(vec!["ALL".to_owned()]), "{file}");

        let resources = c.resources.as_ref().expect("resources");
        for (what, set) in [
            ("requests", &resources.requests),
            ("limits", &resources.limits),
        ] {
            for name in ["cpu", "memory"] {
                assert!(
                    set.as_ref().is_some_and(|s| s.contains_key(name)),
                    "{file}: resources.{what}.{name} is set"
                );
            }
        }
    }
    // A throttled load generator counts its own stalls as latency.
    let c = the_container(job_pod(&job));
    let resources = c.resources.as_ref().expect("resources");
    assert_eq!(
        resources.requests.as_ref().map(|r| &r["cpu"]),
        resources.limits.as_ref().map(|r| &r["cpu"]),
        "a shard's CPU request equals its limit"
    );
}

// ---- the image -------------------------------------------------------------

/// What the Dockerfile says about the image, checked on the way.
struct Image {
    /// The ENTRYPOINT, exec form.
    entrypoint: Vec<String>,
    /// The runtime stage's numeric USER.
    uid: i64,
}

fn dockerfile() -> Vec<Stage> {
    stages(&instructions(&read("Dockerfile")))
}

/// The runtime stage (the last) and the stage it copies the binary from.
fn image() -> Image {
    let stages = dockerfile();
    let runtime = stages.last().expect("a FROM");
    let entrypoint = runtime
        .last("ENTRYPOINT")
        .and_then(|i| exec_form(&i.args))
        .expect("the runtime stage has an exec-form ENTRYPOINT");
    let user = runtime.last("USER").expect("the runtime stage sets USER");
    let uid = user
        .args
        .split(':')
        .next()
        .and_then(|u| u.parse::<i64>().ok())
        .unwrap_or_else(|| {
            panic!(
                "USER {} is not numeric: Kubernetes' runAsNonRoot cannot verify a name",
                user.args
            )
        });
    assert_ne!(uid, 0, "the image runs as root");
    Image { entrypoint, uid }
}

#[test]
fn the_image_is_built_in_one_stage_and_run_as_a_numeric_non_root_user_in_another() {
    let stages = dockerfile();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let build = &stages[0];
    assert_eq!(build.name.as_deref(), Some("build"));
    assert!(build.image.starts_with("rust:"), "built on {}", build.image);
    let cargo = build
        .all("RUN")
        .find(|i| i.args.contains("cargo build"))
        .expect("the build stage runs cargo build");
    for flag in ["--release", "--locked"] {
        assert!(words(&cargo.args).any(|w| w == flag), "cargo build {flag}");
    }
    let user = stages[1].last("USER").expect("USER");
    assert!(
        user.args
            .split(':')
            .all(|id| id.parse::<u32>().is_ok_and(|n| n != 0)),
        "USER {} is a numeric non-root user and group",
        user.args
    );
    image();
}

#[test]
fn the_entrypoint_is_the_binary_copied_from_the_build_stage() {
    let stages = dockerfile();
    let build = &stages[0];
    let runtime = stages.last().expect("FROM");
    let program = image().entrypoint[0].clone();
    // An absolute path, or a name on a PATH this Dockerfile sets (the base
    // image's own PATH is not visible from here).
    let path_dirs: Vec<String> = runtime
        .all("ENV")
        .filter_map(|i| i.args.strip_prefix("PATH="))
        .flat_map(|p| p.split(':').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let candidates: Vec<String> = if program.starts_with('/') {
        vec![program.clone()]
    } else {
        path_dirs.iter().map(|d| format!("{d}/{program}")).collect()
    };
    let copy = runtime
        .all("COPY")
        .map(|i| flags_and_words(&i.args))
        .find(|(flags, words)| {
            flags.get("from").map(String::as_str) == build.name.as_deref()
                && words.last().is_some_and(|dst| candidates.contains(dst))
        })
        .unwrap_or_else(|| {
            panic!("no COPY --from=build puts the binary where ENTRYPOINT {program} runs it (absolute, or on an ENV PATH)")
        });
    let source = &copy.1[0];
    // The build stage's cargo step leaves the release binary there.
    let cargo = build
        .all("RUN")
        .find(|i| i.args.contains("cargo build"))
        .expect("cargo build");
    let workdir = build.last("WORKDIR").map_or("/", |i| i.args.as_str());
    let built = format!("{}/target/release/cutover", workdir.trim_end_matches('/'));
    assert!(
        *source == built || words(&cargo.args).any(|w| w == source),
        "COPY --from=build takes {source}, which the cargo step does not write (it builds {built})"
    );
    assert!(
        cargo.args.contains("target/release/cutover"),
        "the binary is cutover"
    );
}

#[test]
fn the_runtime_image_has_the_ca_certificates_the_platform_verifier_reads() {
    let stages = dockerfile();
    let runtime = stages.last().expect("FROM");
    // Distroless base, cc and static ship /etc/ssl/certs/ca-certificates.crt.
    let distroless = ["base-", "cc-", "static-"]
        .iter()
        .any(|v| runtime.image.starts_with(&format!("gcr.io/distroless/{v}")));
    let installed = runtime.all("RUN").any(|i| {
        i.args.contains("apt-get install") && words(&i.args).any(|w| w == "ca-certificates")
    });
    assert!(
        distroless || installed,
        "{} has no CA certificates at /etc/ssl/certs: every https target would fail",
        runtime.image
    );
}

#[test]
fn the_build_and_runtime_images_are_the_same_debian_release() {
    // The binary links glibc dynamically: built on a newer Debian, it can
    // need symbols the runtime's glibc lacks.
    let debian = |image: &str| -> Option<u32> {
        [
            ("bookworm", 12),
            ("trixie", 13),
            ("debian12", 12),
            ("debian13", 13),
        ]
        .iter()
        .find(|(name, _)| image.contains(name))
        .map(|&(_, n)| n)
    };
    let stages = dockerfile();
    let (build, runtime) = (&stages[0], stages.last().expect("FROM"));
    assert!(
        debian(&build.image).is_some(),
        "{} names its Debian",
        build.image
    );
    assert_eq!(
        debian(&build.image),
        debian(&runtime.image),
        "{} and {}",
        build.image,
        runtime.image
    );
}

#[test]
fn the_build_toolchain_is_at_least_the_crates_rust_version() {
    let minor = |v: &str| -> u32 {
        let mut parts = v.split('.');
        assert_eq!(parts.next(), Some("1"), "Rust 1.x: {v}");
        parts
            .next()
            .and_then(|m| m.parse().ok())
            .expect("a minor version")
    };
    let manifest = read("Cargo.toml");
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"'))
        .expect("Cargo.toml has rust-version");
    let build = &dockerfile()[0];
    let tag = build.image.strip_prefix("rust:").expect("rust:TAG");
    let version = tag.split('-').next().expect("VERSION-debian");
    assert!(
        minor(version) >= minor(msrv),
        "rust:{tag} is older than rust-version {msrv}"
    );
}

#[test]
fn the_images_cmd_is_arguments_cutover_accepts() {
    let runtime = dockerfile().pop().expect("FROM");
    let cmd = runtime
        .last("CMD")
        .and_then(|i| exec_form(&i.args))
        .expect("an exec-form CMD");
    let mut argv = image().entrypoint;
    argv.extend(cmd);
    // --help and --version end in clap's "errors" that print and exit 0.
    if let Err(e) = Cli::try_parse_from(&argv) {
        use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
        assert!(
            matches!(e.kind(), DisplayHelp | DisplayVersion),
            "cutover refuses `{}`:\n{}",
            argv.join(" "),
            e.render()
        );
    }
}

#[test]
fn the_build_context_keeps_every_file_the_release_build_reads() {
    let ignore = DockerIgnore::parse(&read(".dockerignore"));
    for bulky in [".git", "target", "reports"] {
        assert!(
            ignore.excludes(bulky),
            ".dockerignore lets {bulky}/ into the build context"
        );
    }
    let stages = dockerfile();
    let copied: Vec<String> = stages[0]
        .all("COPY")
        .map(|i| flags_and_words(&i.args))
        .filter(|(flags, _)| !flags.contains_key("from"))
        .flat_map(|(_, mut words)| {
            words.pop(); // the destination
            words
        })
        .collect();
    let mut needed = vec!["Cargo.toml".to_owned(), "Cargo.lock".to_owned()];
    needed.extend(rust_files("src"));
    needed.extend(included_files());
    for file in &needed {
        assert!(
            !ignore.excludes(file),
            ".dockerignore keeps {file} out of the build context, and the build reads it"
        );
        let in_copy = copied.iter().any(|src| {
            let src = src.trim_start_matches("./").trim_end_matches('/');
            src == "." || file == src || file.starts_with(&format!("{src}/"))
        });
        assert!(in_copy, "the build stage copies no {file}");
    }
}

/// Every `.rs` file under `dir`, relative to the repository.
fn rust_files(dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root().join(dir)];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root()).expect("in the repository");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// The files `include_str!`/`include_bytes!` in src/ read at build time.
fn included_files() -> Vec<String> {
    let mut out = Vec::new();
    for file in rust_files("src") {
        let text = read(&file);
        for (i, _) in text.match_indices("include_") {
            let rest = &text[i..];
            let Some(arg) = ["include_str!(\"", "include_bytes!(\""]
                .iter()
                .find_map(|m| rest.strip_prefix(m))
            else {
                continue;
            };
            let rel = &arg[..arg.find('"').expect("a closing quote")];
            let dir = Path::new(&file).parent().expect("a directory");
            out.push(normalise(&dir.join(rel)));
        }
    }
    assert!(
        out.iter().any(|f| f == "scenarios/demo.yaml"),
        "the demo scenario is compiled in: {out:?}"
    );
    out
}

/// `a/b/../c` → `a/c`, without touching the filesystem.
fn normalise(path: &Path) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.iter().map(|p| p.to_str().expect("UTF-8")) {
        match part {
            "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// `.dockerignore`, for literal paths: a pattern excludes a path and all
/// under it, `!` includes again, the last matching line wins.
struct DockerIgnore {
    rules: Vec<(bool, String)>,
}

impl DockerIgnore {
    fn parse(text: &str) -> DockerIgnore {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (keep, pattern) = match l.strip_prefix('!') {
                    Some(p) => (true, p),
                    None => (false, l),
                };
                assert!(
                    !pattern.contains(['*', '?', '[']),
                    "this test reads literal .dockerignore paths only; teach it `{pattern}`"
                );
                let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
                (!keep, pattern.to_owned())
            })
            .collect();
        DockerIgnore { rules }
    }

    fn excludes(&self, path: &str) -> bool {
        self.rules
            .iter()
            .rev()
            .find(|(_, p)| path == p || path.starts_with(&format!("{p}/")))
            .is_some_and(|(exclude, _)| *exclude)
    }
}

// ---- a small Dockerfile reader -----------------------------------------------

/// One instruction: its keyword in upper case, its arguments with
/// continuation lines joined, and the line it starts on.
#[derive(Debug, PartialEq)]
struct Instruction {
    keyword: String,
    args: String,
    line: usize,
}

/// One `FROM image [AS name]` and what follows it.
struct Stage {
    image: String,
    name: Option<String>,
    body: Vec<Instruction>,
}

impl Stage {
    fn all(&self, keyword: &'static str) -> impl Iterator<Item = &Instruction> {
        self.body.iter().filter(move |i| i.keyword == keyword)
    }

    /// The one that counts: the last.
    fn last(&self, keyword: &str) -> Option<&Instruction> {
        self.body.iter().rfind(|i| i.keyword == keyword)
    }
}

/// The instructions of a Dockerfile with the default escape character:
/// comment and blank lines skipped (inside continuations too, as Docker
/// does), a trailing `\` joins the next line.
fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.starts_with("# escape=") {
            panic!("this test reads the default escape character only");
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (part, continues) = match raw.trim_end().strip_suffix('\\') {
            Some(p) => (p, true),
            None => (raw.trim_end(), false),
        };
        let (line, mut joined) = current.take().unwrap_or((n + 1, String::new()));
        joined.push_str(part);
        if continues {
            current = Some((line, joined));
            continue;
        }
        let joined = joined.trim();
        let (keyword, args) = joined
            .split_once(char::is_whitespace)
            .unwrap_or((joined, ""));
        assert!(
            !args.contains("<<"),
            "line {line}: this test does not read heredocs"
        );
        out.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_owned(),
            line,
        });
    }
    assert!(
        current.is_none(),
        "the Dockerfile ends inside a continuation"
    );
    out
}

fn stages(instructions: &[Instruction]) -> Vec<Stage> {
    let mut out: Vec<Stage> = Vec::new();
    for i in instructions {
        if i.keyword == "FROM" {
            let (_, words) = flags_and_words(&i.args);
            let (image, name) = match words.as_slice() {
                [image] => (image.clone(), None),
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    (image.clone(), Some(name.clone()))
                }
                _ => panic!("line {}: FROM {} is not `image [AS name]`", i.line, i.args),
            };
            out.push(Stage {
                image,
                name,
                body: Vec::new(),
            });
        } else {
            let stage = out
                .last_mut()
                .unwrap_or_else(|| panic!("line {}: {} before the first FROM", i.line, i.keyword));
            stage.body.push(Instruction {
                keyword: i.keyword.clone(),
                args: i.args.clone(),
                line: i.line,
            });
        }
    }
    out
}

fn words(args: &str) -> impl Iterator<Item = &str> {
    args.split_whitespace()
}

/// `--name=value` flags before the first other word, and the words.
fn flags_and_words(args: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let mut flags = BTreeMap::new();
    let mut rest = Vec::new();
    for w in words(args) {
        match w.strip_prefix("--") {
            Some(flag) if rest.is_empty() => {
                let (k, v) = flag.split_once('=').unwrap_or((flag, ""));
                flags.insert(k.to_owned(), v.to_owned());
            }
            _ => rest.push(w.to_owned()),
        }
    }
    (flags, rest)
}

/// The JSON array of the exec form, or `None` for the shell form.
fn exec_form(args: &str) -> Option<Vec<String>> {
    args.trim_start()
        .starts_with('[')
        .then(|| serde_json::from_str(args).expect("an exec form is a JSON array of strings"))
}

#[test]
fn the_dockerfile_reader_joins_continuations_and_reads_the_exec_form() {
    let text = "# syntax=docker/dockerfile:1\n\
                FROM rust:1.95-bookworm AS build\n\
                \n\
                RUN --mount=type=cache,target=/t \\\n\
                \x20   # a comment inside\n\
                \x20   cargo build \\\n\
                \x20&& true\n\
                from scratch\n\
                COPY --from=build /out/x /usr/local/bin/x\n\
                ENTRYPOINT [\"/usr/local/bin/x\", \"--flag\"]\n\
                CMD --help\n";
    let stages = stages(&instructions(text));
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0].name.as_deref(), Some("build"));
    let run = stages[0].last("RUN").expect("RUN");
    assert_eq!(run.line, 4);
    let (flags, words) = flags_and_words(&run.args);
    assert_eq!(flags["mount"], "type=cache,target=/t");
    assert_eq!(words, ["cargo", "build", "&&", "true"]);
    assert_eq!(stages[1].image, "scratch");
    assert_eq!(
        exec_form(&stages[1].last("ENTRYPOINT").expect("ENTRYPOINT").args),
        Some(vec!["/usr/local/bin/x".to_owned(), "--flag".to_owned()])
    );
    assert_eq!(exec_form(&stages[1].last("CMD").expect("CMD").args), None);
}
