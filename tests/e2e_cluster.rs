//! Issue 16, item 6: more than one gateway process behind existing engines, run from the
//! shipped configs in `deploy/` (only their addresses are moved onto this test's ports):
//! two gateway processes (`[calls] node = 1` and `2`), HAProxy in front of their HTTP
//! APIs (`deploy/haproxy.cfg`) and Kamailio's dispatcher in front of their SIP
//! (`deploy/kamailio-dispatcher.cfg`, `deploy/dispatcher.list`).
//!
//! - 20 calls started through the front are spread over both nodes, each id led by its
//!   node's two digits, and `callstate` for every id is answered through the front;
//!   `callstats`, `dtmf` and `shutdown` of a live call reach its node too.
//! - Calls into the box through Kamailio land on both nodes, the dialogs following the
//!   Record-Route through it.
//! - One node killed: new calls, from the API and from SIP, all go to the other; the
//!   killed node's calls are not answered (HAProxy has nowhere to send them), and once
//!   it is back, its finished history is answered through the front again.

mod common;

use common::gateway::{Gateway, GatewayConfig};
use common::http;
use common::net::PortBlock;
use common::peers::{run_kamailio, Sipp};
use common::proc::Proc;
use common::rig::make_tones;
use common::tmp::TestDir;
use common::wait::{secs, try_until, until};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Block indices of this test's fixed ports.
const P_KAMAILIO_FRONT: u16 = 11;
const P_HAPROXY_FRONT: u16 = 12;
const P_NODE_HTTP: u16 = 13; // node n: 13 + n - 1
const P_NODE_SIP: u16 = 15; // node n: 15 + n - 1

fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn addr(block: &PortBlock, i: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], block.port(i)))
}

/// Replaces `from` (which must occur) by `to` in a shipped config.
fn moved(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the shipped config lost {from:?}");
    text.replace(from, to)
}

/// Node `n`'s config: the test gateway's (sim room, sipp trunk, its own state and
/// half of the block's RTP ports), on the node's fixed ports, with the inbound rule
/// Kamailio's calls are for, and `[calls] node = n` as in deploy/nodeN.toml.
fn node_toml(dir: &TestDir, block: &PortBlock, n: u16, trunk: &str) -> String {
    let mut cfg = GatewayConfig::new(dir, block, trunk.to_string());
    cfg.rtp_ports = if n == 1 {
        block.range(100, 149)
    } else {
        block.range(150, 199)
    };
    cfg.callee_enter_after_ms = Some(300);
    cfg.extra_toml = "\n[trtc.apps.\"1400000001\"]\nsecret_key = \"cluster-test-secret\"\n\n\
         [[inbound]]\nnumber = \"8001\"\nsdk_app_id = 1400000001\nrobot = \"sipgw_robot\"\n\
         callees = [\"alice\"]\nstr_room_id = \"in_{id}\"\ntimeout_s = 20\n"
        .to_string();
    let text = cfg.to_toml();
    let text = moved(
        &text,
        "[http]\nlisten = \"127.0.0.1:0\"\n",
        &format!(
            "[http]\nlisten = \"{}\"\nmax_connections_per_client = 256\n",
            addr(block, P_NODE_HTTP + n - 1)
        ),
    );
    let text = moved(
        &text,
        "[sip]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[sip]\nlisten = \"{}\"\n", addr(block, P_NODE_SIP + n - 1)),
    );
    moved(&text, "\n[calls]\n", &format!("\n[calls]\nnode = {n}\n"))
}

/// One gateway node in its own directory (config, state, logs), so it can be killed
/// and started again on the same history.
struct Node {
    dir: TestDir,
    toml: String,
    gw: Option<Gateway>,
}

impl Node {
    fn start(block: &PortBlock, n: u16, trunk: &str) -> Node {
        let dir = TestDir::new(&format!("cluster-node{n}"));
        let toml = node_toml(&dir, block, n, trunk);
        let gw = Some(Gateway::start_with_text(&dir, &toml));
        Node { dir, toml, gw }
    }

    fn gw(&self) -> &Gateway {
        self.gw.as_ref().expect("node is running")
    }

    fn kill(&mut self) {
        let mut gw = self.gw.take().expect("node is running");
        gw.proc.signal("KILL");
        gw.proc.wait_exit(secs(10)).expect("killed node exits");
    }

    fn restart(&mut self) {
        assert!(self.gw.is_none());
        self.gw = Some(Gateway::start_with_text(&self.dir, &self.toml));
    }

    /// Inbound calls this node has taken (from its own API, not through the front).
    fn inbound_calls(&self) -> usize {
        let calls = http::get(self.gw().http, "/trtc/calls").json();
        calls["calls"]
            .as_array()
            .map(|c| c.iter().filter(|c| c["direction"] == "inbound").count())
            .unwrap_or(0)
    }
}

