//! End-to-end test harness: real SIP peers (sipp, baresip, kamailio), the gateway
//! binary, and the checks the acceptance tests need (tones, RTP captures, webhooks).
//!
//! Every test binary includes this with `mod common;` and uses only what it needs,
//! hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod audio;
pub mod callengine;
pub mod callstate;
pub mod certs;
pub mod gateway;
pub mod http;
pub mod impair;
pub mod linphone;
pub mod net;
pub mod peers;
pub mod proc;
pub mod rig;
pub mod room;
pub mod rtpcap;
pub mod sip;
pub mod tmp;
pub mod wait;
pub mod webhook;

use std::path::PathBuf;

/// Where the copied-and-adapted peer files live (sipp scenarios, kamailio and baresip
/// templates); resolved from the crate root so tests work from any working directory.
pub fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("peers")
}
