//! A call task that panics must not take its call with it silently: the executor keeps
//! a detached task's panic to itself, so without this the call would never write
//! DISCONNCTD, its phone would stay rung or connected, and its capacity slot would be
//! gone for good. Here the panic is caught at the task's edge and the call is ended the
//! way any other ending ends it, from what outlives the task.

use super::registry::Registry;
use super::state::{CallState, StateChange};
use crate::sip::{CallKey, SipService};
use futures_lite::future::CatchUnwind;
use futures_lite::FutureExt;
use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// The code and reason of the DISCONNCTD line of a call whose task panicked.
pub const PANIC_ENDING: (u16, &str) = (500, "internal error");

/// What ends a call whose task died: its id in the registry and its SIP leg.
pub struct Ending {
    /// The gateway's call id.
    pub id: String,
    /// Where the DISCONNCTD line goes (and the capacity slot is given back).
    pub registry: Rc<RefCell<Registry>>,
    /// The SIP user agent and the call's leg in it, to send the CANCEL or BYE; None for
    /// a call whose phone leg is a sound-device line (its device closes with the task).
    pub sip: Option<(SipService, CallKey)>,
}

pin_project_lite::pin_project! {
    /// A call's task under supervision (see [`supervised`]). A struct rather than an
    /// `async fn`: an async fn keeps its argument and the future it awaits as two copies
    /// in its state, which doubled every call's task (about 6 KiB of a call's memory).
    pub struct Supervised<F> {
        #[pin]
        call: Option<CatchUnwind<AssertUnwindSafe<F>>>,
        ending: Option<Ending>,
    }
}

/// Runs a call's task; if it panics, the task's state (its room among it, which leaves
/// when dropped) is dropped first, then DISCONNCTD `500 internal error` is recorded,
/// freeing the slot, and the phone is hung up (CANCEL or BYE as the leg's state requires).
/// Assumes nothing about how far the call got: both steps do nothing when already done.
pub fn supervised<F: Future<Output = ()>>(call: F, ending: Ending) -> Supervised<F> {
    // AssertUnwindSafe: everything the task shared is either dropped with it or only
    // touched below through operations that are correct in any state (hangup, record).
    Supervised {
        call: Some(AssertUnwindSafe(call).catch_unwind()),
        ending: Some(ending),
    }
}

impl<F: Future<Output = ()>> Future for Supervised<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(call) = this.call.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        let outcome = std::task::ready!(call.poll(cx));
        // The task's state goes first (the room leaves as it is dropped).
        this.call.set(None);
        if let (Err(payload), Some(ending)) = (outcome, this.ending.take()) {
            end_panicked(&ending, payload.as_ref());
        }
        Poll::Ready(())
    }
}

/// Ends the call of a task that panicked with `payload`.
fn end_panicked(ending: &Ending, payload: &(dyn std::any::Any + Send)) {
    log::error!(
        "call={} the call task panicked ({}); ending the call",
        ending.id,
        panic_message(payload)
    );
    // The history first: should the panic have come from inside the SIP core, the hangup
    // could panic again, and the call's line and slot must not depend on it.
    let (code, reason) = PANIC_ENDING;
    ending.registry.borrow_mut().record(
        &ending.id,
        &StateChange {
            state: CallState::Disconnected,
            code,
            reason: reason.into(),
        },
    );
    if let Some((sip, call)) = &ending.sip {
        sip.hangup(*call);
    }
}

/// The text a panic was raised with, when it has one.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::SipConfig;
    use std::net::SocketAddr;
    use std::time::Duration;

    /// A registry with one call begun, as the startup handler leaves it.
    fn registry_with(id: &str) -> Rc<RefCell<Registry>> {
        let registry = Rc::new(RefCell::new(Registry::in_memory(Duration::from_secs(60))));
        let (control, _) = smol::channel::bounded(1);
        registry.borrow_mut().begin(id, "1002", control, None);
        registry.borrow_mut().record(
            id,
            &StateChange {
                state: CallState::Calling,
                code: 0,
                reason: String::new(),
            },
        );
        registry
    }

    /// Runs `call` supervised for a call placed to a UDP socket that plays the phone.
    fn run_supervised(call: impl Future<Output = ()>) -> Rc<RefCell<Registry>> {
        let registry = registry_with("c1");
        let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let uri = format!("sip:1002@{}", phone.local_addr().unwrap());
        smol::block_on(async {
            let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let (sip, _run) = SipService::bind(addr, None, SipConfig::new(addr))
                .await
                .unwrap();
            let media = crate::sip::sdp::LocalMedia {
                ip: "127.0.0.1".parse().unwrap(),
                rtp_port: 40000,
                codecs: vec![crate::media::Codec::Pcmu],
                telephone_event: true,
                session_id: 1,
                session_version: 1,
            };
            let (sip_call, _events) = sip.invite(&uri, media).await.unwrap();
            let ending = Ending {
                id: "c1".into(),
                registry: registry.clone(),
                sip: Some((sip, sip_call)),
            };
            supervised(call, ending).await;
        });
        registry
    }

    #[test]
    fn a_panicking_call_ends_500_internal_error_and_frees_its_slot() {
        let registry = run_supervised(async { panic!("injected") });
        let registry = registry.borrow();
        assert_eq!(registry.active(), 0, "the capacity slot is given back");
        let (lines, done) = registry.callstate("c1").unwrap();
        assert!(done);
        let last = lines.lines().last().unwrap();
        assert!(
            last.contains("DISCONNCTD") && last.contains("500") && last.contains("internal error"),
            "{lines}"
        );
    }

    #[test]
    fn a_call_that_ends_normally_is_left_alone() {
        let registry = run_supervised(async {});
        let registry = registry.borrow();
        assert_eq!(
            registry.active(),
            1,
            "its own task records its ending, not this"
        );
        assert!(!registry.callstate("c1").unwrap().1);
    }

    #[test]
    fn the_supervised_task_holds_one_copy_of_the_call() {
        // A call future with a large state held across an await, like a call task.
        let call = async {
            let buf = [7u8; 4096];
            futures_lite::future::yield_now().await;
            assert_eq!(buf[4095], 7);
        };
        let call_size = std::mem::size_of_val(&call);
        let ending = Ending {
            id: "c1".into(),
            registry: registry_with("c1"),
            sip: None,
        };
        let task = supervised(call, ending);
        let task_size = std::mem::size_of_val(&task);
        assert!(
            task_size < call_size + 256,
            "a supervised call of {call_size} bytes takes {task_size}"
        );
    }

    #[test]
    fn panic_messages_are_read_from_str_and_string_payloads() {
        let s: Box<dyn std::any::Any + Send> = Box::new("a");
        assert_eq!(panic_message(s.as_ref()), "a");
        let s: Box<dyn std::any::Any + Send> = Box::new(String::from("b"));
        assert_eq!(panic_message(s.as_ref()), "b");
        let s: Box<dyn std::any::Any + Send> = Box::new(7u8);
        assert_eq!(panic_message(s.as_ref()), "no message");
    }
}
