//! Bytes as a call-log file → the loader (`CallStore::open`): damaged records are skipped,
//! never a panic, and the compacted file it leaves loads again to the same calls.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, UNIX_EPOCH};
use trtc_sipgw::calls::store::CallStore;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("trtc-sipgw-fuzz-call-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("calls.log"), data).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let retention = Duration::from_secs(86400 * 36500);
    let (store, first) = CallStore::open(&dir, retention, 1 << 30, now).expect("open");
    drop(store);
    let (_, second) = CallStore::open(&dir, retention, 1 << 30, now).expect("reopen");
    assert_eq!(first.len(), second.len(), "a reload loses or gains calls");
});
