//! Touch tones as TRTC custom command messages, both ways.
//!
//! An IVR or a door opener in the app must see the digits the phone keys, and an app user
//! must be able to key digits to the phone. TRTC rooms carry no DTMF of their own, but
//! every member can send small custom messages (`SendCustomCmdMsg`, received with
//! `OnReceiveCustomCmdMsg`), so a digit travels as one message on a configured command
//! id (`[room.trtc] dtmf_cmd_id`, default 1), reliable and ordered, with the body
//! `{"dtmf":"5"}`. A body may carry several digits (`{"dtmf":"12#"}`), keyed in order.
//! Anything else on that id is ignored, never a panic: the bytes come from the network.

/// The custom command id digits use unless `[room.trtc] dtmf_cmd_id` says otherwise.
pub use crate::room_config::trtc::DEFAULT_DTMF_CMD_ID;

/// Longest body accepted (the SDK's own limit for one message is 1000 bytes).
pub const MAX_BODY: usize = 1000;

/// The message body for one digit, or None for a character that is not a DTMF digit.
pub fn body_for(digit: char) -> Option<String> {
    let d = digit.to_ascii_uppercase();
    is_digit(d).then(|| format!("{{\"dtmf\":\"{d}\"}}"))
}

/// Whether `c` is one of the sixteen DTMF digits (`0-9 * # A-D`).
pub fn is_digit(c: char) -> bool {
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D')
}

/// The digits of a received body, in order; empty when it is not a `{"dtmf": "..."}`
/// object or holds no DTMF digit. Lower-case `a`-`d` count as `A`-`D`.
pub fn digits_of(body: &[u8]) -> Vec<char> {
    if body.len() > MAX_BODY {
        return Vec::new();
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return Vec::new();
    };
    match map.get("dtmf") {
        Some(serde_json::Value::String(s)) => s
            .chars()
            .map(|c| c.to_ascii_uppercase())
            .filter(|&c| is_digit(c))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_bad_input_is_ignored() {
        assert_eq!(body_for('5').as_deref(), Some(r#"{"dtmf":"5"}"#));
        assert_eq!(body_for('b').as_deref(), Some(r#"{"dtmf":"B"}"#));
        assert_eq!(body_for('x'), None);
        for d in "0123456789*#ABCD".chars() {
            assert_eq!(digits_of(body_for(d).unwrap().as_bytes()), vec![d]);
        }
        assert_eq!(digits_of(br#"{"dtmf":"1 2,#d"}"#), vec!['1', '2', '#', 'D']);
        for bad in [
            &b""[..],
            b"5",
            b"{\"dtmf\":5}",
            b"{\"digit\":\"5\"}",
            b"[\"5\"]",
            b"{\"dtmf\":\"xyz\"}",
            b"\xff\xfe{",
        ] {
            assert!(digits_of(bad).is_empty(), "{bad:?}");
        }
        let long = format!("{{\"dtmf\":\"{}\"}}", "1".repeat(MAX_BODY));
        assert!(digits_of(long.as_bytes()).is_empty());
    }
}
