//! `cutover init`: a scenario and a migration lint from the cluster's
//! Ingress, HTTPRoute and Gateway manifests.
//!
//! [`read`] turns files, directories and stdin into typed objects
//! ([`k8s`]), naming each broken document; [`generate`] writes the checks
//! that prove each path and annotation with traffic, boundary probes where
//! the two sides' path semantics differ; [`lint`] says before any traffic
//! what the manifests already show; [`report`] renders both. Pure but for
//! `read`; the CLI writes the files.

pub mod generate;
pub mod k8s;
pub mod lint;
pub mod read;
pub mod report;
