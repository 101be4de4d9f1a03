//! The one integration-test binary: real servers on 127.0.0.1:0, the built
//! `cutover` binary where exit codes and files matter, the library where a
//! sample's details matter.

mod analysis;
mod behaviour;
mod cli;
mod diagnostics;
mod dns;
mod false_alarms;
mod hardening;
mod hostile;
mod http_checks;
mod load;
mod load_verdicts;
mod nginx;
mod parity;
mod powerdns;
mod render;
mod scenario_props;
mod scenarios;
mod support;
mod verdict;
mod ws_cors;
