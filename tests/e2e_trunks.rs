//! Several trunks with failover (issue 15): `[[sip.trunks]]` tried by priority; a trunk
//! that answers 503 or does not answer at all is marked down and the call moves on to
//! the next, with a state line naming both; an OPTIONS ping brings a trunk back. The
//! trunks are real sipp instances (and, for the silent one, a bound UDP socket that never
//! answers); the call that lands is checked by the room hearing the trunk's 440 Hz.

mod common;

use common::audio::{assert_wav_tone, sox_tone};
use common::callstate::{assert_answered, moved_on, show, StateLine};
use common::gateway::{Gateway, GatewayConfig};
use common::http;
use common::net::{udp_in_use, PortBlock};
use common::peers::{Sipp, P_SIPP_UAS};
use common::proc::Proc;
use common::tmp::TestDir;
use common::wait::{secs, try_until};
use std::net::UdpSocket;

/// The config for two trunks: `primary` (priority 1) on `primary_port`, `backup`
/// (priority 2) on `backup_port`; T1 at 50 ms so Timer B fires after 3.2 s.
fn two_trunks(
    dir: &TestDir,
    block: &PortBlock,
    primary_port: u16,
    backup_port: u16,
    primary_extra: &str,
) -> String {
    let cfg = GatewayConfig::new(
        dir,
        block,
        format!("sip:{{number}}@127.0.0.1:{backup_port}"),
    );
    let mut toml = cfg.to_toml().replacen("[sip]\n", "[sip]\nt1_ms = 50\n", 1);
    toml.push_str(&format!(
        "\n[[sip.trunks]]\nname = \"primary\"\nuri = \"sip:{{number}}@127.0.0.1:{primary_port}\"\n\
         priority = 1\n{primary_extra}\n\
         [[sip.trunks]]\nname = \"backup\"\nuri = \"sip:{{number}}@127.0.0.1:{backup_port}\"\n\
         priority = 2\nkeepalive_s = 0\n"
    ));
    toml
}

/// A trunk that answers pings and calls (`200 OK from <name>`, then 440 Hz), on the
/// sipp UAS ports of `block`.
fn answering_trunk(dir: &TestDir, block: &PortBlock, name: &str) -> Sipp {
    Sipp::uas_with(
        dir,
        block,
        "trunk_answer.xml",
        100,
        &["-key", "trunk", name],
    )
}

/// The line of `lines` in `state`, if any.
fn line(lines: &[StateLine], state: u8) -> Option<&StateLine> {
    lines.iter().find(|l| l.state == state)
}

/// Places a call, waits until it is answered, checks the trunk named in its CONFIRMED
/// line (and in CALLING, with a list of trunks) and that the room hears the trunk's
/// tone, then hangs up. Returns the lines.
fn call_lands_on(gw: &Gateway, trunk: &str) -> Vec<StateLine> {
    answered_by(gw, trunk, true)
}

/// As [`call_lands_on`]; `listed`: the config has `[[sip.trunks]]` (else only
/// `[sip.outbound]`, whose CALLING line names no trunk).
fn answered_by(gw: &Gateway, trunk: &str, listed: bool) -> Vec<StateLine> {
    let id = gw.startup("1002", 60, None);
    gw.wait_state(&id, 5, secs(30));
    std::thread::sleep(secs(2));
    gw.shutdown(&id);
    let lines = gw.wait_done(&id, secs(30));
    assert_answered(&lines);
    let confirmed = line(&lines, 5).unwrap();
    assert_eq!(
        confirmed.reason,
        format!("OK from {trunk}"),
        "answered by the wrong trunk:\n{}",
        show(&lines)
    );
    // CALLING names the first trunk tried: this one, unless the call moved on.
    if listed && moves(&lines).is_empty() {
        assert_eq!(
            line(&lines, 1).unwrap().reason,
            format!("trunk {trunk}"),
            "{}",
            show(&lines)
        );
    }
    assert_wav_tone(&gw.recording(&id), 440.0);
    lines
}

/// The EARLY lines that say the call moved on.
fn moves(lines: &[StateLine]) -> Vec<String> {
    moved_on(lines).into_iter().map(String::from).collect()
}

