//! TOML text → the configuration loader and its validation: any text gives a config
//! or an error naming what is wrong, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trtc_sipgw::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = Config::parse(text) {
            assert!(!e.to_string().is_empty(), "an error without a message");
        }
    }
});
