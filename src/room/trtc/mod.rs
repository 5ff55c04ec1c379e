//! The real room leg: Tencent's LiteAV server SDK, loaded at run time.
//!
//! The SDK is proprietary, so it is never linked or committed: `scripts/fetch-liteav.sh`
//! puts it in a cache directory, build.rs compiles a small C++ shim against it when it is
//! there (`shim.cpp`), and [`TrtcBackend::new`] loads both with dlopen when the gateway is
//! configured with `backend = "trtc"`. Without the SDK the gateway builds and runs with the
//! other backends, and choosing this one fails at start with one sentence saying how to
//! fetch it.
//!
//! Threads: SDK callbacks copy into lock-free state ([`shared`]); the call's tick takes
//! frames and events from it ([`room::TrtcRoom`]).

pub mod errors;
pub mod ring;
pub mod room;
pub mod sdk;
pub mod shared;
pub mod usersig;

use super::{EnterFuture, Room, RoomBackend, RoomError, RoomParams};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

pub use room::{Entering, RoomStats, TrtcRoom};
pub use sdk::{LoadError, BUILD_SDK_DIR, BUILD_SHIM, LITEAV_VERSION};

/// `[room.trtc]`: where the SDK is and how it should behave process-wide.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrtcRoomConfig {
    /// Directory holding `libliteav.so` (and `libtxffmpeg.so`); default: `$LITEAV_DIR`, the
    /// directory the gateway was built against, or scripts/fetch-liteav.sh's cache.
    pub sdk_dir: Option<PathBuf>,
    /// Path of `libsipgw_trtc_shim.so`; default: next to the executable, in `sdk_dir`, or
    /// where build.rs put it.
    pub shim: Option<PathBuf>,
    /// Where the SDK writes its log files; unset or empty = no log files (it otherwise
    /// writes under the user's home).
    pub log_dir: Option<PathBuf>,
    /// SDK log level: 0 debug … 4 fatal, 5 none.
    pub log_level: u8,
    /// Whether the SDK also logs to the console (stdout).
    pub console_log: bool,
    /// SOCKS5 proxy `host:port` for boxes that reach Tencent only through one.
    pub socks5: Option<String>,
    /// SOCKS5 user name.
    pub socks5_user: Option<String>,
    /// SOCKS5 password. Never logged.
    pub socks5_password: Option<String>,
    /// How long the connection to TRTC may stay down (the SDK reconnects on its own) before
    /// the call is ended, in seconds.
    pub reconnect_timeout_s: u32,
    /// Custom command id (`SendCustomCmdMsg`) that carries touch tones both ways, body
    /// `{"dtmf":"5"}`, reliable and ordered; app users key digits to the phone with it.
    pub dtmf_cmd_id: u32,
}

impl Default for TrtcRoomConfig {
    fn default() -> Self {
        TrtcRoomConfig {
            sdk_dir: None,
            shim: None,
            log_dir: None,
            log_level: 3,
            console_log: false,
            socks5: None,
            socks5_user: None,
            socks5_password: None,
            reconnect_timeout_s: 30,
            dtmf_cmd_id: crate::room::dtmf_msg::DEFAULT_DTMF_CMD_ID,
        }
    }
}

impl std::fmt::Debug for TrtcRoomConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrtcRoomConfig")
            .field("sdk_dir", &self.sdk_dir)
            .field("shim", &self.shim)
            .field("log_dir", &self.log_dir)
            .field("log_level", &self.log_level)
            .field("console_log", &self.console_log)
            .field("socks5", &self.socks5)
            .field("socks5_user", &self.socks5_user)
            .field(
                "socks5_password",
                &self.socks5_password.as_ref().map(|_| "<redacted>"),
            )
            .field("reconnect_timeout_s", &self.reconnect_timeout_s)
            .field("dtmf_cmd_id", &self.dtmf_cmd_id)
            .finish()
    }
}

impl TrtcRoomConfig {
    /// Checks what can be checked without loading the SDK; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.log_level > 5 {
            return Err(("room.trtc.log_level", "must be 0..=5".into()));
        }
        if let Some(addr) = self.socks5.as_deref().filter(|s| !s.is_empty()) {
            if parse_socks5(addr).is_none() {
                return Err(("room.trtc.socks5", "must be host:port".into()));
            }
        }
        if self.reconnect_timeout_s == 0 {
            return Err(("room.trtc.reconnect_timeout_s", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Splits `host:port` (IPv6 as `[addr]:port`).
fn parse_socks5(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    (!host.is_empty()).then_some((host, port))
}

/// Enters TRTC rooms through the LiteAV SDK.
pub struct TrtcBackend {
    sdk: &'static sdk::Sdk,
    options: room::EntryOptions,
}

impl TrtcBackend {
    /// Loads the SDK (once per process) so that a missing or broken SDK stops the gateway
    /// at start, with a message saying how to fetch it, rather than failing each call.
    pub fn new(config: &TrtcRoomConfig) -> Result<TrtcBackend, LoadError> {
        if let Err((key, msg)) = config.validate() {
            return Err(LoadError(format!("{key} {msg}.")));
        }
        let sdk = sdk::Sdk::load(config)?;
        Ok(TrtcBackend {
            sdk,
            options: room::EntryOptions {
                reconnect_timeout: Duration::from_secs(u64::from(config.reconnect_timeout_s)),
                dtmf_cmd_id: config.dtmf_cmd_id,
            },
        })
    }
}

impl TrtcBackend {
    /// Starts entering a room; the typed counterpart of [`RoomBackend::enter`], for callers
    /// (tests, metrics) that want the [`TrtcRoom`] and its [`RoomStats`]. Parameters the SDK
    /// would refuse at once are an error here.
    pub fn start_entry(&self, params: RoomParams) -> Result<Entering, RoomError> {
        Entering::start(self.sdk, params, self.options)
    }
}

impl RoomBackend for TrtcBackend {
    fn enter(&self, params: RoomParams) -> EnterFuture {
        match self.start_entry(params) {
            Ok(entering) => {
                Box::pin(async move { entering.await.map(|room| Box::new(room) as Box<dyn Room>) })
            }
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks5_addresses() {
        assert_eq!(parse_socks5("10.1.2.3:1080"), Some(("10.1.2.3", 1080)));
        assert_eq!(parse_socks5("[::1]:1080"), Some(("::1", 1080)));
        assert_eq!(parse_socks5("proxy.lan:0"), None);
        assert_eq!(parse_socks5("proxy.lan"), None);
        assert_eq!(parse_socks5(":1080"), None);
    }

    #[test]
    fn password_is_not_in_debug_output() {
        let c = TrtcRoomConfig {
            socks5_password: Some("hunter2".into()),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_missing_sdk_is_one_sentence_naming_the_fetch_script() {
        let dir = std::env::temp_dir().join(format!("no-liteav-here-{}", std::process::id()));
        let config = TrtcRoomConfig {
            sdk_dir: Some(dir),
            ..Default::default()
        };
        // The process may already hold an SDK from another test; only check a fresh failure.
        if let Err(e) = TrtcBackend::new(&config) {
            let text = e.to_string();
            assert!(text.contains("bash scripts/fetch-liteav.sh"), "{text}");
            assert_eq!(text.matches(". ").count(), 0, "one sentence: {text}");
            assert!(text.ends_with('.'));
        }
    }
}
