//! The SIPx-compatible API: request types, their validation, and the trait the
//! call side implements.
//!
//! Validation is done by hand over a `serde_json::Value` rather than with
//! `#[derive(Deserialize)]` so that every error names the exact JSON path of
//! the offending field (SPEC section 1) and so that SIPx clients' extra fields
//! are ignored. Rules are those of SPEC section 1, with these resolutions:
//!
//! - `phonenumber`: `^\+?[0-9*#]{1,32}$` counted on the whole string, so a
//!   number with `+` has at most 31 digits and a lone `+` is refused; or
//!   `alsa:<line>` (letters, digits, `-`, `_`), a sound-device line (issue 14).
//! - Optional fields (`ttl`, `trtcParams.userSig`, `trtcParams.roomId`,
//!   `trtcParams.strRoomId`, `callStateNotifyUrl`) given as JSON `null` count
//!   as absent. `callStateNotifyUrl: ""` also counts as absent: some SIPx
//!   clients always send the key.
//! - Integers must be JSON integers: `60.0`, `"60"` and `-1` are refused.

use std::fmt;
use std::future::Future;

use serde_json::{Map, Value};

use super::call_error::CallError;
use super::errors::ApiError;
use crate::room_id::RoomId;

/// Default call lifetime when `ttl` is absent (SPEC: 1800 s).
pub const DEFAULT_TTL_S: u32 = 1800;
/// Longest accepted `ttl` (one day).
pub const MAX_TTL_S: u32 = 86_400;
/// Longest accepted `userSig`; real ones are a few hundred bytes.
pub const MAX_USER_SIG_LEN: usize = 4096;
/// Longest accepted `callStateNotifyUrl`.
pub const MAX_NOTIFY_URL_LEN: usize = 2048;
/// Longest accepted call id in `shutdown`/`callstate`; ours are much shorter,
/// the bound only keeps garbage out of logs and lookups.
pub const MAX_CALL_ID_LEN: usize = 128;

/// Room-entry parameters of a startup request, validated.
///
/// `Debug` is written by hand so that logging a request never prints the userSig.
#[derive(Clone, PartialEq, Eq)]
pub struct TrtcParams {
    /// TRTC application id.
    pub sdk_app_id: u32,
    /// Signature for `user_id`; `None` when the client left it to the gateway
    /// (the call side decides whether a configured secret may fill it).
    pub user_sig: Option<String>,
    /// The room to enter.
    pub room: RoomId,
    /// The TRTC user the phone appears as.
    pub user_id: String,
}

impl fmt::Debug for TrtcParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrtcParams")
            .field("sdk_app_id", &self.sdk_app_id)
            .field("user_sig", &self.user_sig.as_ref().map(|_| "<redacted>"))
            .field("room", &self.room)
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// A validated `POST /trtc/startup`: what the call side needs to place a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupRequest {
    /// Number to dial (optional leading `+`, digits, `*`, `#`).
    pub phonenumber: String,
    /// Longest life of the call in seconds, counted from the request.
    pub ttl_s: u32,
    /// Room-entry parameters.
    pub trtc: TrtcParams,
    /// Where state webhooks go, if anywhere (`http://` or `https://`).
    pub notify_url: Option<String>,
}

/// Reply of `GET /trtc/callstate`: the call's history lines and whether it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStateReply {
    /// One line per state change, each ending in `\n` (SPEC "callstate").
    pub data: String,
    /// True once `DISCONNCTD` was written.
    pub done: bool,
}

/// One call in `GET /trtc/calls`: what someone watching the box wants at a glance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CallSummary {
    /// The call's id.
    pub id: String,
    /// `outbound` (the API dialled a phone) or `inbound` (a phone called the box).
    pub direction: &'static str,
    /// The latest state's text (`CALLING` … `DISCONNCTD`).
    pub state: String,
    /// The phone's number (empty for calls restored from before a restart).
    pub number: String,
    /// Unix seconds of the first state line.
    pub started_at: f64,
    /// Unix seconds of the DISCONNCTD line; None while the call runs.
    pub ended_at: Option<f64>,
    /// The final code and reason (`408 ttl expired`); None while the call runs.
    pub reason: Option<String>,
    /// The phone leg's codec once media was negotiated.
    pub codec: Option<&'static str>,
    /// Share of the phone's packets lost, percent, once media flows (extension).
    pub loss_percent: Option<f64>,
    /// Interarrival jitter of the phone's RTP, ms, once media flows (extension).
    pub jitter_ms: Option<f64>,
}

