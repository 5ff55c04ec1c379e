//! How a state change is written down: the callstate line and the webhook body.

use super::state::StateChange;

/// ISO 8601 local time with microseconds and the UTC offset, as SIPx prints it.
pub fn local_timestamp() -> String {
    chrono::Local::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f%:z")
        .to_string()
}

/// The callstate line for a change (without the trailing newline):
/// `<time> <n> <TEXT> <code>[ <reason>]`.
pub fn format_line(timestamp: &str, change: &StateChange) -> String {
    let reason = sanitize(&change.reason);
    let mut line = format!(
        "{timestamp} {} {} {}",
        change.state.number(),
        change.state.text(),
        change.code
    );
    if !reason.is_empty() {
        line.push(' ');
        line.push_str(&reason);
    }
    line
}

/// The webhook body of SPEC section 1.
pub fn webhook_body(id: &str, unix: f64, change: &StateChange) -> Vec<u8> {
    serde_json::json!({
        "id": id,
        "timestamp": (unix * 1e6).round() / 1e6,
        "state": change.state.number(),
        "state_text": change.state.text(),
        "status_code": change.code,
        "reason": sanitize(&change.reason),
    })
    .to_string()
    .into_bytes()
}

/// The webhook of a touch tone; `from` is `"phone"` (keyed on the phone) or `"room"`
/// (keyed by an app user in the room). State webhooks keep their SPEC form.
pub fn dtmf_webhook_body(id: &str, unix: f64, digit: char, from: &str) -> Vec<u8> {
    serde_json::json!({
        "id": id,
        "timestamp": (unix * 1e6).round() / 1e6,
        "event": "dtmf",
        "digit": digit.to_string(),
        "from": from,
    })
    .to_string()
    .into_bytes()
}

/// A reason phrase comes from the network: keep it on one line and printable.
fn sanitize(reason: &str) -> String {
    let cleaned: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.trim().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::state::CallState;

    #[test]
    fn line_has_the_spec_shape() {
        let c = StateChange {
            state: CallState::Disconnected,
            code: 200,
            reason: "Normal call clearing".into(),
        };
        assert_eq!(
            format_line("2022-06-11T22:23:38.690629+08:00", &c),
            "2022-06-11T22:23:38.690629+08:00 6 DISCONNCTD 200 Normal call clearing"
        );
        let c = StateChange {
            state: CallState::Calling,
            code: 0,
            reason: String::new(),
        };
        assert_eq!(format_line("T", &c), "T 1 CALLING 0");
    }

    #[test]
    fn timestamp_has_microseconds_and_offset() {
        let t = local_timestamp();
        // 2022-06-11T22:22:41.909837+08:00
        assert_eq!(t.len(), 32, "{t}");
        assert_eq!(&t[19..20], ".");
        assert!(t[26..27] == *"+" || t[26..27] == *"-", "{t}");
    }

    #[test]
    fn reasons_from_the_network_stay_on_one_line() {
        let c = StateChange {
            state: CallState::Disconnected,
            code: 486,
            reason: "Busy\r\nX-Evil: 1".into(),
        };
        assert!(!format_line("T", &c).contains('\n'));
        let body: serde_json::Value = serde_json::from_slice(&webhook_body("ab", 1.5, &c)).unwrap();
        assert_eq!(body["status_code"], 486);
        assert_eq!(body["state"], 6);
        assert_eq!(body["state_text"], "DISCONNCTD");
        assert_eq!(body["id"], "ab");
        assert_eq!(body["timestamp"], 1.5);
    }
}
