//! `[room.trtc]`: the settings of the LiteAV SDK backend (`room::trtc`), as plain data.

use serde::Deserialize;
use std::path::PathBuf;

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

/// The custom command id touch tones travel on unless `[room.trtc] dtmf_cmd_id` says
/// otherwise.
pub const DEFAULT_DTMF_CMD_ID: u32 = 1;

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
            dtmf_cmd_id: DEFAULT_DTMF_CMD_ID,
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

/// Splits `host:port` (IPv6 as `[addr]:port`); the SDK setup uses it too, so the check
/// here and the address handed to the SDK can never disagree.
pub fn parse_socks5(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    (!host.is_empty()).then_some((host, port))
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
}
