//! TOML text → the config loader and validator: any text is accepted or refused with an
//! error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trtc_sipgw::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text) {
        let _ = config.validate();
        let _ = config.policy.as_ref().map(|p| p.numbers());
        let _ = config.sip.trusted_nets();
        let _ = config.guard();
        let _ = config.offered_codecs();
        let _ = config.http.signature_keys();
    }
});
