//! The Call Engine REST client and the ringing of one inbound call through it.
//!
//! Every request goes to `{base_url}/v4/<service>/<command>?sdkappid=…&identifier=<admin>
//! &usersig=<admin UserSig>&random=<u32>&contenttype=json` (SPEC section 4): the admin's
//! UserSig is made from the application's secret key (SPEC section 5) and cached until
//! shortly before it expires; `random` is fresh per request. The URL carries that
//! UserSig, so it is never logged: log lines name the command only.
//!
//! [`ring`] is the life of one inbound call's ringing: `start_call_by_robot`, then
//! `get_call_info` once a second until a callee accepts, every callee declined (or was
//! busy, or did not answer), or the call is over; `end_call` when ringing ends without
//! an answer (the caller hung up first, or everyone declined), so the app users' phones
//! stop ringing.

use super::api::{
    CallIdBody, CallInfo, CallInfoResponse, Reply, StartCallByRobot, StartCallResponse,
};
use super::CallEngineConfig;
use crate::calls::inbound::EngineOutcome;
use crate::http::client::WebhookClient;
use serde::de::DeserializeOwned;
use smol::channel::{Receiver, Sender};
use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often `get_call_info` is asked while the callees ring.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// Lifetime of the admin UserSigs the client makes; renewed an hour before the end.
const ADMIN_SIG_EXPIRE_S: u64 = 86_400;

/// One application's credentials for the Call Engine.
#[derive(Clone)]
pub struct AppKey {
    /// The TRTC application.
    pub sdk_app_id: u32,
    /// Its secret key (TRTC console), which signs the admin's UserSig. Never logged.
    pub secret_key: String,
}

/// A Call Engine client: where it answers, who we are, and an HTTP client.
pub struct CallEngine {
    config: CallEngineConfig,
    http: WebhookClient,
    /// The admin UserSig per application and when it was made.
    sigs: RefCell<Vec<(u32, u64, String)>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl CallEngine {
    /// A client for `[callengine]`.
    pub fn new(config: CallEngineConfig, http: WebhookClient) -> Self {
        CallEngine {
            config,
            http,
            sigs: RefCell::new(Vec::new()),
        }
    }

    fn admin_sig(&self, app: &AppKey) -> String {
        let now = unix_now();
        let mut sigs = self.sigs.borrow_mut();
        let fresh = |(id, made, _): &&(u32, u64, String)| {
            *id == app.sdk_app_id && now < made + ADMIN_SIG_EXPIRE_S - 3600
        };
        if let Some((_, _, sig)) = sigs.iter().find(fresh) {
            return sig.clone();
        }
        let sig = crate::usersig::gen_user_sig(
            &app.secret_key,
            &self.config.admin,
            app.sdk_app_id,
            now,
            ADMIN_SIG_EXPIRE_S,
        );
        sigs.retain(|(id, _, _)| *id != app.sdk_app_id);
        sigs.push((app.sdk_app_id, now, sig.clone()));
        sig
    }

    fn url(&self, command: &str, app: &AppKey) -> String {
        format!(
            "{}/v4/{command}?sdkappid={}&identifier={}&usersig={}&random={}&contenttype=json",
            self.config.base_url.trim_end_matches('/'),
            app.sdk_app_id,
            percent_encode(&self.config.admin),
            percent_encode(&self.admin_sig(app)),
            rand::random::<u32>()
        )
    }

    /// POSTs `body` to `command` and reads the reply's envelope; an HTTP failure or a
    /// non-zero `ErrorCode` is an error saying which.
    async fn request<T: DeserializeOwned>(
        &self,
        command: &str,
        app: &AppKey,
        body: &impl serde::Serialize,
    ) -> Result<T, String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let (status, reply) = self
            .http
            .post_json_reply(&self.url(command, app), &body, timeout)
            .await
            .map_err(|e| format!("{command}: {e}"))?;
        if status != 200 {
            return Err(format!("{command}: HTTP {status}"));
        }
        let reply: Reply<T> = serde_json::from_slice(&reply)
            .map_err(|e| format!("{command}: unreadable reply: {e}"))?;
        if reply.error_code != 0 {
            return Err(format!(
                "{command}: ErrorCode {} {} (RequestId {})",
                reply.error_code, reply.error_info, reply.request_id
            ));
        }
        reply
            .response
            .ok_or_else(|| format!("{command}: reply without Response"))
    }

