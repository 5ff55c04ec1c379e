//! UserSig generation (TLS-Sig-API v2, SPEC section 5), so that a gateway configured with
//! an application's secret key can sign for the users it enters rooms as, and callers may
//! omit `trtcParams.userSig`.
//!
//! A top-level leaf rather than part of the `trtc` room backend: signing is account
//! business (the call side signs for API requests; a backend or a tool may sign too), it
//! needs no SDK, and the call side must not reach into a backend's internals for it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{Read, Write};

type HmacSha256 = Hmac<Sha256>;

/// `TLS.sig`: base64 of HMAC-SHA256 over the fields, keyed with the secret key string.
pub fn sig(secret_key: &str, user_id: &str, sdk_app_id: u32, time: u64, expire: u64) -> String {
    let content = format!(
        "TLS.identifier:{user_id}\nTLS.sdkappid:{sdk_app_id}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    );
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC.
    let mut mac = match HmacSha256::new_from_slice(secret_key.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(content.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// A userSig for `user_id` valid `expire` seconds from `time` (Unix seconds).
pub fn gen_user_sig(
    secret_key: &str,
    user_id: &str,
    sdk_app_id: u32,
    time: u64,
    expire: u64,
) -> String {
    let doc = serde_json::json!({
        "TLS.ver": "2.0",
        "TLS.identifier": user_id,
        "TLS.sdkappid": sdk_app_id,
        "TLS.expire": expire,
        "TLS.time": time,
        "TLS.sig": sig(secret_key, user_id, sdk_app_id, time, expire),
    });
    let json = doc.to_string();
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let compressed = match z.write_all(json.as_bytes()).and_then(|_| z.finish()) {
        Ok(v) => v,
        Err(_) => return String::new(),
    };
    STANDARD
        .encode(compressed)
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

/// The fields of a decoded userSig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedUserSig {
    /// `TLS.ver`.
    pub version: String,
    /// `TLS.identifier`.
    pub user_id: String,
    /// `TLS.sdkappid`.
    pub sdk_app_id: u32,
    /// `TLS.time`.
    pub time: u64,
    /// `TLS.expire`.
    pub expire: u64,
    /// `TLS.sig`.
    pub sig: String,
}

impl DecodedUserSig {
    /// Whether `sig` is the signature of the other fields under `secret_key`.
    pub fn verify(&self, secret_key: &str) -> bool {
        let want = sig(
            secret_key,
            &self.user_id,
            self.sdk_app_id,
            self.time,
            self.expire,
        );
        // Constant-time enough for a check that is only ever run on our own output.
        want.len() == self.sig.len()
            && want
                .bytes()
                .zip(self.sig.bytes())
                .fold(0u8, |a, (x, y)| a | (x ^ y))
                == 0
    }
}

/// Decodes a userSig (the reverse of [`gen_user_sig`]); `None` when it is not one.
pub fn decode_user_sig(user_sig: &str) -> Option<DecodedUserSig> {
    let b64: String = user_sig
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect();
    let compressed = STANDARD.decode(b64).ok()?;
    let mut json = String::new();
    ZlibDecoder::new(compressed.as_slice())
        .take(64 * 1024)
        .read_to_string(&mut json)
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&json).ok()?;
    Some(DecodedUserSig {
        version: v.get("TLS.ver")?.as_str()?.to_string(),
        user_id: v.get("TLS.identifier")?.as_str()?.to_string(),
        sdk_app_id: u32::try_from(v.get("TLS.sdkappid")?.as_u64()?).ok()?,
        time: v.get("TLS.time")?.as_u64()?,
        expire: v.get("TLS.expire")?.as_u64()?,
        sig: v.get("TLS.sig")?.as_str()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

    #[test]
    fn sig_matches_the_spec_vector() {
        assert_eq!(
            sig(KEY, "xiaojun", 1_400_000_000, 1_700_000_000, 15_552_000),
            "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="
        );
    }

    #[test]
    fn user_sig_decodes_back_to_every_field() {
        let s = gen_user_sig(KEY, "xiaojun", 1_400_000_000, 1_700_000_000, 15_552_000);
        assert!(!s.contains(['+', '/', '=']), "{s}");
        let d = decode_user_sig(&s).expect("decodes");
        assert_eq!(d.version, "2.0");
        assert_eq!(d.user_id, "xiaojun");
        assert_eq!(d.sdk_app_id, 1_400_000_000);
        assert_eq!(d.time, 1_700_000_000);
        assert_eq!(d.expire, 15_552_000);
        assert_eq!(d.sig, "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4=");
        assert!(d.verify(KEY));
        assert!(!d.verify("another key"));
    }

    #[test]
    fn garbage_is_not_a_user_sig() {
        assert!(decode_user_sig("").is_none());
        assert!(decode_user_sig("not*a-sig_").is_none());
        assert!(decode_user_sig("reject").is_none());
    }
}
