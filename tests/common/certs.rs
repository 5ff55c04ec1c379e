//! Test certificates made at test time (rcgen): a CA and a server certificate for
//! `127.0.0.1` and `localhost` signed by it, written as PEM files for peers (kamailio's
//! tls.cfg) and for the gateway's `[sip.tls] ca_file`. Nothing is checked in, so no key
//! ever expires or leaks from the repository.

use super::tmp::TestDir;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::PathBuf;

/// The files of one test PKI.
pub struct TestPki {
    /// The CA certificate (what `ca_file` trusts).
    pub ca: PathBuf,
    /// The server's certificate, signed by the CA, for 127.0.0.1 and localhost.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

/// Makes a CA named `name` and a server certificate signed by it, under `dir/name/`.
pub fn make_pki(dir: &TestDir, name: &str) -> TestPki {
    let out = dir.subdir(name);
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let pki = TestPki {
        ca: out.join("ca.pem"),
        cert: out.join("server.pem"),
        key: out.join("server.key"),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}
