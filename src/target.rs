//! Targets: the paths to the same production hostname (old ingress, new gateway, …).
//!
//! A target says where to *connect* (an IP or load-balancer hostname, and a
//! port) while every request keeps the production `Host` header and TLS SNI,
//! like `curl --connect-to`. [`Target::connector`] resolves the address once
//! and builds reqwest clients pinned to it with `ClientBuilder::resolve_to_addrs`
//! and the target's trust settings. A target whose address does not resolve is
//! still a [`Connector`]: every probe through it ends as a classified `dns` error.
//!
//! Every client reports how far a request's connection got through a
//! [`ConnectWatch`] (a connector layer), so a probe whose deadline passes
//! while the connection is still opening can say `connect_timeout`, not
//! `timeout`, however the two timers race.
//!
//! Clients speak HTTP/1.1 ([`Wire::Http1`], every probe's default, so a Host
//! header goes verbatim) unless a check asks for more: [`Wire::Alpn`] offers
//! `h2` and `http/1.1` on https (the server chooses), [`Wire::H2c`] speaks
//! HTTP/2 with prior knowledge (ALPN `h2` alone on https). The HTTP/2-capable
//! clients are built on first use.
//!
//! A leaf of the crate: targets know nothing of probes. Why a connector is not
//! ready is a [`ConnectError`]; probes turn it into their own typed error.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a target could not be made ready to send. Probes turn it into their
/// own error (`dns` or `tls`); the target module depends on no probe type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectError {
    pub failure: ConnectFailure,
    /// A full sentence naming the address or the TLS setting at fault.
    pub message: String,
}

/// Which step of getting a target ready failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The connect address did not resolve.
    Resolve,
    /// The TLS client could not be set up from the target's trust settings.
    TlsSetup,
}

impl ConnectError {
    fn new(failure: ConnectFailure, message: impl Into<String>) -> Self {
        ConnectError {
            failure,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}

/// Which path a target is in the migration; decides what a proxy signature means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The old path (ingress-nginx).
    Ingress,
    /// The new path (a Gateway API implementation).
    Gateway,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingress => "ingress",
            Role::Gateway => "gateway",
        }
    }
}

/// The proxy software in front of the app on a target's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proxy {
    Nginx,
    Envoy,
}

