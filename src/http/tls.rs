//! TLS for the webhook client: which certificate authorities it trusts and
//! the handshake over an already connected smol `TcpStream`.
//!
//! Trust is built once (at startup, or on the first `https://` webhook for the
//! free `post_json`) and shared as an `Arc<ClientConfig>`: reading the system
//! store and parsing roots per request would waste the reactor's time.
//! Roots are the bundled Mozilla set (`webpki-roots`, so the gateway works on
//! boxes without a CA store), plus the system store when one exists, plus any
//! CA certificates the operator adds from a PEM file (private receivers).
//! Certificate and name verification are always on: there is no switch to
//! turn them off, a receiver with a private CA gets its CA added instead.
//! The `ring` provider is used explicitly, so the build needs no cmake/nasm
//! and a second provider pulled in by another crate cannot make rustls panic.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use futures_rustls::client::TlsStream;
use futures_rustls::TlsConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use smol::net::TcpStream;

use super::client::ClientError;

/// Why the webhook client's TLS trust could not be set up; reported at
/// startup so a bad `ca_file` is noticed before the first webhook is lost.
#[derive(Debug)]
pub enum TlsSetupError {
    /// The extra CA file could not be read or is not valid PEM.
    CaFile {
        /// The file as configured.
        path: PathBuf,
        /// What went wrong reading or decoding it.
        reason: String,
    },
    /// The extra CA file holds no `CERTIFICATE` block (a key or an empty
    /// file by mistake); trusting nothing new would fail silently later.
    NoCertificates(PathBuf),
    /// rustls refused a certificate as a trust anchor, or the configuration.
    Rustls(rustls::Error),
}

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSetupError::CaFile { path, reason } => {
                write!(f, "CA file {}: {reason}", path.display())
            }
            TlsSetupError::NoCertificates(path) => {
                write!(f, "CA file {}: no certificate found", path.display())
            }
            TlsSetupError::Rustls(e) => write!(f, "TLS setup: {e}"),
        }
    }
}

impl std::error::Error for TlsSetupError {}

/// Read every `CERTIFICATE` block of a PEM file (other blocks are skipped).
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bad = |reason: String| TlsSetupError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificates(path.to_owned()));
    }
    Ok(certs)
}

/// Read every `CERTIFICATE` block of PEM text held in memory.
pub(super) fn read_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bad = |reason: String| TlsSetupError::CaFile {
        path: PathBuf::from("<memory>"),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificates(PathBuf::from("<memory>")));
    }
    Ok(certs)
}

/// Build the client configuration: bundled roots (if `public_roots`), the
/// system store (likewise, when readable) and the `extra` trust anchors.
pub(super) fn client_config(
    extra: Vec<CertificateDer<'static>>,
    public_roots: bool,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    if public_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            log::debug!("webhook TLS: system CA store: {e}");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        log::debug!("webhook TLS: {added} system CA certificates ({ignored} unusable)");
    }
    for cert in extra {
        roots.add(cert).map_err(TlsSetupError::Rustls)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Rustls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // We speak HTTP/1.1 only; say so, so a server preferring h2 does not pick it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The configuration behind the free `post_json`: public roots only, built on
/// first use and kept for the life of the process.
pub(super) fn default_config() -> Result<Arc<ClientConfig>, ClientError> {
    static DEFAULT: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| client_config(Vec::new(), true).map_err(|e| e.to_string()))
        .clone()
        .map_err(ClientError::TlsSetup)
}

/// The crypto provider the client uses, for tests building the server side.
#[cfg(test)]
pub(super) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Run the TLS handshake on `tcp`, naming `host` for SNI and verification
/// (an IP literal is verified against the certificate's IP addresses).
pub(super) async fn handshake(
    config: Arc<ClientConfig>,
    host: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, ClientError> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| ClientError::InvalidUrl(format!("host {host:?} unusable for TLS: {e}")))?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(classify)
}

/// Tell a TLS refusal (unknown CA, wrong name, protocol) from a plain I/O
/// failure: the first will not heal by retrying, the second may.
pub(super) fn classify(e: io::Error) -> ClientError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => ClientError::Tls(tls.clone()),
        None => ClientError::Io(e),
    }
}