/// `trtc_sipgw_trunk_up{trunk="<name>"}` as the gateway exports it.
fn trunk_up(gw: &Gateway, name: &str) -> Option<i64> {
    let text = http::get(gw.http, "/metrics").text();
    let prefix = format!("trtc_sipgw_trunk_up{{trunk=\"{name}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn a_503_and_then_a_silent_trunk_move_calls_to_the_backup() {
    let dir = TestDir::new("trunks-failover");
    let block = PortBlock::new();
    let other = PortBlock::new();
    sox_tone(&dir.join("tone440_ulaw.wav"), 440, 30, true);
    let primary_port = other.port(P_SIPP_UAS);
    let mut primary = Sipp::uas(&dir, &other, "trunk_503.xml", 1);
    let backup = answering_trunk(&dir, &block, "backup");
    let toml = two_trunks(
        &dir,
        &block,
        primary_port,
        backup.sip_port,
        "keepalive_s = 0\nretry_s = 8\n",
    );
    let mut gw = Gateway::start_with_text(&dir, &toml);
    assert_eq!(trunk_up(&gw, "primary"), Some(1));

    // 1. The primary answers 503: the call moves on and the backup takes it.
    let lines = call_lands_on(&gw, "backup");
    assert_eq!(
        moves(&lines),
        vec!["trunk primary: 503 Service Unavailable, trying backup".to_string()],
        "{}",
        show(&lines)
    );
    assert_eq!(line(&lines, 1).unwrap().reason, "trunk primary");
    primary.proc.assert_success(secs(20)); // its one INVITE was answered and ACKed
    assert_eq!(trunk_up(&gw, "primary"), Some(0));

    // 2. While it is down, calls go to the backup first; nothing reaches the primary.
    let silent = UdpSocket::bind(("127.0.0.1", primary_port)).unwrap();
    silent.set_nonblocking(true).unwrap();
    let lines = call_lands_on(&gw, "backup");
    assert!(moves(&lines).is_empty(), "{}", show(&lines));
    let mut buf = [0u8; 2048];
    assert!(
        silent.recv_from(&mut buf).is_err(),
        "a down trunk got a request"
    );

    // 3. Its retry period over, the primary is tried again; now it does not answer at
    // all, so after Timer B the call moves on.
    try_until(secs(20), || {
        (trunk_up(&gw, "primary") == Some(1)).then_some(())
    })
    .expect("the primary's retry period ends");
    let id = gw.startup("1002", 60, None);
    let lines = gw.wait_state(&id, 5, secs(30));
    assert_eq!(
        moves(&lines),
        vec!["trunk primary: no answer, trying backup".to_string()],
        "{}",
        show(&lines)
    );
    assert!(
        silent.recv_from(&mut buf).is_ok(),
        "the INVITE went to the primary"
    );
    gw.shutdown(&id);
    let lines = gw.wait_done(&id, secs(30));
    assert_eq!(line(&lines, 5).unwrap().reason, "OK from backup");
    gw.assert_healthy();
}

#[test]
fn a_trunk_that_answers_its_ping_again_takes_calls_again() {
    let dir = TestDir::new("trunks-ping");
    let block = PortBlock::new();
    let other = PortBlock::new();
    sox_tone(&dir.join("tone440_ulaw.wav"), 440, 30, true);
    let primary_port = other.port(P_SIPP_UAS);
    // The primary is silent at first: its first ping goes unanswered (Timer F, 3.2 s).
    let silent = UdpSocket::bind(("127.0.0.1", primary_port)).unwrap();
    let backup = answering_trunk(&dir, &block, "backup");
    let toml = two_trunks(
        &dir,
        &block,
        primary_port,
        backup.sip_port,
        "keepalive_s = 1\nretry_s = 600\n",
    );
    let mut gw = Gateway::start_with_text(&dir, &toml);
    let mut buf = [0u8; 2048];
    silent.set_read_timeout(Some(secs(5))).unwrap();
    let (n, _) = silent.recv_from(&mut buf).expect("the primary is pinged");
    assert!(
        buf[..n].starts_with(b"OPTIONS sip:127.0.0.1:"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    try_until(secs(15), || {
        (trunk_up(&gw, "primary") == Some(0)).then_some(())
    })
    .expect("the unanswered ping marks the primary down");

    // Down ahead of any call: the call goes straight to the backup.
    let lines = call_lands_on(&gw, "backup");
    assert!(moves(&lines).is_empty(), "{}", show(&lines));

    // The primary comes back: its next ping is answered and calls go to it again.
    drop(silent);
    let _primary = answering_trunk(&dir, &other, "primary");
    try_until(secs(15), || {
        (trunk_up(&gw, "primary") == Some(1)).then_some(())
    })
    .expect("an answered ping marks the primary up");
    let lines = call_lands_on(&gw, "primary");
    assert!(moves(&lines).is_empty(), "{}", show(&lines));
    gw.assert_healthy();
}

#[test]
fn numbers_go_to_the_trunk_their_prefix_names() {
    let dir = TestDir::new("trunks-prefix");
    let block = PortBlock::new();
    let other = PortBlock::new();
    sox_tone(&dir.join("tone440_ulaw.wav"), 440, 30, true);
    let local = answering_trunk(&dir, &block, "local");
    let intl = answering_trunk(&dir, &other, "intl");
    let cfg = GatewayConfig::new(&dir, &block, local.outbound_uri());
    let mut toml = cfg.to_toml();
    toml.push_str(&format!(
        "\n[[sip.trunks]]\nname = \"intl\"\nuri = \"sip:{{number}}@127.0.0.1:{}\"\nprefixes = [\"00\", \"+\"]\nkeepalive_s = 0\n\
         [[sip.trunks]]\nname = \"local\"\nuri = \"sip:{{number}}@127.0.0.1:{}\"\nprefixes = [\"0\", \"1\"]\npriority = 2\nkeepalive_s = 0\n",
        intl.sip_port, local.sip_port
    ));
    let gw = Gateway::start_with_text(&dir, &toml);
    for (number, trunk) in [
        ("0049301234", "intl"),
        ("1002", "local"),
        ("0301234", "local"),
    ] {
        let id = gw.startup(number, 60, None);
        gw.wait_state(&id, 5, secs(30));
        gw.shutdown(&id);
        let lines = gw.wait_done(&id, secs(30));
        assert_eq!(
            line(&lines, 5).unwrap().reason,
            format!("OK from {trunk}"),
            "{number}:\n{}",
            show(&lines)
        );
    }
    // A number no trunk takes is refused at once, naming it.
    let r = gw.startup_raw(&Gateway::startup_body("999", 60, None));
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("no trunk takes 999"), "{}", r.text());
}

/// Block index of the test's DNS server (unused by the peers' layout).
const P_DNS: u16 = 11;

/// dnsmasq as the trunk's DNS on a loopback port: `_sip._udp.pbx.test` has two SRV
/// records, priority 10 on `first_port` and priority 20 on `second_port` (dnsmasq
/// answers them in the reverse order, so the order is the gateway's own), both on
/// 127.0.0.1.
fn dns_server(dir: &TestDir, block: &PortBlock, first_port: u16, second_port: u16) -> Proc {
    let port = block.port(P_DNS);
    // Debian puts it in /usr/sbin, which a test's PATH may lack.
    let exe = ["/usr/sbin/dnsmasq", "dnsmasq"]
        .into_iter()
        .find(|p| !p.starts_with('/') || std::path::Path::new(p).exists())
        .unwrap_or("dnsmasq");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "--keep-in-foreground",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--user=root",
        "--pid-file=",
        "--log-queries",
        "--log-facility=-",
    ])
    .arg(format!("--port={port}"))
    .arg(format!(
        "--srv-host=_sip._udp.pbx.test,first.pbx.test,{first_port},10,10"
    ))
    .arg(format!(
        "--srv-host=_sip._udp.pbx.test,second.pbx.test,{second_port},20,10"
    ))
    .arg("--host-record=first.pbx.test,127.0.0.1")
    .arg("--host-record=second.pbx.test,127.0.0.1");
    let mut proc = Proc::spawn("dnsmasq", &mut cmd, dir.path());
    try_until(secs(10), || {
        if let Some(st) = proc.exited() {
            panic!("dnsmasq exited ({st}):\n{}", proc.log_tail(20));
        }
        udp_in_use(port).then_some(())
    })
    .expect("dnsmasq listens");
    proc
}

