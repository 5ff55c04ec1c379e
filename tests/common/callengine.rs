//! A local stand-in for TRTC's Call Engine REST API (SPEC section 4), the one boundary the
//! tests cannot reach (Tencent's cloud). It speaks the documented JSON on loopback, plays
//! a scripted ringing (accept, decline, busy, no answer, error), and checks every request
//! it gets: the path, each query parameter (the admin UserSig is decoded and its HMAC
//! recomputed here, independently of the gateway's code, and `random` must differ per
//! request), and every body field. What it found wrong is in [`CallEngineStandIn::faults`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the stand-in's callees answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// `alice` accepts on the second poll.
    Accept,
    /// Every callee rejects on the second poll.
    Decline,
    /// Every callee is busy.
    Busy,
    /// Every callee times out.
    NoAnswer,
    /// `start_call_by_robot` fails with `ErrorCode` 90001.
    Error,
    /// Nobody ever answers (ringing goes on until the caller gives up).
    Ring,
}

/// What the stand-in saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Commands in order (`start_call_by_robot`, `get_call_info`, `end_call`).
    pub commands: Vec<String>,
    /// Every problem with a request, in words.
    pub faults: Vec<String>,
    randoms: HashSet<String>,
    polls: u32,
}

/// A running stand-in; its thread ends with the test process.
pub struct CallEngineStandIn {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

const SDK_APP_ID: &str = "1400000001";
const ADMIN: &str = "administrator";

impl CallEngineStandIn {
    /// Starts the stand-in for application 1400000001 with `secret_key` and `script`.
    pub fn start(secret_key: &str, script: Script) -> CallEngineStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (key, state) = (secret_key.to_string(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &key, script, &state);
            }
        });
        CallEngineStandIn { addr, seen }
    }

    /// `[callengine]` pointing at the stand-in.
    pub fn toml(&self) -> String {
        format!(
            "\n[callengine]\nbase_url = \"http://{}\"\nadmin = \"{ADMIN}\"\ntimeout_ms = 2000\n",
            self.addr
        )
    }

    /// The commands received so far.
    pub fn commands(&self) -> Vec<String> {
        self.seen.lock().unwrap().commands.clone()
    }

    /// Everything wrong with the requests so far.
    pub fn faults(&self) -> Vec<String> {
        self.seen.lock().unwrap().faults.clone()
    }
}

fn serve(
    mut stream: TcpStream,
    key: &str,
    script: Script,
    seen: &Mutex<Seen>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_len, length) = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            break (i + 4, length);
        }
    };
    while buf.len() < head_len + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_len]).to_string();
    let body: Value = serde_json::from_slice(&buf[head_len..]).unwrap_or(Value::Null);
    let target = head.split(' ').nth(1).unwrap_or("").to_string();
    let (status, reply) = answer(
        &head,
        &target,
        &body,
        key,
        script,
        &mut seen.lock().unwrap(),
    );
    let text = reply.to_string();
    write!(
        stream,
        "HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()
}

fn ok(response: Value) -> Value {
    json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "RequestId": "standin-1", "Response": response})
}

fn answer(
    head: &str,
    target: &str,
    body: &Value,
    key: &str,
    script: Script,
    seen: &mut Seen,
) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let command = path
        .strip_prefix("/v4/call_engine_http_srv/")
        .unwrap_or(path)
        .to_string();
    seen.commands.push(command.clone());
    if !head.starts_with("POST ") {
        seen.faults.push(format!("{command}: not a POST"));
    }
    check_query(&command, query, key, seen);
    match command.as_str() {
        "start_call_by_robot" => {
            check_start_body(body, seen);
            if script == Script::Error {
                return (
                    200,
                    json!({"ActionStatus": "FAIL", "ErrorCode": 90001, "ErrorInfo": "stand-in refuses", "RequestId": "standin-err"}),
                );
            }
            (
                200,
                ok(json!({"CallId": "standin-call-1", "CallResult": []})),
            )
        }
        "get_call_info" | "end_call" => {
            if body["CallId"] != "standin-call-1" {
                seen.faults
                    .push(format!("{command}: CallId {}", body["CallId"]));
            }
            if command == "end_call" {
                return (200, ok(json!({})));
            }
            seen.polls += 1;
            let later = seen.polls >= 2;
            let (a, b) = match (script, later) {
                (_, false) | (Script::Ring, _) => ("Waiting", "Waiting"),
                (Script::Accept, true) => ("Accept", "Waiting"),
                (Script::Decline, true) => ("Reject", "Reject"),
                (Script::Busy, true) => ("Busy", "Busy"),
                (Script::NoAnswer, true) => ("NoResp", "NoResp"),
                (Script::Error, true) => ("Waiting", "Waiting"),
            };
            (
                200,
                ok(json!({"UserList": [
                    {"User_Account": "sipgw_robot", "Status": "Calling"},
                    {"User_Account": "alice", "Status": a},
                    {"User_Account": "bob", "Status": b},
                ]})),
            )
        }
        other => {
            seen.faults.push(format!("unknown path {path} ({other})"));
            (404, json!({}))
        }
    }
}