/// What the HTTP layer needs from the call side.
///
/// Single-threaded: implementors use `Rc`/`RefCell`; the futures are not `Send`.
/// Errors are [`CallError`] kinds; the HTTP layer alone turns them into statuses
/// (404 unknown id, 502 room failed, 503 at capacity...).
pub trait Api {
    /// Place a call; resolves once the room is entered and the INVITE sent,
    /// with the new call's id.
    fn startup(&self, req: StartupRequest) -> impl Future<Output = Result<String, CallError>>;
    /// End a call whatever its state; `NotFound` for unknown or finished ids.
    fn shutdown(&self, id: &str) -> Result<(), CallError>;
    /// The call's history; `NotFound` for ids never seen or past retention.
    fn callstate(&self, id: &str) -> Result<CallStateReply, CallError>;
    /// Queue touch tones to a running call's phone (RFC 4733, or SIP INFO).
    fn dtmf(&self, id: &str, digits: &str) -> Result<(), CallError>;
    /// The call's latest media figures, for `/trtc/callstats`.
    fn callstats(&self, id: &str) -> Result<crate::media::MediaSnapshot, CallError>;
    /// Live calls and the most recent finished ones, newest first (`GET /trtc/calls`).
    fn calls(&self) -> Vec<CallSummary>;
    /// Every part of the gateway that is unwell now (`GET /healthz` answers 503 naming
    /// them), empty when it serves calls.
    fn health(&self) -> Vec<crate::health::Unwell>;
    /// The Prometheus text exposition of the gateway's metrics, brought up to date.
    fn metrics(&self) -> Vec<u8>;
    /// What the status page shows: `{"box":{"version","uptime_s","listeners"},"calls":[…]}`
    /// (`GET /trtc/status`, and each event of `GET /events`).
    fn status(&self) -> serde_json::Value;
}

/// Parse and validate a startup body. All of SPEC section 1's rules live here.
pub fn parse_startup(body: &[u8]) -> Result<StartupRequest, ApiError> {
    let obj = parse_object(body)?;

    let phonenumber =
        match obj.get("phonenumber") {
            None | Some(Value::Null) => return Err(ApiError::missing_field("phonenumber")),
            Some(Value::String(s)) if valid_phonenumber(s) => s.clone(),
            Some(Value::String(_)) => return Err(ApiError::bad_field(
                "phonenumber",
                "must be an optional `+` followed by digits, `*` or `#`, 1-32 characters in all, or `alsa:<line>`",
            )),
            Some(_) => return Err(ApiError::bad_field("phonenumber", "must be a string")),
        };

    let ttl_s = match obj.get("ttl") {
        None | Some(Value::Null) => DEFAULT_TTL_S,
        Some(v) => int_in_range(v, "ttl", 1, u64::from(MAX_TTL_S))? as u32,
    };

    let trtc = match obj.get("trtcParams") {
        None | Some(Value::Null) => return Err(ApiError::missing_field("trtcParams")),
        Some(Value::Object(t)) => parse_trtc_params(t)?,
        Some(_) => return Err(ApiError::bad_field("trtcParams", "must be an object")),
    };

    let notify_url = match obj.get("callStateNotifyUrl") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            validate_notify_url(s)?;
            Some(s.clone())
        }
        Some(_) => {
            return Err(ApiError::bad_field(
                "callStateNotifyUrl",
                "must be a string",
            ))
        }
    };

    Ok(StartupRequest {
        phonenumber,
        ttl_s,
        trtc,
        notify_url,
    })
}

