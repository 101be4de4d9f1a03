//! Certificates for the lab's HTTPS listeners.
//!
//! Owns one throw-away CA generated at start and one leaf certificate it signs.
//! The rustls config uses the ring provider explicitly, so nothing depends on
//! a process-wide default provider being installed.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

/// Generates a CA and a leaf certificate for `host`, `*.host`, every name in
/// `extra_names`, `localhost` and `127.0.0.1`; returns the CA's PEM and a
/// server config presenting the leaf (ALPN `http/1.1`; the listeners set
/// their own ALPN lists).
pub fn generate(host: &str, extra_names: &[String]) -> io::Result<(String, ServerConfig)> {
    let pems = generate_pem(host, extra_names)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pems.leaf_key_der));
    let chain = vec![pems.leaf_der.into(), pems.ca_der.into()];
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((pems.ca_pem, config))
}

/// A CA and a leaf it signs, in PEM (for servers of other software, like the
/// real nginx of the tests) and DER.
pub struct Pems {
    pub ca_pem: String,
    /// The leaf certificate then the CA's: a server's chain.
    pub chain_pem: String,
    pub leaf_key_pem: String,
    leaf_der: Vec<u8>,
    ca_der: Vec<u8>,
    leaf_key_der: Vec<u8>,
}

/// Generates the CA and leaf [`generate`] presents, as PEM.
pub fn generate_pem(host: &str, extra_names: &[String]) -> io::Result<Pems> {
    let ca_key = KeyPair::generate().map_err(io::Error::other)?;
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "cutover lab CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(io::Error::other)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names = vec![host.to_owned(), format!("*.{host}")];
    names.extend(extra_names.iter().cloned());
    names.extend(["localhost".to_owned(), "127.0.0.1".to_owned()]);
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));

    let leaf_key = KeyPair::generate().map_err(io::Error::other)?;
    let mut leaf_params = CertificateParams::new(names).map_err(io::Error::other)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, host);
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &issuer)
        .map_err(io::Error::other)?;

    Ok(Pems {
        ca_pem: ca_cert.pem(),
        chain_pem: format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
        leaf_key_pem: leaf_key.serialize_pem(),
        leaf_der: leaf_cert.der().to_vec(),
        ca_der: ca_cert.der().to_vec(),
        leaf_key_der: leaf_key.serialize_der(),
    })
}
