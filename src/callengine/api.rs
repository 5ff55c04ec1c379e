//! Request and reply bodies of the Call Engine REST API, and the pure mapping from how
//! the ringing ended to the SIP final response.
//!
//! Sources: "Initiating a Call From the Server" (start_call_by_robot, the seed in the
//! issue), "Get Real-Time Call Status" <https://trtc.io/document/68932> (get_call_info:
//! `{"CallId"}` in, `Response{CallInfo, UserList[{User_Account, Status}]}` out), and
//! "get_record_by_callid" <https://www.tencentcloud.com/document/product/647/68930>
//! (`v4/call_record_http_srv/get_record_by_callid`, `Response.CallRecord.CallResult`).

use serde::{Deserialize, Serialize};

/// `CallInfo` of `start_call_by_robot`: an audio call in the robot's room.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallInfo {
    /// Always "Audio" for the gateway.
    #[serde(rename = "MediaType")]
    pub media_type: String,
    /// The room, as a JSON number (type 1) or string (type 2).
    #[serde(rename = "RoomId")]
    pub room_id: serde_json::Value,
    /// 1 = integer room id, 2 = string room id (not StartStreamIngest's numbering).
    #[serde(rename = "RoomIdType")]
    pub room_id_type: u8,
}

/// Body of `v4/call_engine_http_srv/start_call_by_robot`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StartCallByRobot {
    /// The box's TRTC user that enters the room and carries the caller's audio.
    #[serde(rename = "Robot_Account")]
    pub robot_account: String,
    /// App users to ring.
    #[serde(rename = "CalleeList_Account")]
    pub callee_list_account: Vec<String>,
    /// Ringing timeout in ms (10000..=600000).
    #[serde(rename = "Timeout")]
    pub timeout: u32,
    /// Free text echoed to the app; the gateway puts its call id here.
    #[serde(rename = "UserData")]
    pub user_data: String,
    /// Media type and room.
    #[serde(rename = "CallInfo")]
    pub call_info: CallInfo,
}

/// Body of `get_call_info`, `end_call` and `get_record_by_callid`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallIdBody {
    /// The Call Engine's id from `start_call_by_robot`.
    #[serde(rename = "CallId")]
    pub call_id: String,
}

/// The envelope every Call Engine reply shares; `ErrorCode != 0` is a failure.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Reply<T> {
    /// 0 = success.
    #[serde(rename = "ErrorCode")]
    pub error_code: i64,
    /// Tencent's explanation when `ErrorCode != 0`.
    #[serde(rename = "ErrorInfo", default)]
    pub error_info: String,
    /// "OK" or "FAIL".
    #[serde(rename = "ActionStatus", default)]
    pub action_status: String,
    /// Quoted when asking Tencent about a failed request.
    #[serde(rename = "RequestId", default)]
    pub request_id: String,
    /// Absent on failures.
    #[serde(rename = "Response")]
    pub response: Option<T>,
}

/// `Response` of `start_call_by_robot`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct StartCallResponse {
    /// Id for the companion requests.
    #[serde(rename = "CallId")]
    pub call_id: String,
}

/// One callee in `get_call_info`'s `UserList`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct UserStatus {
    /// The app user.
    #[serde(rename = "User_Account")]
    pub user_account: String,
    /// The documented sample shows "Calling" and "Waiting"; kept as text.
    #[serde(rename = "Status")]
    pub status: String,
}

/// `Response` of `get_call_info`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CallInfoResponse {
    /// Every member of the call with its status.
    #[serde(rename = "UserList", default)]
    pub user_list: Vec<UserStatus>,
}

/// How ringing the app users ended, as far as the phone leg cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A callee accepted (or entered the room): answer with 200.
    Answered,
    /// Every callee declined.
    AllDeclined,
    /// Every callee was busy.
    AllBusy,
    /// Nobody answered within the rule's timeout.
    NoAnswer,
    /// The Call Engine answered with an error, an HTTP failure, or not at all.
    EngineError,
}

/// The SIP final status and reason phrase the phone caller gets for `outcome`
/// (issue 10: declined 603, busy 486, no answer 480, Call Engine error 503).
pub fn sip_status(outcome: Outcome) -> (u16, &'static str) {
    match outcome {
        Outcome::Answered => (200, "OK"),
        Outcome::AllDeclined => (603, "Decline"),
        Outcome::AllBusy => (486, "Busy Here"),
        Outcome::NoAnswer => (480, "Temporarily Unavailable"),
        Outcome::EngineError => (503, "Service Unavailable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_maps_to_its_sip_status() {
        assert_eq!(sip_status(Outcome::Answered), (200, "OK"));
        assert_eq!(sip_status(Outcome::AllDeclined), (603, "Decline"));
        assert_eq!(sip_status(Outcome::AllBusy), (486, "Busy Here"));
        assert_eq!(
            sip_status(Outcome::NoAnswer),
            (480, "Temporarily Unavailable")
        );
        assert_eq!(
            sip_status(Outcome::EngineError),
            (503, "Service Unavailable")
        );
    }

    #[test]
    fn documented_get_call_info_reply_parses() {
        // The sample reply of https://trtc.io/document/68932.
        let body = r#"{"ErrorCode":0,"ErrorInfo":"","ActionStatus":"OK","RequestId":"Id-431454f25a44462d8155bdff4fed38cc-O-Seq-19029769","Response":{"CallInfo":{"CallId":"055662e1-bc8a-469c-a334-1126c8c17d58","MediaType":"Audio","ChatGroupId":"","RoomId":"","RoomIdType":0},"UserList":[{"User_Account":"user1","Status":"Calling"},{"User_Account":"user2","Status":"Waiting"}]}}"#;
        let r: Reply<CallInfoResponse> = serde_json::from_str(body).unwrap();
        assert_eq!(r.error_code, 0);
        let list = r.response.unwrap().user_list;
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].status, "Waiting");
    }

    #[test]
    fn start_call_body_uses_documented_keys() {
        let b = StartCallByRobot {
            robot_account: "sipgw_robot".into(),
            callee_list_account: vec!["alice".into()],
            timeout: 30000,
            user_data: "7".into(),
            call_info: CallInfo {
                media_type: "Audio".into(),
                room_id: serde_json::json!("in_7"),
                room_id_type: 2,
            },
        };
        let v = serde_json::to_value(&b).unwrap();
        for k in [
            "Robot_Account",
            "CalleeList_Account",
            "Timeout",
            "UserData",
            "CallInfo",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["CallInfo"]["RoomIdType"], 2);
        let err: Reply<StartCallResponse> =
            serde_json::from_str(r#"{"ErrorCode":90001,"ErrorInfo":"bad","ActionStatus":"FAIL"}"#)
                .unwrap();
        assert!(err.response.is_none());
    }
}
