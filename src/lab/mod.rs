//! TEMPORARY STUB (replaced by the real lab).
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
#[derive(Default, Debug, Clone, Copy)]
pub struct LabPorts { pub ingress_http: u16, pub ingress_https: u16, pub gateway_http: u16, pub gateway_https: u16 }
pub struct LabConfig { pub host: String, pub ingress_hostnames: Vec<String>, pub gateway_hostnames: Vec<String>, pub ports: LabPorts }
impl LabConfig { pub fn new(host: impl Into<String>) -> Self { let host = host.into(); LabConfig { ingress_hostnames: vec![host.clone()], gateway_hostnames: vec![host.clone()], host, ports: LabPorts::default() } } }
#[derive(Default, Debug)]
pub struct Switches { pub app_down: AtomicBool, pub gateway_redirect_301: AtomicBool, pub gateway_strict_prefix: AtomicBool, pub gateway_extra_latency_ms: AtomicU64, pub app_stall_ms: AtomicU64 }
pub struct Lab { pub ingress_http: SocketAddr, pub ingress_https: SocketAddr, pub gateway_http: SocketAddr, pub gateway_https: SocketAddr, pub host: String, pub ca_pem: String, pub switches: Arc<Switches> }
impl Lab {
    pub async fn start(_c: LabConfig) -> std::io::Result<Lab> { Err(std::io::Error::other("stub")) }
    pub fn scenario_yaml(&self, _ca: &std::path::Path, _https: bool) -> String { String::new() }
    pub async fn shutdown(self) {}
}
