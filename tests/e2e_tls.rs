//! SIP over TLS (issue 15): a `transport = "tls"` trunk with a `sips:` URI is called
//! through kamailio's TLS module (test certificates made at test time, the gateway
//! trusting their CA through `[sip.tls] ca_file`), which relays the call over UDP to
//! baresip; audio is checked by frequency both ways and kamailio's log shows the
//! INVITE, ACK and BYE came over TLS; the phone's own BYE reaches the gateway's TLS
//! listener. A server whose certificate is signed by another CA
//! is a transport error: the call moves on to the next trunk at once.

mod common;

use common::audio::{assert_wav_tone, sox_tone};
use common::callstate::show;
use common::certs::make_pki;
use common::gateway::Gateway;
use common::gateway::GatewayConfig;
use common::net::PortBlock;
use common::peers::{Baresip, Kamailio, Sipp};
use common::tmp::TestDir;
use common::wait::{self, secs};

/// The gateway's config text with a TLS listener and `[sip.tls]` added.
fn with_tls(cfg: &GatewayConfig, tls_section: &str) -> String {
    let toml = cfg.to_toml();
    let plain = "[sip]\nlisten = \"127.0.0.1:0\"\n";
    assert!(toml.contains(plain), "{toml}");
    let toml = toml.replacen(
        plain,
        "[sip]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n",
        1,
    );
    format!("{toml}\n[sip.tls]\n{tls_section}")
}

/// How many requests of `method` kamailio logged as come over `proto`.
fn kamailio_count(log: &str, method: &str, proto: &str) -> usize {
    log.lines()
        .filter(|l| {
            l.contains(&format!("REQ {method} ")) && l.contains(&format!(" over {proto} ("))
        })
        .count()
}

#[test]
fn a_tls_trunk_takes_a_call_through_kamailio_verified_by_the_configured_ca() {
    let dir = TestDir::new("tls-trunk");
    let block = PortBlock::new();
    let pki = make_pki(&dir, "good");
    let src = dir.join("tone440.wav");
    sox_tone(&src, 440, 60, false);
    let (mut kam, tls_addr) = Kamailio::start_tls(
        &dir,
        &block,
        &[("1001", "pw1001"), ("1002", "pw1002")],
        &pki.cert,
        &pki.key,
    );
    let phone = Baresip::registered(&dir, &block, ("1002", "pw1002"), kam.addr, src);

    let cfg = GatewayConfig::new(&dir, &block, format!("sip:{{number}}@{}", kam.addr));
    let mut toml = with_tls(
        &cfg,
        &format!(
            "cert_file = \"{}\"\nkey_file = \"{}\"\nca_file = \"{}\"\n",
            pki.cert.display(),
            pki.key.display(),
            pki.ca.display()
        ),
    );
    toml.push_str(&format!(
        "\n[[sip.trunks]]\nname = \"tls-trunk\"\nuri = \"sips:{{number}}@{tls_addr}\"\n\
         transport = \"tls\"\nusername = \"1001\"\npassword = \"pw1001\"\nkeepalive_s = 0\n"
    ));
    let mut gw = Gateway::start_with_text(&dir, &toml);
    let started = gw.proc.log_text();
    assert!(started.contains("(TLS)"), "a TLS listener:\n{started}");

    let (id, lines) = gw.answered_call("1002", secs(4));
    let calling = lines.iter().find(|l| l.state == 1).expect("CALLING");
    assert_eq!(calling.reason, "trunk tls-trunk", "{}", show(&lines));
    assert_wav_tone(&gw.recording(&id), 440.0);
    let rec = wait::until("baresip's recording (*-dec.wav)", secs(10), || {
        phone.recordings().into_iter().next()
    });
    common::wait::file_settled(&rec, secs(15));
    assert_wav_tone(&rec, 1000.0);

    let log = wait::until("kamailio to log the BYE", secs(10), || {
        let log = kam.proc.log_text();
        (kamailio_count(&log, "BYE", "tls") > 0).then_some(log)
    });
    for method in ["INVITE", "ACK", "BYE"] {
        assert!(
            kamailio_count(&log, method, "tls") > 0,
            "{method} over TLS:\n{log}"
        );
        assert_eq!(
            kamailio_count(&log, method, "udp") + kamailio_count(&log, method, "tcp"),
            0,
            "no {method} from the gateway over udp or tcp:\n{log}"
        );
    }

    let gw_log = gw.proc.log_text();
    assert!(
        !gw_log.contains("pw1001"),
        "the SIP password is never logged"
    );
    assert!(!gw_log.contains("PRIVATE KEY"), "the key is never logged");
    gw.assert_healthy();
    drop(gw);

    // The phone hangs up: kamailio relays its BYE to our Contact, which names the TLS
    // listener (`;transport=tls`), on a connection kamailio opens to us. (A `sip:` URI
    // with `;transport=tls` this time: baresip, which has no TLS, will not send a BYE in
    // a dialog that began with a `sips:` URI.)
    let toml = toml.replace(
        &format!("uri = \"sips:{{number}}@{tls_addr}\""),
        &format!("uri = \"sip:{{number}}@{tls_addr};transport=tls\""),
    );
    let mut gw = Gateway::start_with_text(&dir, &toml);
    let id = gw.startup("1002", 60, None);
    gw.wait_state(&id, 5, secs(30));
    std::thread::sleep(secs(1));
    let r = phone.command("hangup", "");
    assert_eq!(r["ok"], true, "{r}");
    let lines = gw.wait_done(&id, secs(20));
    assert!(
        lines.last().unwrap().reason.contains("hung up"),
        "{}",
        show(&lines)
    );
    let gw_log = gw.proc.log_text();
    assert!(
        gw_log.contains("SIP: TLS connection from 127.0.0.1:"),
        "kamailio's BYE came in over TLS:\n{gw_log}"
    );
    assert!(
        !gw_log.contains("pw1001"),
        "the SIP password is never logged"
    );
    assert!(!gw_log.contains("PRIVATE KEY"), "the key is never logged");
    let _ = &mut kam;
    gw.assert_healthy();
}