/// Parse `{"id": "..."}` (the shutdown body) and return the id.
pub fn parse_id_body(body: &[u8]) -> Result<String, ApiError> {
    let obj = parse_object(body)?;
    match obj.get("id") {
        None | Some(Value::Null) => Err(ApiError::missing_field("id")),
        Some(Value::String(s)) => {
            validate_call_id(s)?;
            Ok(s.clone())
        }
        Some(_) => Err(ApiError::bad_field("id", "must be a string")),
    }
}

/// Most digits one `/trtc/dtmf` request may carry (an IVR menu path, a PIN).
pub const MAX_DTMF_DIGITS: usize = 64;

/// `{"id": "...", "digits": "12#"}` for `/trtc/dtmf`: digits are `0-9 * # A-D`
/// (lowercase a-d accepted), 1..=64 of them.
pub fn parse_dtmf_body(body: &[u8]) -> Result<(String, String), ApiError> {
    let id = parse_id_body(body)?;
    let obj = parse_object(body)?;
    let digits = match obj.get("digits") {
        None | Some(Value::Null) => return Err(ApiError::missing_field("digits")),
        Some(Value::String(s)) => s.to_ascii_uppercase(),
        Some(_) => return Err(ApiError::bad_field("digits", "must be a string")),
    };
    if digits.is_empty() || digits.len() > MAX_DTMF_DIGITS {
        return Err(ApiError::bad_field(
            "digits",
            format!("must be 1 to {MAX_DTMF_DIGITS} digits"),
        ));
    }
    if !digits
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
    {
        return Err(ApiError::bad_field(
            "digits",
            "only 0-9, *, # and A-D are allowed",
        ));
    }
    Ok((id, digits))
}

/// Check a call id taken from a query string or body: non-empty, bounded,
/// printable ASCII. Exists so that shutdown and callstate agree on what an id
/// may look like before the call side looks it up.
pub fn validate_call_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() {
        return Err(ApiError::bad_field("id", "must not be empty"));
    }
    if id.len() > MAX_CALL_ID_LEN {
        return Err(ApiError::bad_field(
            "id",
            format!("must be at most {MAX_CALL_ID_LEN} characters"),
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_field("id", "must be printable ASCII"));
    }
    Ok(())
}

/// JSON body of the startup and shutdown replies: `{"id": "..."}`.
pub fn id_reply_json(id: &str) -> Vec<u8> {
    to_json_bytes(&serde_json::json!({ "id": id }))
}

/// JSON body of the callstate reply: `{"data": "...", "done": bool}`.
pub fn callstate_reply_json(reply: &CallStateReply) -> Vec<u8> {
    to_json_bytes(&serde_json::json!({ "data": reply.data, "done": reply.done }))
}

fn to_json_bytes(v: &Value) -> Vec<u8> {
    // A Value built from strings and bools always serializes.
    serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec())
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::malformed_json(format!("body is not valid JSON: {e}")))?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(ApiError::bad_request("body must be a JSON object")),
    }
}

