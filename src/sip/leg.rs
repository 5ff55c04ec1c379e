//! A call in the user agent is one of two kinds: one we placed (`uac.rs`) or one we took
//! (`uas.rs`). The endpoint keeps both in one table and routes transaction events and
//! in-dialog requests to them alike; this enum is where the two meet.

use super::endpoint::Shared;
use super::message::{Request, Response};
use super::transaction::TxKey;
use super::transport::Transport;
use super::uac::{Role, UacCall};
use super::uas::UasCall;
use bytes::Bytes;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// One call of the user agent.
pub(crate) enum Leg {
    /// We called.
    Out(Box<UacCall>),
    /// They called.
    In(Box<UasCall>),
}

impl Leg {
    /// Addresses the call talks to: trusted sources while it lives.
    pub(crate) fn destinations(&self) -> Vec<IpAddr> {
        match self {
            Leg::Out(c) => c.destinations().collect(),
            Leg::In(c) => c.destinations().collect(),
        }
    }

    /// Where the call's signalling peer is: the call layer trusts its RTP from this IP.
    pub(crate) fn signalling_peer(&self) -> SocketAddr {
        match self {
            Leg::Out(c) => c.trunk_dest(),
            Leg::In(c) => c.source(),
        }
    }

    pub(crate) fn linger_until(&self) -> Option<Instant> {
        match self {
            Leg::Out(c) => c.linger_until(),
            Leg::In(c) => c.linger_until(),
        }
    }

    pub(crate) fn matches(&self, req: &Request) -> bool {
        match self {
            Leg::Out(c) => c.matches(req),
            Leg::In(c) => c.matches(req),
        }
    }

    /// Ends the call; `refusal` is the final answer an unanswered inbound call gets.
    pub(crate) fn hangup(&mut self, sh: &mut Shared, now: Instant, refusal: Option<(u16, String)>) {
        match self {
            Leg::Out(c) => c.hangup(sh, now),
            Leg::In(c) => c.hangup(sh, now, refusal),
        }
    }

    pub(crate) fn send_info(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        content_type: &str,
        body: Bytes,
    ) -> bool {
        match self {
            Leg::Out(c) => c.send_info(sh, now, content_type, body),
            Leg::In(c) => c.send_info(sh, now, content_type, body),
        }
    }

    pub(crate) fn on_transport_error(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        to: (SocketAddr, Transport),
    ) {
        match self {
            Leg::Out(c) => c.on_transport_error(sh, now, to),
            Leg::In(c) => c.on_transport_error(sh, now, to),
        }
    }

    pub(crate) fn on_timeout(&mut self, sh: &mut Shared, now: Instant, tx: TxKey, role: Role) {
        match self {
            Leg::Out(c) => c.on_timeout(sh, now, tx, role),
            Leg::In(c) => c.on_timeout(sh, now, role),
        }
    }

    pub(crate) fn on_response(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        tx: TxKey,
        role: Role,
        resp: Response,
    ) {
        match self {
            Leg::Out(c) => c.on_response(sh, now, tx, role, resp),
            Leg::In(c) => c.on_response(sh, now, role, &resp),
        }
    }

    pub(crate) fn on_request(&mut self, sh: &mut Shared, now: Instant, tx: TxKey, req: Request) {
        match self {
            Leg::Out(c) => c.on_request(sh, now, tx, req),
            Leg::In(c) => c.on_request(sh, now, tx, req),
        }
    }

    /// The inbound call whose INVITE is `tx`, for a CANCEL.
    pub(crate) fn inbound_with_invite(&mut self, tx: TxKey) -> Option<&mut UasCall> {
        match self {
            Leg::In(c) if c.is_invite(tx) => Some(c),
            _ => None,
        }
    }

    /// The inbound call, for the call layer's ring/answer.
    pub(crate) fn inbound(&mut self) -> Option<&mut UasCall> {
        match self {
            Leg::In(c) => Some(c),
            Leg::Out(_) => None,
        }
    }
}
