//! SIP over TCP (issue 15): a trunk with `transport = "tcp"` is called over TCP (sipp
//! listening on TCP only, so nothing reaches it over UDP), its OPTIONS pings included;
//! and an INVITE that grows past 1300 bytes (digest credentials on top of four codecs)
//! leaves UDP for TCP (RFC 3261 18.1.1) to kamailio listening on both, which relays the
//! call to baresip. Audio is checked by frequency both times.

mod common;

use common::audio::{assert_wav_tone, sox_tone};
use common::callstate::{assert_answered, assert_ending, show};
use common::gateway::{Gateway, GatewayConfig};
use common::net::{closed_tcp_port, udp_in_use, PortBlock};
use common::peers::{Baresip, Kamailio, Sipp};
use common::proc::Proc;
use common::tmp::TestDir;
use common::wait::{self, secs};
use std::path::Path;

/// Everything sipp's `-trace_msg` logs in `dir` (one file per sipp process).
fn sipp_messages(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("_messages.log") {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    text
}

#[test]
fn a_tcp_trunk_takes_calls_and_pings_over_tcp() {
    let dir = TestDir::new("tcp-trunk");
    let block = PortBlock::new();
    sox_tone(&dir.join("tone440_ulaw.wav"), 440, 30, true);
    // sipp -t t1 listens on TCP only: a request sent over UDP is never answered.
    let trunk = Sipp::uas_on(
        &dir,
        &block,
        "trunk_answer.xml",
        100,
        &["-key", "trunk", "tcp-trunk"],
        true,
    );
    let cfg = GatewayConfig::new(&dir, &block, trunk.outbound_uri());
    let mut toml = cfg.to_toml();
    toml.push_str(&format!(
        "\n[[sip.trunks]]\nname = \"tcp-trunk\"\nuri = \"sip:{{number}}@127.0.0.1:{}\"\n\
         transport = \"tcp\"\nkeepalive_s = 1\n",
        trunk.sip_port
    ));
    let mut gw = Gateway::start_with_text(&dir, &toml);

    let (id, lines) = gw.answered_call("1002", secs(2));
    let confirmed = lines.iter().find(|l| l.state == 5).expect("CONFIRMED");
    assert_eq!(confirmed.reason, "OK from tcp-trunk", "{}", show(&lines));
    assert_wav_tone(&gw.recording(&id), 440.0);

    // What sipp saw: the INVITE, ACK, BYE and the pings, all over TCP, Via saying so.
    let seen = wait::until("sipp to log an OPTIONS ping", secs(10), || {
        let text = sipp_messages(dir.path());
        text.contains("OPTIONS sip:").then_some(text)
    });
    for method in ["INVITE", "ACK", "BYE", "OPTIONS"] {
        let start = format!("\n{method} sip:");
        let at = seen
            .find(&start)
            .unwrap_or_else(|| panic!("sipp never got a {method}:\n{seen}"));
        let message = &seen[at..];
        let message = &message[..message.find("\r\n\r\n").unwrap_or(message.len())];
        assert!(
            message.contains("Via: SIP/2.0/TCP "),
            "{method} not marked TCP:\n{message}"
        );
    }
    assert!(seen.contains("TCP message received"), "{seen}");
    assert!(!seen.contains("UDP message received"), "{seen}");
    assert!(
        seen.contains(";transport=tcp>"),
        "our Contact names TCP:\n{seen}"
    );
    gw.assert_healthy();
}

/// The sizes kamailio logged for `method` requests that came over `proto`.
fn kamailio_sizes(log: &str, method: &str, proto: &str) -> Vec<usize> {
    log.lines()
        .filter(|l| {
            l.contains(&format!("REQ {method} ")) && l.contains(&format!(" over {proto} ("))
        })
        .filter_map(|l| {
            let tail = l.rsplit_once(" over ")?.1;
            let n = tail.split_once('(')?.1.split_once(' ')?.0;
            n.parse().ok()
        })
        .collect()
}

#[test]
fn an_invite_over_1300_bytes_goes_to_kamailio_over_tcp() {
    let dir = TestDir::new("tcp-large-invite");
    let block = PortBlock::new();
    let src = dir.join("tone440.wav");
    sox_tone(&src, 440, 60, false);
    let mut kam = Kamailio::start_with(
        &dir,
        &block,
        &[("1001", "pw1001"), ("1002", "pw1002")],
        true,
    );
    let phone = Baresip::registered(&dir, &block, ("1002", "pw1002"), kam.addr, src);

    // A plain UDP trunk whose caller id carries a long display name: the first INVITE
    // still fits a datagram; the one that answers the 407 carries Proxy-Authorization
    // on top of it and does not.
    let mut cfg = GatewayConfig::new(&dir, &block, format!("sip:{{number}}@{}", kam.addr));
    cfg.codecs = Some(["opus", "g722", "pcmu", "pcma"].map(String::from).to_vec());
    let display = "Tencent TRTC room gateway of the Shenzhen office, meeting line 1: calls \
                   placed for the weekly all-hands meeting room on the third floor; if this \
                   call reached you by mistake, the front desk on extension 100 can tell you \
                   who placed it and take you off the list of numbers to call back";
    let mut toml = cfg.to_toml();
    toml.push_str(&format!(
        "\n[[sip.trunks]]\nname = \"kamailio\"\nuri = \"sip:{{number}}@{}\"\n\
         username = \"1001\"\npassword = \"pw1001\"\n\
         from = '\"{display}\" <sip:1001@sip.test>'\nkeepalive_s = 0\n",
        kam.addr
    ));
    let mut gw = Gateway::start_with_text(&dir, &toml);

    let id = gw.startup("1002", 60, None);
    gw.wait_state(&id, 5, secs(30));
    std::thread::sleep(secs(4));
    gw.shutdown(&id);
    let lines = gw.wait_done(&id, secs(30));
    assert_answered(&lines);
    assert_ending(&lines, 200, "shutdown requested");
    assert_wav_tone(&gw.recording(&id), 440.0);
    let rec = wait::until("baresip's recording (*-dec.wav)", secs(10), || {
        phone.recordings().into_iter().next()
    });
    common::wait::file_settled(&rec, secs(15));
    assert_wav_tone(&rec, 1000.0);

    let log = kam.proc.log_text();
    let over_udp = kamailio_sizes(&log, "INVITE", "udp");
    let over_tcp = kamailio_sizes(&log, "INVITE", "tcp");
    eprintln!("INVITE sizes kamailio saw: udp {over_udp:?}, tcp {over_tcp:?}");
    eprintln!(
        "in-dialog: ACK over tcp {:?}, BYE over tcp {:?}",
        kamailio_sizes(&log, "ACK", "tcp"),
        kamailio_sizes(&log, "BYE", "tcp")
    );
    assert!(
        over_udp.iter().any(|n| *n <= 1300),
        "the first INVITE fits UDP: udp {over_udp:?}, tcp {over_tcp:?}"
    );
    assert!(
        over_tcp.iter().any(|n| *n > 1300),
        "the authenticated INVITE went over TCP: udp {over_udp:?}, tcp {over_tcp:?}\n{log}"
    );
    assert!(
        over_udp.iter().all(|n| *n <= 1300),
        "no INVITE over 1300 bytes went over UDP: {over_udp:?}"
    );
    assert!(
        !gw.proc.log_text().contains("pw1001"),
        "the gateway must not log the SIP password"
    );
    let _ = &mut kam;
    gw.assert_healthy();
}

#[test]
fn a_tcp_trunk_that_refuses_the_connection_moves_the_call_on_at_once() {
    let dir = TestDir::new("tcp-refused");
    let block = PortBlock::new();
    sox_tone(&dir.join("tone440_ulaw.wav"), 440, 30, true);
    let backup = Sipp::uas_with(
        &dir,
        &block,
        "trunk_answer.xml",
        100,
        &["-key", "trunk", "backup"],
    );
    let refusing = closed_tcp_port();
    let cfg = GatewayConfig::new(&dir, &block, backup.outbound_uri());
    let mut toml = cfg.to_toml();
    toml.push_str(&format!(
        "\n[[sip.trunks]]\nname = \"primary\"\nuri = \"sip:{{number}}@127.0.0.1:{refusing};transport=tcp\"\n\
         priority = 1\nkeepalive_s = 0\n\
         [[sip.trunks]]\nname = \"backup\"\nuri = \"sip:{{number}}@127.0.0.1:{}\"\n\
         priority = 2\nkeepalive_s = 0\n",
        backup.sip_port
    ));
    let mut gw = Gateway::start_with_text(&dir, &toml);
    // A refused connection is a transport error now, not Timer B (32 s) later.
    gw.assert_transport_error_moves_on();
    gw.assert_healthy();
}

#[test]
fn a_call_in_over_tcp_is_answered_over_tcp() {
    let dir = TestDir::new("tcp-inbound");
    let block = PortBlock::new();
    common::rig::make_tones(&dir);
    let mut cfg = GatewayConfig::new(&dir, &block, "sip:{number}@127.0.0.1:9".into());
    cfg.callee_enter_after_ms = Some(1000);
    cfg.extra_toml = "\n[trtc.apps.\"1400000001\"]\nsecret_key = \"inbound-test-secret-key\"\n\n\
         [[inbound]]\nnumber = \"8001\"\nsdk_app_id = 1400000001\nrobot = \"sipgw_robot\"\n\
         callees = [\"alice\"]\nstr_room_id = \"in_{id}\"\ntimeout_s = 30\n"
        .into();
    let mut gw = Gateway::start(&dir, &cfg);
    // sipp calls over one TCP connection: 100, 180, 183, 200 come back on it, its ACK
    // and (4 s later) its BYE go on it.
    let mut sipp = Sipp::uac(
        &dir,
        &block,
        "uac_inbound.xml",
        gw.sip,
        "8001",
        1,
        &["-timeout", "30s", "-t", "t1"],
    );
    sipp.proc.assert_success(secs(40));
    let seen = sipp_messages(dir.path());
    assert!(seen.contains("TCP message received"), "{seen}");
    assert!(!seen.contains("UDP message received"), "{seen}");
    let ok = seen
        .find("SIP/2.0 200 OK")
        .map(|at| &seen[at..])
        .expect("a 200");
    assert!(
        ok.contains(";transport=tcp>"),
        "our Contact names TCP:\n{ok}"
    );
    gw.assert_healthy();
}

/// Block index of the test's DNS server (unused by the peers' layout).
const P_DNS: u16 = 11;

/// dnsmasq on a loopback port of `block`, serving `records` (`--srv-host` values) and
/// `sip.pbx.test` → 127.0.0.1.
fn dns_server(dir: &TestDir, block: &PortBlock, records: &[String]) -> Proc {
    let port = block.port(P_DNS);
    let exe = ["/usr/sbin/dnsmasq", "dnsmasq"]
        .into_iter()
        .find(|p| !p.starts_with('/') || Path::new(p).exists())
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
    .args(records.iter().map(|r| format!("--srv-host={r}")))
    .arg("--host-record=sip.pbx.test,127.0.0.1");
    let mut proc = Proc::spawn("dnsmasq", &mut cmd, dir.path());
    wait::until("dnsmasq to listen", secs(10), || {
        if let Some(st) = proc.exited() {
            panic!("dnsmasq exited ({st}):\n{}", proc.log_tail(20));
        }
        udp_in_use(port).then_some(())
    });
    proc
}

#[test]
fn a_tcp_trunk_host_is_found_through_its_sip_tcp_srv_records() {
    let dir = TestDir::new("tcp-srv");
    let block = PortBlock::new();
    sox_tone(&dir.join("tone440_ulaw.wav"), 440, 30, true);
    let trunk = Sipp::uas_on(
        &dir,
        &block,
        "trunk_answer.xml",
        100,
        &["-key", "trunk", "srv-tcp"],
        true,
    );
    // The UDP records point elsewhere (a closed port): only `_sip._tcp` finds sipp.
    let elsewhere = closed_tcp_port();
    let mut dns = dns_server(
        &dir,
        &block,
        &[
            format!("_sip._tcp.pbx.test,sip.pbx.test,{},10,10", trunk.sip_port),
            format!("_sip._udp.pbx.test,sip.pbx.test,{elsewhere},10,10"),
        ],
    );
    let cfg = GatewayConfig::new(&dir, &block, trunk.outbound_uri());
    let mut toml = cfg.to_toml().replacen(
        "[sip]\n",
        &format!(
            "[sip]\ndns_servers = [\"127.0.0.1:{}\"]\n",
            block.port(P_DNS)
        ),
        1,
    );
    toml.push_str(
        "\n[[sip.trunks]]\nname = \"srv-tcp\"\nuri = \"sip:{number}@pbx.test\"\n\
         transport = \"tcp\"\nkeepalive_s = 0\n",
    );
    let mut gw = Gateway::start_with_text(&dir, &toml);
    let id = gw.startup("1002", 60, None);
    gw.wait_state(&id, 5, secs(30));
    gw.shutdown(&id);
    let lines = gw.wait_done(&id, secs(30));
    let confirmed = lines.iter().find(|l| l.state == 5).expect("CONFIRMED");
    assert_eq!(confirmed.reason, "OK from srv-tcp", "{}", show(&lines));
    dns.wait_log("query[SRV] _sip._tcp.pbx.test", secs(5));
    gw.assert_healthy();
}
