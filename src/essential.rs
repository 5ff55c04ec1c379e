//! The parts of the gateway that must run for as long as the process does: the SIP
//! loop, the media clock and the HTTP acceptor. If one ends or panics, the box can no
//! longer place or carry calls while still looking alive, so the process must exit with
//! a non-zero status and let systemd (`Restart=on-failure`) start it afresh.
//!
//! The executor keeps a detached task's panic to itself, so each part runs under
//! [`essential`], and `main` races their ends against the stop signals.

use crate::calls::supervise::panic_message;
use crate::health::Unwell;
use futures_lite::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// Runs a part that should never end, and says how it ended when it did: returned or
/// panicked (with the panic's message). `name` is the part in words ("the SIP loop").
pub async fn essential(part: &'static str, name: &str, run: impl Future<Output = ()>) -> Unwell {
    // AssertUnwindSafe: after a panic nothing of the part is used again; the process ends.
    let reason = match AssertUnwindSafe(run).catch_unwind().await {
        Ok(()) => format!("{name} ended"),
        Err(payload) => format!("{name} panicked: {}", panic_message(payload.as_ref())),
    };
    Unwell { part, reason }
}

#[cfg(test)]
mod tests {
    use super::essential;

    #[test]
    fn an_ending_and_a_panic_are_both_reported_with_the_part() {
        let ended = smol::block_on(essential("sip", "the SIP loop", async {}));
        assert_eq!(ended.part, "sip");
        assert_eq!(ended.reason, "the SIP loop ended");
        let panicked = smol::block_on(essential("media_clock", "the media clock", async {
            panic!("tick overflow")
        }));
        assert_eq!(panicked.part, "media_clock");
        assert_eq!(panicked.reason, "the media clock panicked: tick overflow");
    }
}