/// HAProxy from deploy/haproxy.cfg, its front and nodes moved onto the test's ports.
fn start_haproxy(dir: &TestDir, block: &PortBlock) -> Proc {
    let mut cfg = deploy_file("haproxy.cfg");
    cfg = moved(
        &cfg,
        "bind 127.0.0.1:8080",
        &format!("bind {}", addr(block, P_HAPROXY_FRONT)),
    );
    for n in 1..=2u16 {
        cfg = moved(
            &cfg,
            &format!("127.0.0.1:808{n}"),
            &addr(block, P_NODE_HTTP + n - 1).to_string(),
        );
    }
    // Quicker health checks than a box needs, so the test need not wait long.
    cfg = moved(&cfg, "inter 2s fall 2 rise 1", "inter 300ms fall 1 rise 1");
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, &cfg).unwrap();
    let check = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run haproxy: {e} — run scripts/test.sh"));
    assert!(
        check.status.success(),
        "haproxy -c refused deploy/haproxy.cfg:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let mut cmd = Command::new("haproxy");
    cmd.arg("-db").arg("-f").arg(&path);
    let mut proc = Proc::spawn("haproxy", &mut cmd, dir.path());
    let front = addr(block, P_HAPROXY_FRONT);
    until("haproxy to answer /healthz", secs(20), || {
        if let Some(st) = proc.exited() {
            panic!("haproxy exited ({st}):\n{}", proc.log_tail(30));
        }
        let ok = std::net::TcpStream::connect_timeout(&front, Duration::from_millis(200)).is_ok()
            && http::get(front, "/healthz").status == 200;
        ok.then_some(())
    });
    proc
}

/// Kamailio from deploy/kamailio-dispatcher.cfg with the test's dispatcher list, probing
/// every second.
fn start_kamailio(dir: &TestDir, block: &PortBlock) -> Proc {
    let list = (1..=2u16).fold(deploy_file("dispatcher.list"), |list, n| {
        moved(
            &list,
            &format!("127.0.0.1:507{n}"),
            &addr(block, P_NODE_SIP + n - 1).to_string(),
        )
    });
    let list_path = dir.join("dispatcher.list");
    std::fs::write(&list_path, list).unwrap();
    let cfg: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kamailio-dispatcher.cfg");
    let work = dir.subdir("kamailio");
    let defines = [
        format!("LISTEN=udp:{}", addr(block, P_KAMAILIO_FRONT)),
        format!("DS_LIST=\"{}\"", list_path.display()),
        "DS_PING_S=1".to_string(),
        "FR_TIMER_MS=2000".to_string(),
    ];
    let mut args: Vec<String> = vec!["-f".into(), cfg.display().to_string()];
    for d in &defines {
        args.push("-A".into());
        args.push(d.clone());
    }
    run_kamailio(dir, &work, &args, addr(block, P_KAMAILIO_FRONT))
}

/// Starts a call through the front; returns its id.
fn startup(front: SocketAddr, n: usize) -> String {
    let body = Gateway::startup_body(&format!("100{n}"), 2, None);
    let r = http::post_json(front, "/trtc/startup", &body);
    assert_eq!(r.status, 200, "startup {n} through the front: {}", r.text());
    r.json()["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {}", r.text()))
        .to_string()
}

/// `callstate` through the front: (status, body).
fn callstate(front: SocketAddr, id: &str) -> (u16, Value) {
    let r = http::get(front, &format!("/trtc/callstate?id={id}"));
    let body = if r.status == 200 {
        r.json()
    } else {
        json!(r.text())
    };
    (r.status, body)
}

/// Waits until the call is done, asking through the front; returns its history.
fn wait_done(front: SocketAddr, id: &str) -> String {
    let v = until(
        &format!("call {id} done (through the front)"),
        secs(30),
        || {
            let (status, v) = callstate(front, id);
            assert_eq!(status, 200, "callstate {id} through the front: {v}");
            (v["done"] == json!(true)).then_some(v)
        },
    );
    v["data"].as_str().unwrap_or_default().to_string()
}

/// Waits until every call is done, asking through the front; asserts each ended after
/// being answered.
fn assert_all_done(front: SocketAddr, ids: &[String]) {
    for id in ids {
        let data = wait_done(front, id);
        assert!(
            data.contains(" 5 CONFIRMED ") && data.contains(" 6 DISCONNCTD "),
            "call {id}: {data}"
        );
    }
}

/// Runs `calls` inbound calls one after another into Kamailio; asserts each succeeded.
fn call_in(dir: &TestDir, block: &PortBlock, calls: u32) {
    let mut sipp = Sipp::uac(
        dir,
        block,
        "uac_inbound_routed.xml",
        addr(block, P_KAMAILIO_FRONT),
        "8001",
        calls,
        &["-l", "1", "-timeout", "60s"],
    );
    sipp.proc.assert_success(secs(70));
}

