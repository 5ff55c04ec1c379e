//! SDES key exchange for SRTP (RFC 4568): the `a=crypto` attribute of an SDP media
//! section, read and written. The keys travel inside the SDP, so they are only as secret
//! as the signalling: the gateway offers them over TLS only (issue 15). Hand-written
//! because the SDP crate keeps `a=crypto` as an opaque attribute; the grammar is small
//! (RFC 4568 section 9.1) and every field is checked here.
//!
//! Suites: `AES_CM_128_HMAC_SHA1_80` and `_32` (RFC 4568, 30 bytes of key and salt) and
//! `AEAD_AES_128_GCM` (RFC 7714, 28 bytes). Only the first key of an attribute is used
//! (more than one key per attribute is for rekeying, which the gateway never asks for).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// An SRTP crypto suite the gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoSuite {
    /// AES counter mode, 128-bit key, HMAC-SHA1 tag of 80 bits.
    AesCm128HmacSha1_80,
    /// As above with a 32-bit tag (fewer bytes per packet).
    AesCm128HmacSha1_32,
    /// AES-GCM with a 128-bit key (RFC 7714).
    AeadAes128Gcm,
}

impl CryptoSuite {
    /// The name in SDP.
    pub fn name(self) -> &'static str {
        match self {
            CryptoSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            CryptoSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            CryptoSuite::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }

    /// The suite of an SDP name.
    pub fn from_name(name: &str) -> Option<CryptoSuite> {
        [
            CryptoSuite::AesCm128HmacSha1_80,
            CryptoSuite::AesCm128HmacSha1_32,
            CryptoSuite::AeadAes128Gcm,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    /// Bytes of master key and master salt together.
    pub fn key_len(self) -> usize {
        match self {
            CryptoSuite::AeadAes128Gcm => 28,
            _ => 30,
        }
    }
}

/// One `a=crypto` attribute.
#[derive(Clone, PartialEq, Eq)]
pub struct CryptoAttr {
    /// Its tag (the answer repeats the tag of the offer it accepts).
    pub tag: u32,
    /// The suite.
    pub suite: CryptoSuite,
    /// Master key then master salt ([`CryptoSuite::key_len`] bytes).
    pub key: Vec<u8>,
    /// Packets the key may protect, when stated (`2^20` or a number).
    pub lifetime: Option<u64>,
    /// Master key identifier and its length in bytes, when stated (`1:4`).
    pub mki: Option<(u32, u8)>,
}

/// Keys never reach a log through `Debug`.
impl std::fmt::Debug for CryptoAttr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoAttr")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .field("key", &"********")
            .field("lifetime", &self.lifetime)
            .field("mki", &self.mki)
            .finish()
    }
}

/// Why an `a=crypto` value is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdesError {
    /// Not `tag suite key-params`.
    Syntax(&'static str),
    /// A suite the gateway does not speak (the attribute is skipped, not fatal).
    UnknownSuite(String),
    /// The key is not `inline:` base64 of the suite's length.
    BadKey,
}

impl std::fmt::Display for SdesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SdesError::Syntax(what) => write!(f, "a=crypto: {what}"),
            SdesError::UnknownSuite(s) => write!(f, "a=crypto: suite {s} not supported"),
            SdesError::BadKey => {
                f.write_str("a=crypto: key is not inline base64 of the suite's length")
            }
        }
    }
}

impl CryptoAttr {
    /// A fresh attribute with a random key from the thread's CSPRNG.
    pub fn generate(tag: u32, suite: CryptoSuite) -> CryptoAttr {
        let key = (0..suite.key_len()).map(|_| rand::random::<u8>()).collect();
        CryptoAttr {
            tag,
            suite,
            key,
            lifetime: None,
            mki: None,
        }
    }