    /// `start_call_by_robot`: the Call Engine's id for the call.
    pub async fn start(&self, app: &AppKey, req: &StartCallByRobot) -> Result<String, String> {
        let r: StartCallResponse = self
            .request("call_engine_http_srv/start_call_by_robot", app, req)
            .await?;
        Ok(r.call_id)
    }

    /// `get_call_info`: every member with its status.
    pub async fn info(&self, app: &AppKey, call_id: &str) -> Result<CallInfoResponse, String> {
        self.request(
            "call_engine_http_srv/get_call_info",
            app,
            &CallIdBody {
                call_id: call_id.to_string(),
            },
        )
        .await
    }

    /// `end_call`: stop ringing the app users.
    pub async fn end(&self, app: &AppKey, call_id: &str) -> Result<(), String> {
        self.request::<serde_json::Value>(
            "call_engine_http_srv/end_call",
            app,
            &CallIdBody {
                call_id: call_id.to_string(),
            },
        )
        .await
        .map(|_| ())
    }
}

/// How one callee stands, read from `get_call_info`'s `Status` text ("Get Real-Time
/// Call Status", <https://trtc.io/document/68932>: the documented sample shows
/// `Calling` and `Waiting` for members still ringing). Matched without regard to case;
/// anything unknown counts as still ringing, so a new status never ends a call early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalleeStatus {
    /// Still ringing (`Waiting`, `Calling`, or a status we do not know).
    Ringing,
    /// Picked up (`Accept`, `Accepted`, `Connected`, `InCall`).
    Accepted,
    /// Declined (`Reject`, `Rejected`, `Decline`, `Declined`, `Hangup`).
    Declined,
    /// Busy in another call (`Busy`, `LineBusy`).
    Busy,
    /// Did not answer (`NoResp`, `NoResponse`, `Timeout`).
    NoAnswer,
}

/// Reads one `Status`.
pub fn callee_status(status: &str) -> CalleeStatus {
    match status.to_ascii_lowercase().as_str() {
        "accept" | "accepted" | "connected" | "incall" => CalleeStatus::Accepted,
        "reject" | "rejected" | "decline" | "declined" | "hangup" => CalleeStatus::Declined,
        "busy" | "linebusy" => CalleeStatus::Busy,
        "noresp" | "noresponse" | "timeout" => CalleeStatus::NoAnswer,
        _ => CalleeStatus::Ringing,
    }
}

/// Whether ringing is over, judged from the callees' statuses (the robot's own entry and
/// users we did not ring are ignored).
pub fn outcome_of(info: &CallInfoResponse, callees: &[String]) -> Option<EngineOutcome> {
    let statuses: Vec<CalleeStatus> = info
        .user_list
        .iter()
        .filter(|u| callees.contains(&u.user_account))
        .map(|u| callee_status(&u.status))
        .collect();
    if statuses.contains(&CalleeStatus::Accepted) {
        return Some(EngineOutcome::Accepted);
    }
    if statuses.is_empty() || statuses.contains(&CalleeStatus::Ringing) {
        return None;
    }
    if statuses.iter().all(|s| *s == CalleeStatus::Busy) {
        Some(EngineOutcome::Declined { all_busy: true })
    } else if statuses.iter().all(|s| *s == CalleeStatus::NoAnswer) {
        Some(EngineOutcome::NoAnswer)
    } else {
        Some(EngineOutcome::Declined { all_busy: false })
    }
}

/// What [`ring`] needs to know about one inbound call.
pub struct Ringing {
    /// The gateway's call id (sent as `UserData`, and in logs).
    pub id: String,
    /// The application and its key.
    pub app: AppKey,
    /// The robot (the box's TRTC user) and the callees.
    pub robot: String,
    /// The app users to ring.
    pub callees: Vec<String>,
    /// The room, as `CallInfo` wants it.
    pub room: crate::room_id::RoomId,
    /// The rule's ringing timeout.
    pub timeout_s: u32,
}

