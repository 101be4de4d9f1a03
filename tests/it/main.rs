//! The one integration-test binary: real servers on 127.0.0.1:0, the built
//! `cutover` binary where exit codes and files matter, the library where a
//! sample's details matter.

// html.rs builds a whole report with one `json!`.
#![recursion_limit = "512"]

mod analysis;
mod behaviour;
mod cli;
mod deploy;
mod diagnostics;
mod dns;
mod false_alarms;
mod grpc;
mod h2;
mod hardening;
mod hostile;
mod hostnames;
mod html;
mod http_checks;
mod init;
mod init_lint;
mod load;
mod load_h2;
mod load_verdicts;
mod merge;
mod metrics;
mod nginx;
mod parity;
mod powerdns;
mod render;
mod scenario_props;
mod scenarios;
mod shard;
mod ship;
mod support;
mod verdict;
mod watch;
mod ws_cors;