impl Proxy {
    pub fn as_str(self) -> &'static str {
        match self {
            Proxy::Nginx => "nginx",
            Proxy::Envoy => "envoy",
        }
    }

    /// What a role runs unless the scenario says otherwise.
    pub fn default_for(role: Role) -> Proxy {
        match role {
            Role::Ingress => Proxy::Nginx,
            Role::Gateway => Proxy::Envoy,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// `host:port` to connect to; host is an IP or a DNS name (a load balancer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    pub host: String,
    pub port: u16,
}

impl Connect {
    /// Parses `10.0.0.1:443`, `[::1]:8443` or `lb.example.com:443`.
    pub fn parse(text: &str) -> Result<Connect, String> {
        let bad = || {
            format!("invalid connect address `{text}`: write host:port, like 203.0.113.10:443 or lb.example.com:443")
        };
        if let Ok(sa) = text.parse::<SocketAddr>() {
            return Ok(Connect {
                host: sa.ip().to_string(),
                port: sa.port(),
            });
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let valid_name = !host.is_empty()
            && host.len() <= 253
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !valid_name || port == 0 {
            return Err(bad());
        }
        Ok(Connect {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// How a target's TLS certificate is trusted.
#[derive(Clone, Debug, Default)]
pub struct Tls {
    /// A PEM bundle to trust instead of the system roots.
    pub ca: Option<PathBuf>,
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any certificate (reported in the report; use for lab and staging only).
    pub insecure: bool,
}

/// One path to the production hostname.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub role: Role,
    pub proxy: Proxy,
    pub connect: Connect,
    /// Host header and SNI sent through this target (the scenario's host unless overridden).
    pub host: String,
    pub scheme: Scheme,
    pub tls: Tls,
    /// Extra request headers for every request through this target.
    pub headers: Vec<(String, String)>,
    /// What weighted DNS answers with for this target (addresses or CNAME
    /// targets); empty = the connect host.
    pub dns_answers: Vec<String>,
}

/// Makes the process-wide rustls provider ring (reqwest is built without one).
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A target made ready to send: its address resolved, its clients built.
#[derive(Clone)]
pub struct Connector {
    pub target: Arc<Target>,
    resolved: Result<Vec<SocketAddr>, ConnectError>,
    plain: Option<reqwest::Client>,
    following: Option<reqwest::Client>,
    /// The HTTP/2-capable clients, built on first use: `[protocol][follow]`
    /// for [`Wire::Alpn`] and [`Wire::H2c`].
    h2: [[std::sync::OnceLock<Option<reqwest::Client>>; 2]; 2],
    extra_hosts: Vec<String>,
    connect_timeout: Duration,
}

/// What a client speaks on a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Wire {
    /// HTTP/1.1 only (ALPN `http/1.1` on https): every probe but the HTTP
    /// and gRPC checks that ask for more, so a Host header is sent verbatim.
    #[default]
    Http1,
    /// ALPN `h2` then `http/1.1` on https (the server chooses), HTTP/1.1 on
    /// plain http: what a browser does.
    Alpn,
    /// HTTP/2 with prior knowledge (cleartext `h2c` on plain http; on https,
    /// ALPN `h2` only).
    H2c,
}

/// How a one-off client differs from a target's own (behaviour probes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// Bind this local (source) address before connecting.
    pub local: Option<IpAddr>,
    /// Connect to this port of the resolved addresses instead of the target's.
    pub port: Option<u16>,
}

impl Target {
    /// Resolves the connect address and builds the clients; never fails: a
    /// resolution or TLS-setup failure is kept and returned by every probe.
    ///
    /// `extra_hosts` are other Host/SNI names that checks send through this
    /// target; they are pinned to the same address.
    pub async fn connector(
        self: Arc<Self>,
        extra_hosts: &[String],
        connect_timeout: Duration,
    ) -> Connector {
        init_tls();
        let resolved = self.resolve().await;
        let (plain, following) = match &resolved {
            Ok(addrs) => (
                self.build_client(addrs, extra_hosts, false, connect_timeout, None)
                    .ok(),
                self.build_client(addrs, extra_hosts, true, connect_timeout, None)
                    .ok(),
            ),
            Err(_) => (None, None),
        };
        Connector {
            target: self,
            resolved,
            plain,
            following,
            h2: Default::default(),
            extra_hosts: extra_hosts.to_vec(),
            connect_timeout,
        }
    }

    async fn resolve(&self) -> Result<Vec<SocketAddr>, ConnectError> {
        if let Ok(ip) = self.connect.host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.connect.port)]);
        }
        match tokio::net::lookup_host((self.connect.host.as_str(), self.connect.port)).await {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if addrs.is_empty() {
                    Err(ConnectError::new(
                        ConnectFailure::Resolve,
                        format!("`{}` resolved to no address", self.connect.host),
                    ))
                } else {
                    Ok(addrs)
                }
            }
            Err(e) => Err(ConnectError::new(
                ConnectFailure::Resolve,
                format!("could not resolve `{}`: {e}", self.connect.host),
            )),
        }
    }

    fn build_client(
        &self,
        addrs: &[SocketAddr],
        extra_hosts: &[String],
        follow_redirects: bool,
        connect_timeout: Duration,
        local: Option<IpAddr>,
    ) -> Result<reqwest::Client, reqwest::Error> {
        self.build_client_for(
            Wire::Http1,
            addrs,
            extra_hosts,
            follow_redirects,
            connect_timeout,
            local,
        )
    }

    fn build_client_for(
        &self,
        wire: Wire,
        addrs: &[SocketAddr],
        extra_hosts: &[String],
        follow_redirects: bool,
        connect_timeout: Duration,
        local: Option<IpAddr>,
    ) -> Result<reqwest::Client, reqwest::Error> {
        let b = reqwest::Client::builder();
        let b = match wire {
            Wire::Http1 => b.http1_only(),
            Wire::Alpn => b,
            Wire::H2c => b.http2_prior_knowledge(),
        };
        let mut b = b
            .local_address(local)
            .no_proxy()
            .resolve_to_addrs(&host_name(&self.host), addrs);
        for h in extra_hosts {
            b = b.resolve_to_addrs(&host_name(h), addrs);
        }
        let mut b = b
            .connect_timeout(connect_timeout)
            .connector_layer(WatchConnects)
            .redirect(if follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            })
            .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.tls.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)?;
            b = b.tls_certs_only(certs);
        }
        if self.tls.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        b.build()
    }

    /// The URL for a path: always the production host, never the connect
    /// address. `host` may be any Host a client sends; the URL (and so the
    /// TLS SNI and the pinned address) carries its [`host_name`].
    pub fn url(&self, host: &str, path_and_query: &str) -> String {
        format!(
            "{}://{}{}",
            self.scheme.as_str(),
            host_name(host),
            path_and_query
        )
    }
}