/// Rings the callees of one inbound call: outcomes go to `outcomes` (the call's task);
/// `call_over` closes when the call ends. Returns when ringing is over.
pub async fn ring(
    engine: std::rc::Rc<CallEngine>,
    r: Ringing,
    outcomes: Sender<EngineOutcome>,
    call_over: Receiver<()>,
) {
    let (room_id, room_id_type) = match &r.room {
        crate::room_id::RoomId::Numeric(n) => (serde_json::json!(n), 1),
        crate::room_id::RoomId::Named(s) => (serde_json::json!(s), 2),
    };
    let req = StartCallByRobot {
        robot_account: r.robot.clone(),
        callee_list_account: r.callees.clone(),
        // The Call Engine accepts 10 s to 10 min.
        timeout: (r.timeout_s * 1000).clamp(10_000, 600_000),
        user_data: r.id.clone(),
        call_info: CallInfo {
            media_type: "Audio".into(),
            room_id,
            room_id_type,
        },
    };
    let call_id = match engine.start(&r.app, &req).await {
        Ok(id) => id,
        Err(why) => {
            log::warn!("call={} Call Engine: {why}", r.id);
            let _ = outcomes.try_send(EngineOutcome::Failed(why));
            return;
        }
    };
    log::info!(
        "call={} Call Engine rings {:?} (CallId {call_id})",
        r.id,
        r.callees
    );
    let answered = loop {
        let over = futures_lite::future::or(
            async {
                let _ = call_over.recv().await;
                true
            },
            async {
                async_io::Timer::after(POLL_EVERY).await;
                false
            },
        )
        .await;
        if over {
            break false;
        }
        match engine.info(&r.app, &call_id).await {
            Ok(info) => match outcome_of(&info, &r.callees) {
                None => continue,
                Some(outcome) => {
                    let accepted = outcome == EngineOutcome::Accepted;
                    log::info!("call={} Call Engine: {outcome:?}", r.id);
                    let _ = outcomes.try_send(outcome);
                    if accepted {
                        return;
                    }
                    break false;
                }
            },
            // One failed poll is not the end of ringing; the room may still answer.
            Err(why) => log::warn!("call={} Call Engine: {why}", r.id),
        }
    };
    if !answered {
        if let Err(why) = engine.end(&r.app, &call_id).await {
            log::warn!("call={} Call Engine: {why}", r.id);
        }
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callengine::api::UserStatus;

    fn info(list: &[(&str, &str)]) -> CallInfoResponse {
        CallInfoResponse {
            user_list: list
                .iter()
                .map(|(u, s)| UserStatus {
                    user_account: u.to_string(),
                    status: s.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn statuses_decide_the_outcome_and_the_robot_is_ignored() {
        let callees = vec!["alice".to_string(), "bob".to_string()];
        let o = |l: &[(&str, &str)]| outcome_of(&info(l), &callees);
        assert_eq!(
            o(&[
                ("sipgw_robot", "Calling"),
                ("alice", "Waiting"),
                ("bob", "Waiting")
            ]),
            None
        );
        assert_eq!(o(&[("alice", "Reject"), ("bob", "Waiting")]), None);
        assert_eq!(
            o(&[("alice", "Reject"), ("bob", "Accept")]),
            Some(EngineOutcome::Accepted)
        );
        assert_eq!(
            o(&[("alice", "Reject"), ("bob", "Busy")]),
            Some(EngineOutcome::Declined { all_busy: false })
        );
        assert_eq!(
            o(&[("alice", "busy"), ("bob", "LineBusy")]),
            Some(EngineOutcome::Declined { all_busy: true })
        );
        assert_eq!(
            o(&[("alice", "NoResp"), ("bob", "Timeout")]),
            Some(EngineOutcome::NoAnswer)
        );
        assert_eq!(o(&[("alice", "SomethingNew"), ("bob", "Reject")]), None);
        assert_eq!(o(&[]), None);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("eJy+/a=b"), "eJy%2B%2Fa%3Db");
        assert_eq!(percent_encode("admin_1.x~"), "admin_1.x~");
    }
}
