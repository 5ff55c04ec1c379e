//! The SIPx request signature (SPEC section 1, "Signature").
//!
//! When API keys are configured, every request carries `api_key`, `expire_at`
//! and `signature` in its query string, where
//! `signature = base64url_nopad(HMAC-SHA256(api_secret, api_key || expire_at))`.
//! With no keys configured the check is a pass-through, so a LAN box without
//! keys works out of the box. HMAC, base64url and the constant-time comparison
//! come from the `hmac` and `base64` crates (already in the tree for UserSig).

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::errors::ApiError;
use super::router::Query;

/// The configured API keys (`api_key` → `api_secret`) and expiry policy.
///
/// Exists so the server can be handed the whole signature policy as one value.
/// `Debug` prints key ids only, never secrets.
#[derive(Clone, Default)]
pub struct ApiKeys {
    secrets: HashMap<String, String>,
    max_ahead_s: Option<u64>,
    metrics_public: bool,
}

impl ApiKeys {
    /// No keys: every request passes (the default for a LAN box).
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) one key and its secret.
    pub fn insert(&mut self, api_key: impl Into<String>, api_secret: impl Into<String>) {
        self.secrets.insert(api_key.into(), api_secret.into());
    }

    /// Also refuse `expire_at` values further than `secs` ahead of now, so a
    /// leaked URL cannot be signed "forever" (SPEC: optional).
    pub fn set_max_ahead(&mut self, secs: Option<u64>) {
        self.max_ahead_s = secs;
    }

    /// `[http] metrics_public`: `/metrics` answers without a signature (Prometheus
    /// scrapers cannot sign); everything else still needs one.
    pub fn set_metrics_public(&mut self, public: bool) {
        self.metrics_public = public;
    }

    /// Whether `/metrics` is open without a signature.
    pub fn metrics_public(&self) -> bool {
        self.metrics_public
    }

    /// True when no key is configured and the check passes everything.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.secrets.keys().collect();
        keys.sort();
        f.debug_struct("ApiKeys")
            .field("keys", &keys)
            .field("max_ahead_s", &self.max_ahead_s)
            .finish()
    }
}

/// Check a request's signature against the configured keys at `now_unix`
/// (Unix seconds, passed in so tests control time).
///
/// Pass-through when `keys` is empty. Otherwise `401` when a parameter is
/// missing, the key unknown, the signature wrong (compared in constant time),
/// `expire_at` in the past, or beyond the configured maximum ahead.
pub fn check(query: &Query, keys: &ApiKeys, now_unix: u64) -> Result<(), ApiError> {
    if keys.is_empty() {
        return Ok(());
    }
    let (Some(api_key), Some(expire_at), Some(signature)) = (
        query.get("api_key"),
        query.get("expire_at"),
        query.get("signature"),
    ) else {
        return Err(ApiError::unauthorized(
            "api_key, expire_at and signature query parameters are required",
        ));
    };
    // One answer for an unknown key and a wrong signature, so a caller cannot probe
    // which keys exist.
    let known = keys
        .secrets
        .get(api_key)
        .is_some_and(|secret| verify(api_key, secret, expire_at, signature));
    if !known {
        return Err(ApiError::unauthorized(
            "signature does not match api_key and expire_at",
        ));
    }
    let expire: u64 = match expire_at.parse() {
        Ok(t) if expire_at.bytes().all(|b| b.is_ascii_digit()) => t,
        _ => return Err(ApiError::unauthorized("expire_at must be Unix seconds")),
    };
    if expire < now_unix {
        return Err(ApiError::unauthorized("signature expired"));
    }
    if let Some(max) = keys.max_ahead_s {
        if expire - now_unix > max {
            return Err(ApiError::unauthorized("expire_at too far in the future"));
        }
    }
    Ok(())
}

/// Compute the SIPx signature for `api_key` and `expire_at` (as sent, decimal).
///
/// Public so that tests, tools and the documentation's examples can produce
/// signed URLs with the exact same code the server checks with.
pub fn sign(api_key: &str, api_secret: &str, expire_at: &str) -> String {
    match mac(api_key, api_secret, expire_at) {
        Some(mac) => URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()),
        None => String::new(),
    }
}

/// Whether `signature` is the SIPx signature of `api_key` and `expire_at`. The MAC is
/// compared in constant time (`verify_slice`); the encoding must be canonical unpadded
/// base64url, so each MAC has exactly one accepted spelling.
fn verify(api_key: &str, api_secret: &str, expire_at: &str, signature: &str) -> bool {
    let Ok(claimed) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    mac(api_key, api_secret, expire_at).is_some_and(|mac| mac.verify_slice(&claimed).is_ok())
}