    /// Reads the value of an `a=crypto:` line (what follows the colon).
    pub fn parse(value: &str) -> Result<CryptoAttr, SdesError> {
        let mut fields = value.split_ascii_whitespace();
        let tag = fields
            .next()
            .and_then(|t| t.parse::<u32>().ok())
            .filter(|t| *t < 1_000_000_000)
            .ok_or(SdesError::Syntax(
                "the tag is not a number of at most 9 digits",
            ))?;
        let suite_name = fields.next().ok_or(SdesError::Syntax("no crypto suite"))?;
        let suite = CryptoSuite::from_name(suite_name)
            .ok_or_else(|| SdesError::UnknownSuite(suite_name.chars().take(40).collect()))?;
        let params = fields
            .next()
            .ok_or(SdesError::Syntax("no key parameters"))?;
        // Only the first key; session parameters (fields after this one) change nothing
        // the gateway does, and an unknown one is allowed to be ignored (RFC 4568 6.3).
        let first = params.split(';').next().unwrap_or_default();
        let inline = first.strip_prefix("inline:").ok_or(SdesError::BadKey)?;
        let mut parts = inline.split('|');
        let key = STANDARD
            .decode(parts.next().unwrap_or_default())
            .map_err(|_| SdesError::BadKey)?;
        if key.len() != suite.key_len() {
            return Err(SdesError::BadKey);
        }
        let mut attr = CryptoAttr {
            tag,
            suite,
            key,
            lifetime: None,
            mki: None,
        };
        for part in parts {
            if let Some((value, len)) = part.split_once(':') {
                let value = value
                    .parse::<u32>()
                    .map_err(|_| SdesError::Syntax("bad MKI"))?;
                let len = len
                    .parse::<u8>()
                    .ok()
                    .filter(|l| (1..=128).contains(l))
                    .ok_or(SdesError::Syntax("bad MKI length"))?;
                attr.mki = Some((value, len));
            } else if let Some(exp) = part.strip_prefix("2^") {
                let exp = exp
                    .parse::<u32>()
                    .ok()
                    .filter(|e| *e <= 48)
                    .ok_or(SdesError::Syntax("bad key lifetime"))?;
                attr.lifetime = Some(1u64 << exp);
            } else {
                let n = part
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(SdesError::Syntax("bad key lifetime"))?;
                attr.lifetime = Some(n);
            }
        }
        Ok(attr)
    }

    /// The value of an `a=crypto:` line for this attribute.
    pub fn to_value(&self) -> String {
        let mut out = format!(
            "{} {} inline:{}",
            self.tag,
            self.suite.name(),
            STANDARD.encode(&self.key)
        );
        if let Some(l) = self.lifetime {
            if l.is_power_of_two() {
                out.push_str(&format!("|2^{}", l.trailing_zeros()));
            } else {
                out.push_str(&format!("|{l}"));
            }
        }
        if let Some((value, len)) = self.mki {
            out.push_str(&format!("|{value}:{len}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_4568_example_reads_and_writes_back() {
        let value =
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32";
        let a = CryptoAttr::parse(value).unwrap();
        assert_eq!(a.tag, 1);
        assert_eq!(a.suite, CryptoSuite::AesCm128HmacSha1_80);
        assert_eq!(a.key.len(), 30);
        assert_eq!(&a.key[..4], b"=-n@");
        assert_eq!(a.lifetime, Some(1 << 20));
        assert_eq!(a.mki, Some((1, 32)));
        assert_eq!(a.to_value(), value);
        assert!(!format!("{a:?}").contains("PS1u"), "Debug shows no key");
    }

    #[test]
    fn suites_keys_and_fields_are_checked() {
        let key30 = STANDARD.encode([7u8; 30]);
        let key28 = STANDARD.encode([7u8; 28]);
        let ok = |v: &str| CryptoAttr::parse(v);
        assert_eq!(
            ok(&format!("2 AES_CM_128_HMAC_SHA1_32 inline:{key30}"))
                .unwrap()
                .suite,
            CryptoSuite::AesCm128HmacSha1_32
        );
        assert_eq!(
            ok(&format!("3 AEAD_AES_128_GCM inline:{key28}|1048576"))
                .unwrap()
                .lifetime,
            Some(1 << 20)
        );
        for bad in [
            String::new(),
            "x AES_CM_128_HMAC_SHA1_80 inline:AAAA".to_string(),
            format!("1 F8_128_HMAC_SHA1_80 inline:{key30}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key28}"),
            format!("1 AEAD_AES_128_GCM inline:{key30}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 {key30}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key30}|2^99"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key30}|1:0"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key30}|zero"),
            "1 AES_CM_128_HMAC_SHA1_80 inline:!!notbase64!!".to_string(),
        ] {
            assert!(ok(&bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn generated_keys_are_fresh_and_of_the_suites_length() {
        let a = CryptoAttr::generate(1, CryptoSuite::AesCm128HmacSha1_80);
        let b = CryptoAttr::generate(1, CryptoSuite::AesCm128HmacSha1_80);
        assert_eq!(a.key.len(), 30);
        assert_ne!(a.key, b.key);
        assert_eq!(CryptoAttr::parse(&a.to_value()).unwrap(), a);
        assert_eq!(
            CryptoAttr::generate(9, CryptoSuite::AeadAes128Gcm)
                .key
                .len(),
            28
        );
    }
}
