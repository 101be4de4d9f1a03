//! cutover: prove that a cluster can move from ingress-nginx to a Gateway API
//! implementation (kgateway, built on Envoy) without its users noticing.
//!
//! # Glossary
//!
//! - **Scenario**: the YAML file a user writes: production host, targets, checks,
//!   load, events, analysis rules, known differences. Validated as a whole into
//!   a **Plan** ([`scenario`]).
//! - **Target**: one path to the same hostname, `ingress` (old) or `gateway`
//!   (new); where to connect while keeping the production Host and SNI ([`target`]).
//!   One target is the **baseline** the others are compared with.
//! - **Check**: one kind of probe with its expectations and parity rules.
//! - **Probe**: runs a check once against one target and returns a **Sample**
//!   ([`probe`]).
//! - **Sample**: what one probe saw: status, headers, body digest, timings, the
//!   response's **origin** (gateway, ingress or app), or a typed error kind.
//! - **Check pass**: every check once against each of its targets.
//! - **Load**: the scenario's **stages** (constant rates, ramps, closed
//!   concurrency, held WebSockets) driven against each target separately by
//!   one engine ([`load`]); an **arrival** is one intended request start.
//! - **Bucket**: everything recorded for one target × check in one second (or
//!   in total): HDR histograms and counters ([`record`]); a **series** is a
//!   key's buckets second by second.
//! - **Event**: something on the load's timeline: a scenario event (a command
//!   run at an offset, a deploy) or a **mark** added with `cutover mark`.
//! - **Recorded run**: what the run observed, handed on unjudged ([`run`]).
//! - **Finding**: one conclusion with kind, level, check, target, message,
//!   evidence and hint ([`analyze::finding`]). **Levels**: `fail` (fails the
//!   run), `warn`, `inconclusive` (a statistical judgement without enough
//!   data), `accepted` (matched by a **known difference** of the scenario),
//!   `info`.
//! - **Verdict**: every finding of a run, each check × target's pass, fail,
//!   error or skipped, and how the run ended ([`analyze::verdict`]).
//! - **Spike**: a run of seconds with 503s above the rule and the baseline
//!   before an event. **Regression**: a target slower than the baseline target
//!   (or than a saved run), confirmed by a Mann-Whitney U test.
//! - **Abort rail**: the rule that stops the load when a target keeps failing.
//! - **Report**: the one serde model every renderer reads ([`report`]);
//!   **headline**: the verdict line all renderers print.
//! - **Lab**: loopback emulators of both paths for `demo` and tests ([`lab`]).
//! - **Watch**: `cutover watch`, hours of monitoring during the DNS shift
//!   ([`watch`]): a steady low rate into a **ring** of seconds judged over
//!   rolling **windows**, the check pass again every minute, per-minute
//!   **aggregates**; an **alert** is a rule's state per target and check,
//!   **raised** once and **cleared** when its condition ends
//!   ([`analyze::alerts`]); a **checkpoint** rewrites the report files.
//! - **Init**: `cutover init`, a scenario and a migration **lint** from the
//!   cluster's Ingress, HTTPRoute and Gateway manifests ([`init`]);
//!   **boundary probes** are the requests where the two sides' path
//!   semantics differ.
//! - **Shard**: one of several processes splitting a run's load exactly
//!   (`--shard i/n`, [`load::engine::Shard`]); **merge** combines their
//!   reports into one judged report ([`merge`]).
//!
//! # Data flow and allowed edges
//!
//! scenario → plan → run (I/O only) → recorded samples and series → analyze
//! (pure) → verdict → report model → renderers → exit code. Nothing flows
//! back: no analyzer reads the report model, no renderer decides what failed.
//!
//! - [`cli`] parses arguments, dispatches, wires the run to the analyzers
//!   (the abort rail watches each closed second), maps the verdict to the
//!   exit code. It may use every module.
//! - [`run`] uses [`load`], [`probe`], [`record`], [`target`] and the plan;
//!   never [`analyze`] or [`report`]. Its `recorded` types are data only.
//! - [`analyze`] reads the plan, [`run::recorded`], [`record`] and [`probe`]
//!   samples; no I/O, no clock, never [`report`].
//! - [`report`] reads [`analyze`]'s verdict and findings, the recorded run and
//!   the plan; its renderers read only the report model.
//! - [`load`] uses [`probe`], [`record`] and [`target`], and one pure
//!   function of [`analyze`]: `analyze::expect::fails`, which classifies each
//!   load answer against its check's expectation as it is recorded (a count,
//!   like the origin classifier's; the verdict is still judged afterwards).
//!   [`record`] uses [`probe`]'s sample types; [`probe`] uses [`target`].
//! - The plan ([`scenario::plan`]) holds the analyzers' rule types and the
//!   load plan; the analyzers read the plan. At module level these are type
//!   references both ways; between files there is no import cycle.
//! - [`watch`] is `watch`'s orchestration, as [`run`] is `run`'s: it uses
//!   [`run`] (connectors, the check pass, marks), [`probe`], [`record`]
//!   (its ring and aggregates live in `record::window`), [`analyze`] (the
//!   same analyzers, on windows and passes, as it goes) and [`report`]'s
//!   builder; it writes nothing itself: a `watch::Sink` (the [`cli`])
//!   prints and writes. Its `metrics` and `webhook` are I/O leaves the CLI
//!   drives. [`analyze::alerts`] reads `record::window`.
//! - [`init`] reads manifests (its only I/O) into its own types and writes
//!   scenario text; it uses no other module (the CLI validates what it
//!   writes with [`scenario`]).
//! - [`merge`] is `merge`'s orchestration: saved shard reports (the report
//!   model, read as `cutover report` reads one) are its input as sockets are
//!   [`run`]'s; it restores them into a recorded load ([`record`],
//!   [`run::recorded`], the load schedule), judges that with [`analyze`] and
//!   lays it out with [`report`]'s builder. Nothing flows back into a run.
//! - [`lab`] is a set of servers; only [`cli`] and the tests start it.
//! - [`hdr`] and [`jsondiff`] (JSON diffs by pointer, pointer patterns) are
//!   pure leaves that any module may use; `report::atomic` writes files
//!   whole (temp file, fsync, rename) for every report file.

pub mod analyze;
pub mod cli;
pub mod hdr;
pub mod init;
pub mod jsondiff;
pub mod lab;
pub mod load;
pub mod merge;
pub mod probe;
pub mod record;
pub mod report;
pub mod run;
pub mod scenario;
pub mod target;
pub mod watch;