#[test]
fn two_nodes_behind_haproxy_and_kamailio_share_calls_and_survive_one_dying() {
    let dir = TestDir::new("cluster");
    let block = PortBlock::new();
    make_tones(&dir);
    let trunk = Sipp::uas(&dir, &block, "uas_answer.xml", 1000);
    let mut nodes = [
        Node::start(&block, 1, &trunk.outbound_uri()),
        Node::start(&block, 2, &trunk.outbound_uri()),
    ];
    let _haproxy = start_haproxy(&dir, &block);
    let _kamailio = start_kamailio(&dir, &block);
    let front = addr(&block, P_HAPROXY_FRONT);

    // 20 calls through the front: both nodes take some, each id names its node.
    let ids: Vec<String> = (0..20).map(|n| startup(front, n)).collect();
    let on = |node: &str| ids.iter().filter(|id| id.starts_with(node)).count();
    assert_eq!(on("01") + on("02"), 20, "ids not led by a node: {ids:?}");
    assert!(
        on("01") >= 5 && on("02") >= 5,
        "round robin: {} on node 1, {} on node 2",
        on("01"),
        on("02")
    );
    for id in &ids {
        assert_eq!(id.len(), 18, "{id}");
    }
    // Each node knows only its own calls; the front answers for all of them.
    let node1_id = ids.iter().find(|id| id.starts_with("01")).unwrap();
    let direct = http::get(
        nodes[1].gw().http,
        &format!("/trtc/callstate?id={node1_id}"),
    );
    assert_eq!(direct.status, 404, "node 2 must not know node 1's call");
    assert_all_done(front, &ids);
    // A call ended through the front reaches its node (the id in the JSON body).
    let long = Gateway::startup_body("1099", 60, None);
    let r = http::post_json(front, "/trtc/startup", &long);
    assert_eq!(r.status, 200, "{}", r.text());
    let long_id = r.json()["id"].as_str().unwrap().to_string();
    until(&format!("call {long_id} answered"), secs(20), || {
        let (_, v) = callstate(front, &long_id);
        v["data"]
            .as_str()
            .is_some_and(|d| d.contains(" 5 CONFIRMED "))
            .then_some(())
    });
    // callstats by the query string, dtmf by the body: both reach the call's node.
    let r = http::get(front, &format!("/trtc/callstats?id={long_id}"));
    assert_eq!(r.status, 200, "callstats through the front: {}", r.text());
    let r = http::post_json(
        front,
        "/trtc/dtmf",
        &json!({ "id": long_id, "digits": "1#" }),
    );
    assert_eq!(r.status, 200, "dtmf through the front: {}", r.text());
    let r = http::post_json(front, "/trtc/shutdown", &json!({ "id": long_id }));
    assert_eq!(r.status, 200, "shutdown through the front: {}", r.text());
    let data = wait_done(front, &long_id);
    assert!(
        data.contains("shutdown requested"),
        "call {long_id}: {data}"
    );

    // Calls into the box through Kamailio: both nodes take some.
    call_in(&dir, &block, 4);
    let (in1, in2) = (nodes[0].inbound_calls(), nodes[1].inbound_calls());
    assert_eq!(in1 + in2, 4, "inbound calls: node 1 {in1}, node 2 {in2}");
    assert!(
        in1 >= 1 && in2 >= 1,
        "dispatcher: node 1 {in1}, node 2 {in2}"
    );

    // Node 2 dies.
    nodes[1].kill();
    let node2_ids: Vec<String> = ids
        .iter()
        .filter(|id| id.starts_with("02"))
        .cloned()
        .collect();
    let (status, _) = callstate(front, &node2_ids[0]);
    assert_ne!(status, 200, "a dead node's call cannot be answered");
    let after: Vec<String> = (20..26).map(|n| startup(front, n)).collect();
    assert!(
        after.iter().all(|id| id.starts_with("01")),
        "with node 2 down every new call goes to node 1: {after:?}"
    );
    assert_all_done(front, &after);
    call_in(&dir, &block, 2);
    assert_eq!(
        nodes[0].inbound_calls(),
        in1 + 2,
        "with node 2 down Kamailio sends every call to node 1"
    );

    // Node 2 is back: its finished calls are answered through the front again.
    nodes[1].restart();
    let answered = try_until(secs(20), || {
        (callstate(front, &node2_ids[0]).0 == 200).then_some(())
    });
    assert!(
        answered.is_some(),
        "node 2's history not answered after its restart"
    );
    assert_all_done(front, &node2_ids);
    for node in &mut nodes {
        node.gw.as_mut().unwrap().assert_healthy();
    }
}