/// The DNS name in a Host value: lower case, without a port or a trailing
/// dot. `Shop.Example.com.:443` names `shop.example.com`, and that is what
/// SNI and address pinning use; the Host header itself is sent as written.
pub fn host_name(host: &str) -> String {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl Connector {
    /// The resolved addresses, or why there are none.
    pub fn addrs(&self) -> Result<&[SocketAddr], &ConnectError> {
        self.resolved.as_deref()
    }

    /// A rustls client configuration with this target's trust settings (for
    /// the load engine, which drives TLS itself); HTTP/1.1 over ALPN.
    pub fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
        self.tls_config_alpn(b"http/1.1")
    }

    /// [`Connector::tls_config`] offering `h2` alone in ALPN: the load
    /// engine's HTTP/2 connections, where a server that does not choose it
    /// is an error, never a fallback to HTTP/1.1.
    pub fn tls_config_h2(&self) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
        self.tls_config_alpn(b"h2")
    }

    fn tls_config_alpn(&self, alpn: &[u8]) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
        let tls_err = |e: String| ConnectError::new(ConnectFailure::TlsSetup, e);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(e.to_string()))?;
        let tls = &self.target.tls;
        let mut config = if tls.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
                .with_no_client_auth()
        } else if let Some(pem) = &tls.ca_pem {
            let mut roots = rustls::RootCertStore::empty();
            for cert in <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| tls_err(format!("bad CA PEM: {e}")))?;
                roots.add(cert).map_err(|e| tls_err(e.to_string()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            let verifier = rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| tls_err(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        };
        config.alpn_protocols = vec![alpn.to_vec()];
        Ok(Arc::new(config))
    }

    /// A one-off client (never following redirects) bound to a source
    /// address or aimed at another port of the same addresses: the rate-limit
    /// probe's second client, the redirect probe's plain-HTTP request.
    pub fn client_with(&self, options: ClientOptions) -> Result<reqwest::Client, ConnectError> {
        let addrs = self.resolved.as_ref().map_err(Clone::clone)?;
        let addrs: Vec<SocketAddr> = addrs
            .iter()
            .map(|a| SocketAddr::new(a.ip(), options.port.unwrap_or(a.port())))
            .collect();
        self.target
            .build_client(
                &addrs,
                &self.extra_hosts,
                false,
                self.connect_timeout,
                options.local,
            )
            .map_err(|e| {
                ConnectError::new(
                    ConnectFailure::TlsSetup,
                    format!(
                        "could not set up a client for target `{}`: {e}",
                        self.target.name
                    ),
                )
            })
    }

    /// The client for a request, or the reason none can be sent.
    pub fn client(&self, follow_redirects: bool) -> Result<&reqwest::Client, ConnectError> {
        self.client_for(Wire::Http1, follow_redirects)
    }

    /// The client speaking `wire` (HTTP/2-capable ones are built on first use).
    pub fn client_for(
        &self,
        wire: Wire,
        follow_redirects: bool,
    ) -> Result<&reqwest::Client, ConnectError> {
        let addrs = match &self.resolved {
            Err(e) => return Err(e.clone()),
            Ok(a) => a,
        };
        let c = match wire {
            Wire::Http1 if follow_redirects => self.following.as_ref(),
            Wire::Http1 => self.plain.as_ref(),
            Wire::Alpn | Wire::H2c => {
                let slot = &self.h2[usize::from(wire == Wire::H2c)][usize::from(follow_redirects)];
                slot.get_or_init(|| {
                    self.target
                        .build_client_for(
                            wire,
                            addrs,
                            &self.extra_hosts,
                            follow_redirects,
                            self.connect_timeout,
                            None,
                        )
                        .ok()
                })
                .as_ref()
            }
        };
        c.ok_or_else(|| {
            ConnectError::new(
                ConnectFailure::TlsSetup,
                format!("could not set up TLS for target `{}`", self.target.name),
            )
        })
    }
}

