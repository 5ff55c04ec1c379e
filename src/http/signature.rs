//! The SIPx request signature (SPEC section 1, "Signature").
//!
//! When API keys are configured, every request carries `api_key`, `expire_at`
//! and `signature` in its query string, where
//! `signature = base64url_nopad(HMAC-SHA256(api_secret, api_key || expire_at))`.
//! With no keys configured the check is a pass-through, so a LAN box without
//! keys works out of the box. HMAC and base64url are a few lines each on top of
//! `sha2`, so no extra crates are pulled in.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};

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
    let Some(secret) = keys.secrets.get(api_key) else {
        return Err(ApiError::unauthorized("unknown api_key"));
    };
    let expected = sign(api_key, secret, expire_at);
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(ApiError::unauthorized("signature mismatch"));
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
    let mac = hmac_sha256(
        api_secret.as_bytes(),
        &[api_key.as_bytes(), expire_at.as_bytes()],
    );
    base64url_nopad(&mac)
}

/// RFC 2104 HMAC with SHA-256 over the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// RFC 4648 section 5 (URL-safe alphabet), without `=` padding.
fn base64url_nopad(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1; // 1 byte → 2 chars, 2 → 3, 3 → 4
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out
}

/// Equality whose time does not depend on where the inputs differ.
/// (The length is not secret: all valid signatures have 43 characters.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    fn hmac_rfc4231_case_2_and_long_key() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // RFC 4231 test case 6 (key longer than the block).
        let mac = hmac_sha256(
            &[0xaa; 131],
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn base64url_lengths() {
        assert_eq!(base64url_nopad(b""), "");
        assert_eq!(base64url_nopad(b"f"), "Zg");
        assert_eq!(base64url_nopad(b"fo"), "Zm8");
        assert_eq!(base64url_nopad(b"foo"), "Zm9v");
        assert_eq!(base64url_nopad(&[0xfb, 0xff]), "-_8");
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