fn check_query(command: &str, query: &str, key: &str, seen: &mut Seen) {
    let params: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    let get = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    if get("sdkappid") != Some(SDK_APP_ID) {
        seen.faults
            .push(format!("{command}: sdkappid {:?}", get("sdkappid")));
    }
    if get("identifier") != Some(ADMIN) {
        seen.faults
            .push(format!("{command}: identifier {:?}", get("identifier")));
    }
    if get("contenttype") != Some("json") {
        seen.faults
            .push(format!("{command}: contenttype {:?}", get("contenttype")));
    }
    match get("random").map(|r| (r, r.parse::<u32>())) {
        Some((r, Ok(_))) => {
            if !seen.randoms.insert(r.to_string()) {
                seen.faults.push(format!("{command}: random {r} reused"));
            }
        }
        other => seen.faults.push(format!("{command}: random {other:?}")),
    }
    match get("usersig").map(percent_decode) {
        Some(sig) => {
            if let Err(why) = verify_user_sig(&sig, key, ADMIN, SDK_APP_ID) {
                seen.faults.push(format!("{command}: usersig: {why}"));
            }
        }
        None => seen.faults.push(format!("{command}: no usersig")),
    }
}

fn check_start_body(b: &Value, seen: &mut Seen) {
    let mut fault = |why: String| seen.faults.push(format!("start_call_by_robot body: {why}"));
    if b["Robot_Account"] != "sipgw_robot" {
        fault(format!("Robot_Account {}", b["Robot_Account"]));
    }
    if b["CalleeList_Account"] != json!(["alice", "bob"]) {
        fault(format!("CalleeList_Account {}", b["CalleeList_Account"]));
    }
    match b["Timeout"].as_u64() {
        Some(t) if (10_000..=600_000).contains(&t) => {}
        other => fault(format!("Timeout {other:?}")),
    }
    if b["UserData"].as_str().is_none_or(str::is_empty) {
        fault(format!("UserData {}", b["UserData"]));
    }
    let info = &b["CallInfo"];
    if info["MediaType"] != "Audio" {
        fault(format!("MediaType {}", info["MediaType"]));
    }
    let room_ok = match info["RoomIdType"].as_u64() {
        Some(1) => info["RoomId"].is_u64(),
        Some(2) => info["RoomId"]
            .as_str()
            .is_some_and(|s| s.starts_with("in_")),
        _ => false,
    };
    if !room_ok {
        fault(format!(
            "RoomId {} type {}",
            info["RoomId"], info["RoomIdType"]
        ));
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// TLS-Sig-API v2 (SPEC section 5), checked from its definition: base64 with `*-_` for
/// `+/=`, zlib, JSON whose `TLS.sig` is the HMAC-SHA256 of the documented content.
fn verify_user_sig(sig: &str, key: &str, user: &str, app: &str) -> Result<(), String> {
    let b64: String = sig
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect();
    let zipped = STANDARD.decode(b64).map_err(|e| format!("base64: {e}"))?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(&zipped[..])
        .read_to_end(&mut json)
        .map_err(|e| format!("zlib: {e}"))?;
    let doc: Value = serde_json::from_slice(&json).map_err(|e| format!("json: {e}"))?;
    let signed_app = doc["TLS.sdkappid"].as_u64().map(|n| n.to_string());
    if doc["TLS.identifier"] != user || signed_app.as_deref() != Some(app) {
        return Err(format!(
            "signed for {} / {}",
            doc["TLS.identifier"], doc["TLS.sdkappid"]
        ));
    }
    let (time, expire) = (
        doc["TLS.time"].as_u64().unwrap_or(0),
        doc["TLS.expire"].as_u64().unwrap_or(0),
    );
    let content = format!(
        "TLS.identifier:{user}\nTLS.sdkappid:{app}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(content.as_bytes());
    let want = STANDARD.encode(mac.finalize().into_bytes());
    if doc["TLS.sig"] != want.as_str() {
        return Err("HMAC does not match the app's secret key".into());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if time > now + 60 || time + expire < now {
        return Err(format!("not valid now (time {time}, expire {expire})"));
    }
    Ok(())
}
