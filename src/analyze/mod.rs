//! Analysis: pure functions from the plan and the recorded run to one
//! [`Verdict`]. No I/O and no clock here: every analyzer is tested on
//! synthetic data, and the same functions judge a finished run and (later) a
//! watch window.
//!
//! - [`verdict`]: the entry point, [`judge`]; each check × target's verdict
//!   and the run's status;
//! - [`finding`]: the typed [`Finding`], [`FindingKind`], [`Level`] and
//!   [`finding::Evidence`];
//! - [`checks`]: the check pass, using [`expect`] (a sample against its
//!   check's expectations), [`parity`] (a target against the baseline
//!   target, by JSON pointer with [`crate::jsondiff`], minus the noise learned
//!   from the baseline's own answers), [`reproduce`] (a curl line per
//!   target for every parity finding), [`cors`], [`dns`] and [`hints`]
//!   (known migration pitfalls);
//! - [`behaviour`]: behaviour checks, both targets side by side:
//!   [`rate_limit`] (per client or shared), [`body_limit`],
//!   [`route_timeout`], [`redirect`], [`forwarded`] headers;
//! - [`load`]: failures under load, sampled [`load_parity`] (Diffy's raw
//!   against noise counts per pointer), [`latency`] regressions, [`spike`]s after
//!   events, thresholds, failed events, a saved baseline;
//! - [`abort`]: the abort rail, fed one closed second at a time during the
//!   load;
//! - [`known`]: the scenario's `known_differences`;
//! - [`stats`]: the statistics they share (chi-square, Wilson interval,
//!   Mann-Whitney U), tested against reference values from scipy.

pub mod abort;
pub mod alerts;
pub mod behaviour;
pub mod body_limit;
pub mod checks;
pub mod cors;
pub mod dns;
pub mod dns_changes;
pub mod expect;
pub mod finding;
pub mod forwarded;
pub mod grpc;
pub mod hints;
pub mod hostnames;
pub mod known;
pub mod latency;
pub mod load;
pub mod load_parity;
pub mod parity;
pub mod rate_limit;
pub mod redirect;
pub mod reproduce;
pub mod route_timeout;
pub mod sides;
pub mod spike;
pub mod stats;
pub mod verdict;
pub mod version;

pub use finding::{Finding, FindingKind, Level};
pub use verdict::{judge, CheckVerdict, RunStatus, Verdict};
