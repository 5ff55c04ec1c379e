//! `[sip] tls_listen` and `[sip.tls]`: SIP over TLS (RFC 3261 26.2, `sips:` and
//! `;transport=tls`). Only paths live here; the files are read when the shell builds its
//! TLS contexts (`sip::tls`), so that a missing file is reported with its key at startup
//! and by `--check-config`, while `Config::parse` stays free of I/O.

use serde::Deserialize;
use std::path::PathBuf;

/// `[sip.tls]`: the box's certificate and key, and the roots it verifies peers with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipTlsSection {
    /// The box's certificate chain (PEM), leaf first: served on `tls_listen`, and offered
    /// to a server that asks for a client certificate.
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file` (PEM). Never logged.
    pub key_file: Option<PathBuf>,
    /// Extra roots (PEM) to verify peers with, beside the system's; a trunk behind a
    /// private CA is trusted by adding its CA here, there is no switch to skip checks.
    pub ca_file: Option<PathBuf>,
}

impl SipTlsSection {
    /// Checks what can be checked without reading files; the error is `(key, why)`.
    /// `listening`: `[sip] tls_listen` is set, which needs a certificate and its key.
    pub fn validate(&self, listening: bool) -> Result<(), (String, String)> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => Err((
                "sip.tls.key_file".into(),
                "is needed with sip.tls.cert_file".into(),
            )),
            (None, Some(_)) => Err((
                "sip.tls.cert_file".into(),
                "is needed with sip.tls.key_file".into(),
            )),
            (None, None) if listening => Err((
                "sip.tls.cert_file".into(),
                "is needed (with sip.tls.key_file) when sip.tls_listen is set".into(),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn tls_keys_are_read() {
        let c = Config::parse(
            "[sip]\ntls_listen = \"127.0.0.1:5061\"\n[sip.tls]\ncert_file = \"box.pem\"\n\
             key_file = \"box.key\"\nca_file = \"ca.pem\"\n",
        )
        .unwrap();
        assert_eq!(c.sip.tls_listen, Some("127.0.0.1:5061".parse().unwrap()));
        assert_eq!(c.sip.tls.cert_file.as_deref(), Some("box.pem".as_ref()));
        assert_eq!(c.sip.tls.key_file.as_deref(), Some("box.key".as_ref()));
        assert_eq!(c.sip.tls.ca_file.as_deref(), Some("ca.pem".as_ref()));
        // A TLS client needs no certificate of its own.
        let c = Config::parse("[sip.tls]\nca_file = \"ca.pem\"\n").unwrap();
        assert_eq!(c.sip.tls_listen, None);
    }

    #[test]
    fn bad_tls_settings_are_refused_naming_the_key() {
        for (text, key) in [
            (
                "[sip]\ntls_listen = \"127.0.0.1:5061\"\n",
                "sip.tls.cert_file",
            ),
            ("[sip.tls]\ncert_file = \"a.pem\"\n", "sip.tls.key_file"),
            ("[sip.tls]\nkey_file = \"a.key\"\n", "sip.tls.cert_file"),
            ("[sip.tls]\ncrt_file = \"a.pem\"\n", "crt_file"),
            ("[sip]\ntls_listen = \"nowhere\"\n", "tls_listen"),
        ] {
            let err = Config::parse(text).unwrap_err().0;
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
