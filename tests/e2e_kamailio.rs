//! Acceptance 1: the gateway calls through kamailio with digest auth (407 challenge) to
//! baresip registered there as 1002; baresip answers, plays 440 Hz and records what it
//! hears. After ~5 s the call is shut down. The room heard 440 Hz, baresip heard 1000 Hz.

mod common;

use common::audio::{assert_wav_tone, sox_tone};
use common::callstate::{assert_answered, assert_ending};
use common::gateway::{Gateway, GatewayConfig};
use common::net::PortBlock;
use common::peers::{Baresip, Kamailio};
use common::tmp::TestDir;
use common::wait::{self, secs};
use std::time::Duration;

#[test]
fn call_through_kamailio_with_digest_auth_to_baresip() {
    let dir = TestDir::new("e2e-kamailio");
    let block = PortBlock::new();
    let src = dir.join("tone440.wav");
    sox_tone(&src, 440, 60, false);
    let kam = Kamailio::start(&dir, &block, &[("1001", "pw1001"), ("1002", "pw1002")]);
    let phone = Baresip::registered(&dir, &block, ("1002", "pw1002"), kam.addr, src);

    let mut cfg = GatewayConfig::new(&dir, &block, format!("sip:{{number}}@{}", kam.addr));
    cfg.username = Some("1001".into());
    cfg.password = Some("pw1001".into());
    cfg.from = Some("sip:1001@sip.test".into());
    let mut gw = Gateway::start(&dir, &cfg);

    let id = gw.startup("1002", 60, None);
    gw.wait_state(&id, 5, secs(30));
    std::thread::sleep(Duration::from_secs(5));
    gw.shutdown(&id);
    let lines = gw.wait_done(&id, secs(30));
    assert_answered(&lines);
    assert_ending(&lines, 200, "shutdown requested");

    assert_wav_tone(&gw.recording(&id), 440.0);
    let rec = wait::until("baresip's recording (*-dec.wav)", secs(10), || {
        phone.recordings().into_iter().next()
    });
    // baresip closes the file when it handles the BYE.
    common::wait::file_settled(&rec, secs(15));
    assert_wav_tone(&rec, 1000.0);
    assert!(
        !gw.proc.log_text().contains("pw1001"),
        "the gateway must not log the SIP password"
    );
    gw.assert_healthy();
}
