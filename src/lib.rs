//! cutover: prove that a cluster can move from ingress-nginx to a Gateway API
//! implementation (kgateway, built on Envoy) without its users noticing.
//!
//! # Glossary
//!
//! - **Scenario**: the YAML file a user writes: production host, targets, checks,
//!   load. Validated as a whole into a **Plan** ([`scenario`]).
//! - **Target**: one path to the same hostname, `ingress` (old) or `gateway`
//!   (new); where to connect while keeping the production Host and SNI ([`target`]).
//! - **Check**: one kind of probe with its expectations and parity rules.
//! - **Probe**: runs a check once against one target and returns a **Sample**
//!   ([`probe`]).
//! - **Sample**: what one probe saw: status, headers, body digest, timings, the
//!   response's **origin** (gateway, ingress or app), or a typed error kind.
//! - **Finding**: something a user must look at, with check, target, severity,
//!   message and evidence ([`analyze`]).
//! - **Report**: the one serde model every renderer reads ([`report`]).
//! - **Lab**: loopback emulators of both paths for `demo` and tests ([`lab`]).
//!
//! Data flows one way: scenario → plan → probes → samples → analysis → report →
//! exit code.

pub mod analyze;
pub mod cli;
pub mod hdr;
pub mod lab;
pub mod load;
pub mod probe;
pub mod record;
pub mod report;
pub mod scenario;
pub mod session;
pub mod target;