fn parse_trtc_params(t: &Map<String, Value>) -> Result<TrtcParams, ApiError> {
    let sdk_app_id = match t.get("sdkAppId") {
        None | Some(Value::Null) => return Err(ApiError::missing_field("trtcParams.sdkAppId")),
        Some(v) => int_in_range(v, "trtcParams.sdkAppId", 1, u64::from(u32::MAX))? as u32,
    };

    let user_sig = match t.get("userSig") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => {
            return Err(ApiError::bad_field(
                "trtcParams.userSig",
                "must not be empty (omit it to let the gateway generate one)",
            ))
        }
        Some(Value::String(s)) if s.len() > MAX_USER_SIG_LEN => {
            return Err(ApiError::bad_field(
                "trtcParams.userSig",
                format!("must be at most {MAX_USER_SIG_LEN} characters"),
            ))
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::bad_field(
                "trtcParams.userSig",
                "must be a string",
            ))
        }
    };

    let room_id = match t.get("roomId") {
        None | Some(Value::Null) => None,
        Some(v) => Some(int_in_range(v, "trtcParams.roomId", 1, u64::from(u32::MAX - 1))? as u32),
    };
    let str_room_id = match t.get("strRoomId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if valid_str_room_id(s) => Some(s.clone()),
        Some(Value::String(_)) => {
            return Err(ApiError::bad_field(
                "trtcParams.strRoomId",
                "must be 1-64 characters of A-Z, a-z, 0-9 and _",
            ))
        }
        Some(_) => {
            return Err(ApiError::bad_field(
                "trtcParams.strRoomId",
                "must be a string",
            ))
        }
    };
    let room = match (room_id, str_room_id) {
        (Some(n), None) => RoomId::Numeric(n),
        (None, Some(s)) => RoomId::Named(s),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_field(
                "trtcParams.roomId",
                "give exactly one of roomId and strRoomId, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::bad_field(
                "trtcParams.roomId",
                "one of roomId and strRoomId is required",
            ))
        }
    };

    let user_id = match t.get("userId") {
        None | Some(Value::Null) => return Err(ApiError::missing_field("trtcParams.userId")),
        Some(Value::String(s)) if valid_user_id(s) => s.clone(),
        Some(Value::String(_)) => {
            return Err(ApiError::bad_field(
                "trtcParams.userId",
                "must be 1-32 bytes without spaces or control characters",
            ))
        }
        Some(_) => return Err(ApiError::bad_field("trtcParams.userId", "must be a string")),
    };

    Ok(TrtcParams {
        sdk_app_id,
        user_sig,
        room,
        user_id,
    })
}

/// A JSON integer (not a float, not a string) within `min..=max`.
fn int_in_range(v: &Value, field: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    let range_msg = || format!("must be an integer from {min} to {max}");
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(x) if (min..=max).contains(&x) => Ok(x),
            // Negative integers, floats (60.0, 1e3) and huge values all land here.
            _ => Err(ApiError::bad_field(field, range_msg())),
        },
        _ => Err(ApiError::bad_field(field, range_msg())),
    }
}

fn valid_phonenumber(s: &str) -> bool {
    // `alsa:<line>`: a sound-device line; whether it exists (and whether this build can
    // drive lines) is the call side's to say.
    if let Some(line) = s.strip_prefix("alsa:") {
        return !line.is_empty()
            && s.len() <= 64
            && line
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    }
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty()
        && s.len() <= 32
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
}

