//! TRTC Call Engine client side (SPEC section 4): the box asks Tencent's Call Engine
//! to ring app users (TUICallKit) for an inbound phone call, and maps how that
//! ringing ended to the SIP final response the phone caller gets.
//!
//! The config section lives here; the request/reply types are in [`api`], the HTTP
//! client and the ringing of one call in [`client`].

pub mod api;
pub mod client;

use serde::Deserialize;

/// Where Tencent's Call Engine REST API answers when `[callengine] base_url` is not set.
pub const DEFAULT_BASE_URL: &str = "https://console.tim.qq.com";

/// `[callengine]`: how to reach the Call Engine REST API. Optional section; a regional
/// host (e.g. `https://adminapisgp.im.qcloud.com`) or a local stand-in in tests can be
/// named by `base_url`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CallEngineConfig {
    /// Scheme and host (optionally port) the `v4/...` paths are appended to.
    pub base_url: String,
    /// The app administrator identifier; its UserSig is made from the app's secret key.
    pub admin: String,
    /// Bound on one whole request/reply exchange, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for CallEngineConfig {
    fn default() -> Self {
        CallEngineConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            admin: "administrator".to_string(),
            timeout_ms: 5000,
        }
    }
}

impl CallEngineConfig {
    /// Check the section so a typo fails at startup with the key named, not at the
    /// first inbound call.
    pub fn validate(&self) -> Result<(), String> {
        let rest = self
            .base_url
            .strip_prefix("https://")
            .or_else(|| self.base_url.strip_prefix("http://"))
            .ok_or_else(|| {
                format!(
                    "[callengine] base_url {:?} must start with http:// or https://",
                    self.base_url
                )
            })?;
        if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
            return Err(format!(
                "[callengine] base_url {:?} has no host or contains spaces",
                self.base_url
            ));
        }
        if self.admin.trim().is_empty() {
            return Err("[callengine] admin must name the app administrator".to_string());
        }
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 {
            return Err(format!(
                "[callengine] timeout_ms {} must be between 1 and 60000",
                self.timeout_ms
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        CallEngineConfig::default().validate().unwrap();
    }

    #[test]
    fn errors_name_the_key() {
        let bad = |f: fn(&mut CallEngineConfig)| {
            let mut c = CallEngineConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(|c| c.base_url = "ftp://x".into()).contains("base_url"));
        assert!(bad(|c| c.base_url = "http://".into()).contains("base_url"));
        assert!(bad(|c| c.admin = " ".into()).contains("admin"));
        assert!(bad(|c| c.timeout_ms = 0).contains("timeout_ms"));
        let ok = CallEngineConfig {
            base_url: "http://127.0.0.1:8080".into(),
            ..CallEngineConfig::default()
        };
        ok.validate().unwrap();
    }
}