#[test]
fn a_tls_server_signed_by_another_ca_is_a_transport_error_and_the_call_moves_on() {
    let dir = TestDir::new("tls-untrusted");
    let block = PortBlock::new();
    let trusted = make_pki(&dir, "trusted");
    let stranger = make_pki(&dir, "stranger");
    sox_tone(&dir.join("tone440_ulaw.wav"), 440, 30, true);
    let (mut kam, tls_addr) = Kamailio::start_tls(
        &dir,
        &block,
        &[("1001", "pw1001")],
        &stranger.cert,
        &stranger.key,
    );
    let backup = Sipp::uas_with(
        &dir,
        &block,
        "trunk_answer.xml",
        100,
        &["-key", "trunk", "backup"],
    );
    let cfg = GatewayConfig::new(&dir, &block, backup.outbound_uri());
    let mut toml = with_tls(&cfg, &format!("ca_file = \"{}\"\n", trusted.ca.display()));
    // No certificate of the box's own: without one there is no listener.
    toml = toml.replacen("tls_listen = \"127.0.0.1:0\"\n", "", 1);
    toml.push_str(&format!(
        "\n[[sip.trunks]]\nname = \"primary\"\nuri = \"sips:{{number}}@{tls_addr}\"\n\
         transport = \"tls\"\nusername = \"1001\"\npassword = \"pw1001\"\npriority = 1\n\
         keepalive_s = 0\n\
         [[sip.trunks]]\nname = \"backup\"\nuri = \"sip:{{number}}@127.0.0.1:{}\"\n\
         priority = 2\nkeepalive_s = 0\n",
        backup.sip_port
    ));
    let mut gw = Gateway::start_with_text(&dir, &toml);
    // A certificate the configured CA did not sign: a transport error.
    gw.assert_transport_error_moves_on();
    let gw_log = gw.proc.log_text();
    assert!(
        gw_log.contains("handshake failed") && gw_log.contains("UnknownIssuer"),
        "the log says why:\n{gw_log}"
    );
    assert_eq!(
        kamailio_count(&kam.proc.log_text(), "INVITE", "tls"),
        0,
        "nothing reached the untrusted server"
    );
    let _ = &mut kam;
    gw.assert_healthy();
}