/// How far the connection of one request got: set by the clients' connector
/// layer while the request runs inside [`ConnectWatch::watch`].
///
/// A pooled connection is never connected again, so the watch stays idle.
/// When hyper hands the request a pooled connection that freed up while a
/// new one was still opening, the new one keeps opening in the background
/// and the watch may still say `opening`: a rare race, and only for requests
/// that also outlive their deadline.
#[derive(Clone, Debug, Default)]
pub struct ConnectWatch(Arc<AtomicU8>);

const IDLE: u8 = 0;
const OPENING: u8 = 1;
const OPEN: u8 = 2;

tokio::task_local! {
    static WATCH: ConnectWatch;
}

impl ConnectWatch {
    /// Runs `fut` (a request of a [`Connector`]'s client) under this watch.
    pub async fn watch<F: Future>(&self, fut: F) -> F::Output {
        WATCH.scope(self.clone(), fut).await
    }

    /// True while a connection for the watched request is being opened
    /// (TCP connect, then the TLS handshake).
    pub fn opening(&self) -> bool {
        self.0.load(Ordering::Relaxed) == OPENING
    }

    fn set(&self, state: u8) {
        self.0.store(state, Ordering::Relaxed);
    }
}

/// The connector layer behind [`ConnectWatch`].
#[derive(Clone, Copy, Debug)]
struct WatchConnects;

impl<S> tower_layer::Layer<S> for WatchConnects {
    type Service = Watched<S>;

    fn layer(&self, inner: S) -> Watched<S> {
        Watched(inner)
    }
}

#[derive(Clone, Debug)]
struct Watched<S>(S);

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, R> tower_service::Service<R> for Watched<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Boxed<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        // hyper calls the connector while polling the request, so inside its watch.
        let watch = WATCH.try_with(ConnectWatch::clone).ok();
        if let Some(w) = &watch {
            w.set(OPENING);
        }
        let connecting = self.0.call(req);
        Box::pin(async move {
            let result = connecting.await;
            if let Some(w) = watch {
                w.set(if result.is_ok() { OPEN } else { IDLE });
            }
            result
        })
    }
}

/// `tls: { insecure: true }`: accepts any certificate, still checks handshake signatures.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connect_addresses() {
        assert_eq!(
            Connect::parse("203.0.113.10:443").unwrap().to_string(),
            "203.0.113.10:443"
        );
        assert_eq!(
            Connect::parse("[::1]:8443").unwrap().to_string(),
            "[::1]:8443"
        );
        let lb = Connect::parse("k8s-gw-1234.elb.us-east-1.amazonaws.com:443").unwrap();
        assert_eq!(lb.host, "k8s-gw-1234.elb.us-east-1.amazonaws.com");
        assert!(Connect::parse("10.0.0.1").is_err());
        assert!(Connect::parse("host:http").is_err());
        assert!(Connect::parse("bad host:80").is_err());
        assert!(Connect::parse(":80").is_err());
    }

    #[test]
    fn a_host_value_names_its_lowercase_name_without_port_or_trailing_dot() {
        assert_eq!(host_name("Shop.Example.COM.:443"), "shop.example.com");
        assert_eq!(host_name("shop.example.com."), "shop.example.com");
        assert_eq!(host_name("shop.example.com:8080"), "shop.example.com");
        assert_eq!(host_name("shop.example.com"), "shop.example.com");
        assert_eq!(host_name("127.0.0.1:80"), "127.0.0.1");
    }
}
