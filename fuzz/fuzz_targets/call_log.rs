//! Bytes as a call-log file → the loader: whatever the file holds, it opens, keeps
//! every intact record, closes the calls left open, and a second open reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::{Duration, SystemTime};
use trtc_sipgw::calls::store::CallStore;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("sipgw-fuzz-call-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("calls.log"), data).unwrap();
    // Far in the past "now" keeps every record within retention whatever its time.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1);
    let year = Duration::from_secs(1 << 40);
    let (store, calls) = CallStore::open(&dir, year, 64 << 20, now).expect("opens");
    for (id, call) in &calls {
        assert!(call.done, "call {id} left open after the start closed it");
        let back = store.lookup(id).expect("a loaded call is in the file");
        assert_eq!(back.lines, call.lines, "call {id}");
    }
    drop(store);
    let (_, again) = CallStore::open(&dir, year, 64 << 20, now).expect("opens again");
    assert_eq!(again.len(), calls.len());
    let _ = std::fs::remove_dir_all(&dir);
});
