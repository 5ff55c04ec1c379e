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
pub mod teardowns;

use super::{EnterFuture, Room, RoomBackend, RoomError, RoomParams};
use std::time::{Duration, Instant};

/// `[room.trtc]`, this backend's settings (plain data kept in [`crate::room_config`]).
pub use crate::room_config::TrtcRoomConfig;
pub use room::{Entering, RoomStats, TrtcRoom};
pub use sdk::{LoadError, BUILD_SDK_DIR, BUILD_SHIM, LITEAV_VERSION};

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

    fn unwell(&self, now: Instant) -> Option<String> {
        room::TEARDOWNS.stuck(now)
    }

    fn teardowns_pending(&self) -> usize {
        room::TEARDOWNS.pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
