//! `cutover init`: a scenario and a migration lint from the cluster's
//! Ingress, HTTPRoute and Gateway manifests (being built).

pub mod k8s;
pub mod lint;
pub mod read;
