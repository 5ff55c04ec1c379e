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
    use crate::sip::{SipConfig, SipService};
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use rustls::pki_types::ServerName;
    use smol::LocalExecutor;
    use std::net::SocketAddr;
    use std::path::PathBuf;

    /// A self-signed certificate for 127.0.0.1 written to a new directory `name`: the
    /// directory, the certificate, and the paths of its PEM and key files.
    fn self_signed(name: &str) -> (PathBuf, CertificateDer<'static>, PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_path, key_path) = (dir.join("c.pem"), dir.join("k.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (dir, cert.der().clone(), cert_path, key_path)
    }

    #[test]
    fn files_that_are_missing_or_wrong_are_named_by_their_key() {
        let (dir, _, cert_path, key_path) = self_signed("sip-tls");
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

    #[test]
    fn requests_over_tls_are_answered_on_their_connection_saying_tls() {
        let (dir, cert, cert_path, key_path) = self_signed("sip-tls-listen");
        let mut roots = RootCertStore::empty();
        roots.add(cert).unwrap();
        let section = SipTlsSection {
            cert_file: Some(cert_path),
            key_file: Some(key_path),
            ca_file: None,
        };
        let tls = SipTls::with_roots(roots, &section).unwrap();
        let client = tls.client.clone();
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let (sip, run) = SipService::bind(addr, None, SipConfig::new(addr))
                .await
                .unwrap();
            let listen = sip
                .start_tls(tls, Some(addr))
                .await
                .unwrap()
                .expect("a TLS listener");
            let _running = ex.spawn(run);
            let tcp = smol::net::TcpStream::connect(listen).await.unwrap();
            let name = ServerName::IpAddress(listen.ip().into());
            let mut c = futures_rustls::TlsConnector::from(client)
                .connect(name, tcp)
                .await
                .unwrap();
            let req = "OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n\
                Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls1\r\n\
                From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:gw@127.0.0.1>\r\n\
                Call-ID: tls1@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
            c.write_all(req.as_bytes()).await.unwrap();
            c.flush().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                let n = c.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
            let answer = String::from_utf8_lossy(&got).into_owned();
            assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
            assert!(
                answer.contains("Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls1"),
                "{answer}"
            );
        }));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