#[test]
fn a_trunk_host_is_found_through_dns_srv_and_its_targets_tried_in_priority_order() {
    let dir = TestDir::new("trunks-srv");
    let block = PortBlock::new();
    let other = PortBlock::new();
    sox_tone(&dir.join("tone440_ulaw.wav"), 440, 30, true);
    // The priority 10 target is out of service; the priority 20 one answers.
    let mut first = Sipp::uas(&dir, &other, "trunk_503.xml", 1);
    let second = answering_trunk(&dir, &block, "second");
    let mut dns = dns_server(&dir, &block, first.sip_port, second.sip_port);
    let cfg = GatewayConfig::new(&dir, &block, "sip:{number}@pbx.test".into());
    let toml = cfg.to_toml().replacen(
        "[sip]\n",
        &format!(
            "[sip]\ndns_servers = [\"127.0.0.1:{}\"]\n",
            block.port(P_DNS)
        ),
        1,
    );
    let mut gw = Gateway::start_with_text(&dir, &toml);
    let lines = answered_by(&gw, "second", false);
    assert_eq!(
        moves(&lines),
        vec![format!(
            "trunk outbound: 503 Service Unavailable, trying outbound at 127.0.0.1:{}",
            second.sip_port
        )],
        "{}",
        show(&lines)
    );
    first.proc.assert_success(secs(20)); // the INVITE went to priority 10 first
    dns.wait_log("query[SRV] _sip._udp.pbx.test", secs(5));
    gw.assert_healthy();
    // Without the DNS server the name is unknown: refused at once, naming it.
    drop(gw);
    drop(dns);
    let gw = Gateway::start_with_text(&dir, &toml);
    let r = gw.startup_raw(&Gateway::startup_body("1002", 60, None));
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("pbx.test"), "{}", r.text());
}
