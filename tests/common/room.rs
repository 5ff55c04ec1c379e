//! Which room the end-to-end tests bridge calls to: the built-in simulated room (the
//! default), or, with `SIPGW_TEST_ROOM=trtc`, the real `trtc` backend loading the C++
//! test double of Tencent's libliteav.so (tests/liteav_double), so the same tests cover
//! the SDK leg: its threads, queues, entry errors and room endings.

#[path = "../liteav_double/helpers.rs"]
pub mod double;

use std::path::PathBuf;

/// The `trtc` backend's files for the double: a directory holding only the double's
/// `libliteav.so`, and the gateway's shim built against the real SDK headers.
#[derive(Debug, Clone)]
pub struct DoubleRoom {
    pub sdk_dir: PathBuf,
    pub shim: PathBuf,
}

/// The double when `SIPGW_TEST_ROOM=trtc`, else None (the simulated room). In trtc mode
/// a build without the SDK is an error, not a skip.
pub fn double_room() -> Option<DoubleRoom> {
    if std::env::var("SIPGW_TEST_ROOM").ok().as_deref() != Some("trtc") {
        return None;
    }
    std::env::set_var("SIPGW_REQUIRE_TRTC", "1");
    let (sdk, shim) = double::sdk_or_skip("SIPGW_TEST_ROOM=trtc")?;
    Some(DoubleRoom {
        sdk_dir: double::build_double(&sdk),
        shim,
    })
}