fn valid_str_room_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_user_id(s: &str) -> bool {
    (1..=32).contains(&s.len()) && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn validate_notify_url(s: &str) -> Result<(), ApiError> {
    const FIELD: &str = "callStateNotifyUrl";
    if s.len() > MAX_NOTIFY_URL_LEN {
        return Err(ApiError::bad_field(
            FIELD,
            format!("must be at most {MAX_NOTIFY_URL_LEN} characters"),
        ));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::bad_field(
            FIELD,
            "must not contain spaces or control characters",
        ));
    }
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &s[7..]
    } else if lower.starts_with("https://") {
        &s[8..]
    } else {
        return Err(ApiError::bad_field(
            FIELD,
            "must start with http:// or https://",
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if host_port.starts_with('[') {
        // IPv6 literal: the host is what lies between the brackets.
        host_port
            .split_once(']')
            .map(|(h, _)| &h[1..])
            .unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(ApiError::bad_field(FIELD, "must name a host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "phonenumber": "88888888888",
            "ttl": 60,
            "trtcParams": {"sdkAppId": 1, "userSig": "ABCDEFGHIJKLMNOP", "roomId": 1, "userId": "A"},
            "callStateNotifyUrl": "http://example.com"
        })
    }

    fn parse(v: &Value) -> Result<StartupRequest, ApiError> {
        parse_startup(&serde_json::to_vec(v).unwrap())
    }

    /// Set `path` (dotted) in a copy of the good body to `value` (or remove it
    /// when `value` is None) and return the error's field name.
    fn field_err(path: &str, value: Option<Value>) -> String {
        let mut v = good();
        let mut cur = &mut v;
        let parts: Vec<&str> = path.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            cur = cur.get_mut(*p).unwrap();
        }
        let last = parts[parts.len() - 1];
        let obj = cur.as_object_mut().unwrap();
        match value {
            Some(x) => {
                obj.insert(last.to_string(), x);
            }
            None => {
                obj.remove(last);
            }
        }
        let err = parse(&v).expect_err(&format!("{path} should be refused"));
        assert_eq!(err.status, 400, "{err}");
        err.field
            .clone()
            .unwrap_or_else(|| panic!("no field in {err}"))
    }

    #[test]
    fn sipx_sample_parses() {
        let r = parse(&good()).unwrap();
        assert_eq!(r.phonenumber, "88888888888");
        assert_eq!(r.ttl_s, 60);
        assert_eq!(r.trtc.sdk_app_id, 1);
        assert_eq!(r.trtc.user_sig.as_deref(), Some("ABCDEFGHIJKLMNOP"));
        assert_eq!(r.trtc.room, RoomId::Numeric(1));
        assert_eq!(r.trtc.user_id, "A");
        assert_eq!(r.notify_url.as_deref(), Some("http://example.com"));
    }

    #[test]
    fn defaults_and_extras() {
        let v = json!({
            "phonenumber": "+8613800000000",
            "trtcParams": {"sdkAppId": 4294967295u64, "strRoomId": "room_1", "userId": "phone", "extra": 1},
            "somethingElse": {"nested": true}
        });
        let r = parse(&v).unwrap();
        assert_eq!(r.ttl_s, DEFAULT_TTL_S);
        assert_eq!(r.trtc.user_sig, None);
        assert_eq!(r.trtc.room, RoomId::Named("room_1".into()));
        assert_eq!(r.trtc.sdk_app_id, u32::MAX);
        assert_eq!(r.notify_url, None);
    }

    #[test]
    fn nulls_and_empty_url_count_as_absent() {
        let v = json!({
            "phonenumber": "1", "ttl": null, "callStateNotifyUrl": "",
            "trtcParams": {"sdkAppId": 1, "userSig": null, "roomId": 5, "strRoomId": null, "userId": "u"}
        });
        let r = parse(&v).unwrap();
        assert_eq!(r.ttl_s, DEFAULT_TTL_S);
        assert_eq!(r.trtc.user_sig, None);
        assert_eq!(r.trtc.room, RoomId::Numeric(5));
        assert_eq!(r.notify_url, None);
    }

    #[test]
    fn malformed_and_non_object() {
        for body in [&b"{"[..], b"", b"not json", b"{\"a\":1,}", &[0xff, 0xfe]] {
            let e = parse_startup(body).unwrap_err();
            assert_eq!((e.status, e.error), (400, "malformed_json"), "{body:?}");
        }
        for body in [&b"[]"[..], b"1", b"\"x\"", b"null"] {
            let e = parse_startup(body).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.error, "bad_request");
        }
    }

    #[test]
    fn phonenumber_rules() {
        assert_eq!(field_err("phonenumber", None), "phonenumber");
        for bad in [
            json!(""),
            json!("+"),
            json!("12a"),
            json!("1 2"),
            json!("++1"),
            json!("1+2"),
            json!("1".repeat(33)),
            json!(format!("+{}", "1".repeat(32))),
            json!(123),
            json!(null),
            json!("alsa:"),
            json!("alsa:a b"),
            json!("alsa:x/y"),
            json!(format!("alsa:{}", "a".repeat(60))),
        ] {
            assert_eq!(
                field_err("phonenumber", Some(bad.clone())),
                "phonenumber",
                "{bad}"
            );
        }
        for ok in [
            "1",
            "*#",
            "+1",
            &"1".repeat(32),
            &format!("+{}", "1".repeat(31)),
            "alsa:intercom",
            "alsa:door-2_b",
        ] {
            let mut v = good();
            v["phonenumber"] = json!(ok);
            assert_eq!(parse(&v).unwrap().phonenumber, ok);
        }
    }

    #[test]
    fn ttl_rules() {
        for bad in [
            json!(0),
            json!(86401),
            json!(-1),
            json!(60.0),
            json!("60"),
            json!(1e3),
            json!(true),
        ] {
            assert_eq!(field_err("ttl", Some(bad.clone())), "ttl", "{bad}");
        }
        for ok in [1u32, 86400] {
            let mut v = good();
            v["ttl"] = json!(ok);
            assert_eq!(parse(&v).unwrap().ttl_s, ok);
        }
        // A number too big for u64 is parsed by serde_json as a float: refused.
        let body = br#"{"phonenumber":"1","ttl":99999999999999999999999,"trtcParams":{"sdkAppId":1,"roomId":1,"userId":"a"}}"#;
        assert_eq!(
            parse_startup(body).unwrap_err().field.as_deref(),
            Some("ttl")
        );
    }

    #[test]
    fn trtc_params_rules() {
        assert_eq!(field_err("trtcParams", None), "trtcParams");
        assert_eq!(field_err("trtcParams", Some(json!("x"))), "trtcParams");
        assert_eq!(field_err("trtcParams", Some(json!([]))), "trtcParams");
    }

    #[test]
    fn sdk_app_id_rules() {
        let f = "trtcParams.sdkAppId";
        assert_eq!(field_err(f, None), f);
        for bad in [
            json!(0),
            json!(4294967296u64),
            json!(-5),
            json!(1.5),
            json!("1400000000"),
        ] {
            assert_eq!(field_err(f, Some(bad.clone())), f, "{bad}");
        }
    }

    #[test]
    fn user_sig_rules() {
        let f = "trtcParams.userSig";
        for bad in [json!(""), json!("x".repeat(4097)), json!(5), json!({})] {
            assert_eq!(field_err(f, Some(bad.clone())), f);
        }
        let mut v = good();
        v["trtcParams"]["userSig"] = json!("x".repeat(4096));
        assert!(parse(&v).is_ok());
    }

    #[test]
    fn room_rules() {
        let f = "trtcParams.roomId";
        for bad in [
            json!(0),
            json!(4294967295u64),
            json!(-1),
            json!(2.0),
            json!("7"),
        ] {
            assert_eq!(field_err(f, Some(bad.clone())), f, "{bad}");
        }
        let mut v = good();
        v["trtcParams"]["roomId"] = json!(4294967294u64);
        assert_eq!(parse(&v).unwrap().trtc.room, RoomId::Numeric(u32::MAX - 1));

        // Neither.
        assert_eq!(field_err(f, None), f);
        // Both.
        let mut v = good();
        v["trtcParams"]["strRoomId"] = json!("abc");
        assert_eq!(parse(&v).unwrap_err().field.as_deref(), Some(f));

        let fs = "trtcParams.strRoomId";
        for bad in [
            json!(""),
            json!("a-b"),
            json!("a b"),
            json!("x".repeat(65)),
            json!(12),
            json!("é"),
        ] {
            let mut v = good();
            v["trtcParams"].as_object_mut().unwrap().remove("roomId");
            v["trtcParams"]["strRoomId"] = bad.clone();
            assert_eq!(parse(&v).unwrap_err().field.as_deref(), Some(fs), "{bad}");
        }
        let mut v = good();
        v["trtcParams"].as_object_mut().unwrap().remove("roomId");
        v["trtcParams"]["strRoomId"] = json!("x".repeat(64));
        assert!(parse(&v).is_ok());
    }

    #[test]
    fn user_id_rules() {
        let f = "trtcParams.userId";
        assert_eq!(field_err(f, None), f);
        for bad in [
            json!(""),
            json!("a b"),
            json!("a\tb"),
            json!("a\u{7}b"),
            json!("x".repeat(33)),
            json!("é".repeat(17)), // 34 bytes
            json!(1),
        ] {
            assert_eq!(field_err(f, Some(bad.clone())), f, "{bad}");
        }
        let mut v = good();
        v["trtcParams"]["userId"] = json!("x".repeat(32));
        assert!(parse(&v).is_ok());
    }

    #[test]
    fn notify_url_rules() {
        let f = "callStateNotifyUrl";
        for bad in [
            json!("ftp://example.com"),
            json!("example.com"),
            json!("http://"),
            json!("http:///path"),
            json!("http://:80/x"),
            json!("http://user@/x"),
            json!("http://exa mple.com"),
            json!(format!("http://e.com/{}", "x".repeat(2048))),
            json!(1),
            json!({}),
        ] {
            assert_eq!(field_err(f, Some(bad.clone())), f, "{bad}");
        }
        for ok in [
            "http://example.com",
            "https://example.com:8443/hook?x=1",
            "HTTP://10.0.0.1/a",
            "http://[::1]:8080/x",
        ] {
            let mut v = good();
            v[f] = json!(ok);
            assert_eq!(parse(&v).unwrap().notify_url.as_deref(), Some(ok));
        }
    }

    #[test]
    fn dtmf_body() {
        let (id, digits) = parse_dtmf_body(br#"{"id":"ab12","digits":"12*#a"}"#).unwrap();
        assert_eq!((id.as_str(), digits.as_str()), ("ab12", "12*#A"));
        for (body, field) in [
            (r#"{"id":"ab12"}"#, "digits"),
            (r#"{"id":"ab12","digits":""}"#, "digits"),
            (r#"{"id":"ab12","digits":"12x"}"#, "digits"),
            (r#"{"id":"ab12","digits":5}"#, "digits"),
            (r#"{"digits":"5"}"#, "id"),
        ] {
            let e = parse_dtmf_body(body.as_bytes()).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{body}");
            assert_eq!(e.status, 400);
        }
        let long = format!(
            r#"{{"id":"a","digits":"{}"}}"#,
            "1".repeat(MAX_DTMF_DIGITS + 1)
        );
        assert_eq!(
            parse_dtmf_body(long.as_bytes())
                .unwrap_err()
                .field
                .as_deref(),
            Some("digits")
        );
    }

    #[test]
    fn id_body() {
        assert_eq!(
            parse_id_body(br#"{"id":"a0f93afd","x":1}"#).unwrap(),
            "a0f93afd"
        );
        assert_eq!(
            parse_id_body(b"{}").unwrap_err().field.as_deref(),
            Some("id")
        );
        assert_eq!(
            parse_id_body(br#"{"id":""}"#).unwrap_err().field.as_deref(),
            Some("id")
        );
        assert_eq!(
            parse_id_body(br#"{"id":5}"#).unwrap_err().field.as_deref(),
            Some("id")
        );
        assert_eq!(
            parse_id_body(br#"{"id":"a b"}"#)
                .unwrap_err()
                .field
                .as_deref(),
            Some("id")
        );
        let long = format!(r#"{{"id":"{}"}}"#, "a".repeat(129));
        assert_eq!(
            parse_id_body(long.as_bytes()).unwrap_err().field.as_deref(),
            Some("id")
        );
        assert_eq!(parse_id_body(b"[").unwrap_err().error, "malformed_json");
    }

    #[test]
    fn debug_hides_user_sig() {
        let r = parse(&good()).unwrap();
        let s = format!("{r:?}");
        assert!(!s.contains("ABCDEFGHIJKLMNOP"), "{s}");
        assert!(s.contains("redacted"));
    }

    #[test]
    fn reply_json() {
        let v: Value = serde_json::from_slice(&id_reply_json("ab\"c")).unwrap();
        assert_eq!(v, json!({"id": "ab\"c"}));
        let v: Value = serde_json::from_slice(&callstate_reply_json(&CallStateReply {
            data: "l1\nl2\n".into(),
            done: true,
        }))
        .unwrap();
        assert_eq!(v, json!({"data": "l1\nl2\n", "done": true}));
    }
}
