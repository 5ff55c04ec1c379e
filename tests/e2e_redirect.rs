//! A redirect cannot move a call, or the trunk's credentials, elsewhere (issue "Safe on a
//! network"): a 302 from the phone side is not followed by default; with
//! `[sip.outbound] follow_redirects = true` it is followed only to the trunk's own host,
//! and then without the trunk's Authorization (the trunk challenged the first INVITE, so
//! credentials were in play). sipp sends the 302; the would-be targets
//! are UDP sockets on other loopback addresses that must hear nothing.

mod common;

use common::callstate::{assert_ending, assert_unanswered};
use common::gateway::{Gateway, GatewayConfig};
use common::net::PortBlock;
use common::peers::Sipp;
use common::tmp::TestDir;
use common::wait::secs;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Block index of the port the redirect points at (unused by the peers' layout).
const P_REDIRECT_TARGET: u16 = 9;

/// What arrives at `sock` within `wait` (the first datagram), as text.
fn heard(sock: &UdpSocket, wait: Duration) -> Option<String> {
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    sock.recv_from(&mut buf)
        .ok()
        .map(|(n, _)| String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// One call answered by a 302 to `target`; returns the call's state lines, and what the
/// target heard.
fn redirected_call(name: &str, target_ip: [u8; 4], follow: bool) -> (String, Option<String>) {
    let dir = TestDir::new(name);
    let block = PortBlock::new();
    let target =
        UdpSocket::bind(SocketAddr::from((target_ip, block.port(P_REDIRECT_TARGET)))).unwrap();
    let to = format!("sip:1002@{}", target.local_addr().unwrap());
    let mut uas = Sipp::uas_with(
        &dir,
        &block,
        "uas_redirect.xml",
        1,
        &["-key", "redirect_to", &to],
    );
    let mut cfg = GatewayConfig::new(&dir, &block, uas.outbound_uri());
    cfg.username = Some("1001".into());
    cfg.password = Some("trunk-password".into());
    let mut toml = cfg.to_toml();
    if follow {
        toml = toml.replacen(
            "[sip.outbound]\n",
            "[sip.outbound]\nfollow_redirects = true\n",
            1,
        );
    }
    let mut gw = Gateway::start_with_text(&dir, &toml);
    let id = gw.startup("1002", 30, None);
    let got = heard(&target, Duration::from_secs(3));
    if got.is_none() {
        let lines = gw.wait_done(&id, secs(30));
        uas.proc.assert_success(secs(20)); // the 302 was ACKed
        assert_unanswered(&lines);
        assert_ending(&lines, 302, "Moved");
    } else {
        gw.shutdown(&id);
        gw.wait_done(&id, secs(30));
    }
    gw.assert_healthy();
    (id, got)
}

#[test]
fn a_redirect_is_not_followed_by_default() {
    let (id, got) = redirected_call("redirect-default", [127, 0, 0, 1], false);
    assert!(got.is_none(), "call {id}: the 302 was followed:\n{got:?}");
}

#[test]
fn a_redirect_to_another_host_is_not_followed_even_when_allowed() {
    let (id, got) = redirected_call("redirect-other-host", [127, 0, 0, 3], true);
    assert!(
        got.is_none(),
        "call {id}: followed to another host:\n{got:?}"
    );
}

#[test]
fn a_redirect_to_the_trunk_host_is_followed_without_credentials() {
    let (id, got) = redirected_call("redirect-trunk-host", [127, 0, 0, 1], true);
    let got = got.unwrap_or_else(|| panic!("call {id}: the allowed redirect was not followed"));
    assert!(got.starts_with("INVITE sip:1002@127.0.0.1"), "{got}");
    assert!(
        !got.to_ascii_lowercase().contains("\nauthorization:"),
        "the trunk's credentials went to the redirect target:\n{got}"
    );
}
