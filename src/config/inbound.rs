//! `[[inbound]]`: dispatch rules for calls into the box. Which number the caller dialled
//! decides which TRTC application, which robot user the box enters as, which app users
//! ring (through the Call Engine) and which room they meet in.

use crate::room_id::RoomId;
use serde::Deserialize;

/// One `[[inbound]]` rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRule {
    /// The called number (the Request-URI's user part); `"*"` matches any.
    pub number: String,
    /// The TRTC application; its `[trtc.apps."<id>"] secret_key` signs the robot's and
    /// the Call Engine admin's UserSigs.
    pub sdk_app_id: u32,
    /// The box's TRTC user in the room.
    pub robot: String,
    /// The app users to ring.
    pub callees: Vec<String>,
    /// The room as a string id; `{id}` becomes the box's call id.
    #[serde(default)]
    pub str_room_id: Option<String>,
    /// The room as a number.
    #[serde(default)]
    pub room_id: Option<u32>,
    /// How long the callees ring before the caller hears 480.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u32,
    /// Webhooks for this rule's calls (the same callstate posts as outbound calls).
    #[serde(default)]
    pub notify_url: Option<String>,
}

fn default_timeout_s() -> u32 {
    30
}

impl InboundRule {
    /// Whether this rule takes a call to `called`.
    pub fn matches(&self, called: &str) -> bool {
        self.number == "*" || self.number == called
    }

    /// The room of call `id`.
    pub fn room(&self, id: &str) -> RoomId {
        match (&self.str_room_id, self.room_id) {
            (Some(s), _) => RoomId::Named(s.replace("{id}", id)),
            (None, Some(n)) => RoomId::Numeric(n),
            (None, None) => RoomId::Named(format!("in_{id}")),
        }
    }

    /// Checks rule number `i`; the error is `(key, why)`.
    pub fn validate(&self, i: usize, apps: &[String]) -> Result<(), (String, String)> {
        let key = |k: &str| format!("inbound[{i}].{k}");
        let number_ok = self.number == "*"
            || (!self.number.is_empty()
                && self.number.len() <= 32
                && self
                    .number
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+*#-_.".contains(&b)));
        if !number_ok {
            return Err((key("number"), "must be \"*\" or a SIP user part".into()));
        }
        if self.sdk_app_id == 0 || !apps.contains(&self.sdk_app_id.to_string()) {
            return Err((
                key("sdk_app_id"),
                format!(
                    "needs [trtc.apps.\"{}\"] with its secret_key (the robot's UserSig)",
                    self.sdk_app_id
                ),
            ));
        }
        if self.robot.trim().is_empty() {
            return Err((key("robot"), "must name the box's TRTC user".into()));
        }
        if self.callees.is_empty() || self.callees.iter().any(|c| c.trim().is_empty()) {
            return Err((key("callees"), "must list at least one app user".into()));
        }
        if self.str_room_id.is_some() == self.room_id.is_some() {
            return Err((
                key("str_room_id"),
                "give exactly one of str_room_id, room_id".into(),
            ));
        }
        if !(1..=600).contains(&self.timeout_s) {
            return Err((key("timeout_s"), "must be 1..=600".into()));
        }
        Ok(())
    }
}

/// The rule for a call to `called`: the first that matches, in file order.
pub fn rule_for<'a>(rules: &'a [InboundRule], called: &str) -> Option<&'a InboundRule> {
    rules.iter().find(|r| r.matches(called))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        inbound: Vec<InboundRule>,
    }

    const RULES: &str = r#"
[[inbound]]
number = "8001"
sdk_app_id = 1400000001
robot = "sipgw_robot"
callees = ["alice", "bob"]
str_room_id = "in_{id}"
timeout_s = 30
notify_url = "http://127.0.0.1:9000/hook"

[[inbound]]
number = "*"
sdk_app_id = 1400000001
robot = "sipgw_robot"
callees = ["desk"]
room_id = 12345
"#;

    #[test]
    fn the_contract_dispatches_first_match_in_file_order() {
        let f: File = toml::from_str(RULES).unwrap();
        let apps = vec!["1400000001".to_string()];
        for (i, r) in f.inbound.iter().enumerate() {
            assert!(r.validate(i, &apps).is_ok());
        }
        let r = rule_for(&f.inbound, "8001").unwrap();
        assert_eq!(r.callees, ["alice", "bob"]);
        assert_eq!(r.room("ab12"), RoomId::Named("in_ab12".into()));
        let r = rule_for(&f.inbound, "9999").unwrap();
        assert_eq!((r.room("x"), r.timeout_s), (RoomId::Numeric(12345), 30));
    }

    #[test]
    fn errors_name_the_rule_and_key() {
        let f: File = toml::from_str(RULES).unwrap();
        let err = f.inbound[0].validate(0, &[]).unwrap_err();
        assert_eq!(err.0, "inbound[0].sdk_app_id");
        let mut r = f.inbound[1].clone();
        r.str_room_id = Some("x".into());
        let apps = vec!["1400000001".to_string()];
        assert_eq!(
            r.validate(1, &apps).unwrap_err().0,
            "inbound[1].str_room_id"
        );
        r.str_room_id = None;
        r.callees.clear();
        assert_eq!(r.validate(1, &apps).unwrap_err().0, "inbound[1].callees");
    }
}
