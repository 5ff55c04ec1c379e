//! The phone leg's signalling: SIP message glue, transactions, dialogs, digest auth, SDP.

pub mod message;
pub mod sdp;