/// HMAC-SHA256 keyed with the secret over `api_key || expire_at`; None never happens
/// (HMAC takes keys of any length), and callers treat it as a refusal.
fn mac(api_key: &str, api_secret: &str, expire_at: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(api_secret.as_bytes()).ok()?;
    mac.update(api_key.as_bytes());
    mac.update(expire_at.as_bytes());
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR: &str = "d7vG2xBURXT-M-BdmFcCLYTHIh1chSo6SG3KT9SNhMk";

    fn keys() -> ApiKeys {
        let mut k = ApiKeys::new();
        k.insert("23456789", "k69x50j0");
        k
    }

    fn q(s: &str) -> Query {
        Query::parse(s)
    }

    #[test]
    fn spec_test_vector() {
        assert_eq!(sign("23456789", "k69x50j0", "1893456000"), VECTOR);
    }

    #[test]
    fn mac_is_hmac_sha256_of_key_then_expiry() {
        // RFC 4231 test case 2, split where api_key ends and expire_at begins.
        let mac = mac("what do ya want ", "Jefe", "for nothing?").unwrap();
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_the_canonical_spelling_verifies() {
        assert!(verify("23456789", "k69x50j0", "1893456000", VECTOR));
        // Same leading bits, other unused trailing bits; padded; standard alphabet.
        for other in [
            "d7vG2xBURXT-M-BdmFcCLYTHIh1chSo6SG3KT9SNhMl",
            "d7vG2xBURXT-M-BdmFcCLYTHIh1chSo6SG3KT9SNhMk=",
            "d7vG2xBURXT+M+BdmFcCLYTHIh1chSo6SG3KT9SNhMk",
            "",
        ] {
            assert!(
                !verify("23456789", "k69x50j0", "1893456000", other),
                "{other}"
            );
        }
    }

    #[test]
    fn pass_through_without_keys() {
        assert!(check(&q(""), &ApiKeys::new(), 0).is_ok());
    }

    #[test]
    fn accepts_valid() {
        let query = q(&format!(
            "api_key=23456789&expire_at=1893456000&signature={VECTOR}&id=x"
        ));
        assert!(check(&query, &keys(), 1_700_000_000).is_ok());
        assert!(check(&query, &keys(), 1_893_456_000).is_ok());
    }

    #[test]
    fn refuses_bad() {
        let now = 1_700_000_000;
        let cases = [
            String::new(),
            format!("expire_at=1893456000&signature={VECTOR}"),
            format!("api_key=23456789&signature={VECTOR}"),
            "api_key=23456789&expire_at=1893456000".to_string(),
            format!("api_key=other&expire_at=1893456000&signature={VECTOR}"),
            format!("api_key=23456789&expire_at=1893456001&signature={VECTOR}"),
            "api_key=23456789&expire_at=1893456000&signature=d7vG2xBURXT-M-BdmFcCLYTHIh1chSo6SG3KT9SNhMK".to_string(),
            "api_key=23456789&expire_at=1893456000&signature=short".to_string(),
        ];
        for c in &cases {
            let e = check(&q(c), &keys(), now).unwrap_err();
            assert_eq!(e.status, 401, "{c}");
        }
        // Expired.
        let query = q(&format!(
            "api_key=23456789&expire_at=1893456000&signature={VECTOR}"
        ));
        assert_eq!(
            check(&query, &keys(), 1_893_456_001).unwrap_err().status,
            401
        );
        // Too far ahead.
        let mut k = keys();
        k.set_max_ahead(Some(3600));
        assert_eq!(check(&query, &k, now).unwrap_err().status, 401);
        assert!(check(&query, &k, 1_893_456_000 - 3600).is_ok());
    }

    #[test]
    fn signed_non_numeric_expiry_refused() {
        let sig = sign("23456789", "k69x50j0", "+1893456000");
        let query = q(&format!(
            "api_key=23456789&expire_at=%2B1893456000&signature={sig}"
        ));
        assert_eq!(check(&query, &keys(), 0).unwrap_err().status, 401);
    }

    #[test]
    fn debug_hides_secret() {
        let s = format!("{:?}", keys());
        assert!(s.contains("23456789"));
        assert!(!s.contains("k69x50j0"));
    }
}
