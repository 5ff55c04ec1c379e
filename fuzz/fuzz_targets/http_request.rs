//! Bytes as one HTTP request → the server's request parsing, routing, signature check,
//! body validation and the call into the API (a stand-in call service): any bytes give
//! a response with a real status, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let status = trtc_sipgw::http::fuzz_entry::serve_bytes(data);
    assert!((100..600).contains(&status), "status {status}");
});
