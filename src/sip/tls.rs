//! The TLS contexts of SIP over TLS (`[sip] tls_listen`, `[sip.tls]`): built once at
//! startup from the files the config names, so a missing or bad file is reported with
//! its key before the first call, and shared by every connection (`tcp.rs` runs the
//! handshakes). Peers are always verified (the system's roots, or the bundled Mozilla
//! set on a box without any, plus `ca_file`); there is no switch to turn that off. The
//! `ring` provider is named explicitly, as for the webhooks (`http::tls`).

use crate::config::sip_tls::SipTlsSection;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

/// What TLS connections need: the client side always, the server side with a listener.
#[derive(Clone)]
pub struct SipTls {
    /// Verifies servers (trunks) and offers the box's certificate when asked.
    pub client: Arc<ClientConfig>,
    /// Serves the box's certificate on `tls_listen`; None without `cert_file`.
    pub server: Option<Arc<ServerConfig>>,
}

impl std::fmt::Debug for SipTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("SipTls")
            .field("server", &self.server.is_some())
            .finish()
    }
}

impl SipTls {
    /// Builds the contexts from `[sip.tls]`; the error names the key at fault
    /// (`sip.tls.cert_file: cannot read …`) and never shows a key's bytes.
    pub fn load(section: &SipTlsSection) -> Result<SipTls, String> {
        let mut roots = system_roots();
        if let Some(path) = &section.ca_file {
            let certs = crate::http::tls::read_ca_file(path)
                .map_err(|e| format!("sip.tls.ca_file: {e}"))?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("sip.tls.ca_file: {}: {e}", path.display()))?;
            }
        }
        Self::with_roots(roots, section)
    }

    /// [`SipTls::load`] with only `roots` trusted (no system roots); for tests.
    pub fn with_roots(roots: RootCertStore, section: &SipTlsSection) -> Result<SipTls, String> {
        let identity = match (&section.cert_file, &section.key_file) {
            (Some(cert), Some(key)) => Some((read_chain(cert)?, read_key(key)?)),
            _ => None,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("sip.tls: {e}"))?
            .with_root_certificates(roots);
        let client = match &identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| format!("sip.tls.key_file: does not fit sip.tls.cert_file: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        let server = match identity {
            Some((chain, key)) => Some(Arc::new(
                ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| format!("sip.tls: {e}"))?
                    .with_no_client_auth()
                    .with_single_cert(chain, key)
                    .map_err(|e| {
                        format!("sip.tls.key_file: does not fit sip.tls.cert_file: {e}")
                    })?,
            )),
            None => None,
        };
        Ok(SipTls {
            client: Arc::new(client),
            server,
        })
    }

    /// Client only, the system's roots: for a box that calls a TLS trunk with no
    /// `[sip.tls]` at all.
    pub fn system() -> Result<SipTls, String> {
        Self::load(&SipTlsSection::default())
    }
}

/// The system's roots (rustls-native-certs), or the bundled Mozilla set when the
/// system has none (a minimal container).
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        log::debug!("SIP TLS: system CA store: {e}");
    }
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        log::info!("SIP TLS: no system CA certificates; using the bundled Mozilla roots");
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// The certificate chain of `cert_file`.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bad = |e: String| format!("sip.tls.cert_file: cannot read {}: {e}", path.display());
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if chain.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(chain)
}

/// The private key of `key_file` (the error says what is wrong, never the key).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("sip.tls.key_file: cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_missing_or_wrong_are_named_by_their_key() {
        let dir = std::env::temp_dir().join(format!("sip-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_path, key_path) = (dir.join("c.pem"), dir.join("k.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let section = |c: &Path, k: &Path, ca: Option<&Path>| SipTlsSection {
            cert_file: Some(c.into()),
            key_file: Some(k.into()),
            ca_file: ca.map(Into::into),
        };
        let ok = SipTls::load(&section(&cert_path, &key_path, Some(&cert_path))).unwrap();
        assert!(ok.server.is_some());
        let missing = dir.join("missing.pem");
        for (s, key_name) in [
            (section(&missing, &key_path, None), "sip.tls.cert_file"),
            (section(&cert_path, &missing, None), "sip.tls.key_file"),
            (section(&key_path, &key_path, None), "sip.tls.cert_file"),
            (section(&cert_path, &cert_path, None), "sip.tls.key_file"),
            (
                section(&cert_path, &key_path, Some(&missing)),
                "sip.tls.ca_file",
            ),
        ] {
            let err = SipTls::load(&s).unwrap_err();
            assert!(err.starts_with(key_name), "{err}");
            assert!(!err.contains("PRIVATE KEY"), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
