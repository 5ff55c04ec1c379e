//! The phone leg's signalling: SIP message glue, transactions, dialogs, digest auth, SDP.
//!
//! Layers, bottom up: `message` (datagram ⇄ message), `transaction` (RFC 3261 §17 timers and
//! retransmissions), `dialog` (§12 identifiers, route set), `uac` (one outbound call), `auth`
//! (digest), `target` (where a request URI points), `transport` (which transport a message takes, as a tag), `endpoint` (`SipCore`: all of it,
//! no I/O), `shell` (smol loop: the UDP socket) and `tcp` (the shell's TCP connections).

pub mod auth;
pub mod bindings_file;
pub mod dialog;
pub mod dns;
pub mod endpoint;
pub mod failover;
pub mod fork;
pub mod framing;
mod in_dialog;
mod leg;
pub mod message;
mod ping;
pub mod register;
pub mod registrar;
pub mod sdes;
pub mod sdp;
pub mod shell;
pub mod target;
pub mod tcp;
pub mod tls;
pub mod transaction;
pub mod transport;
pub mod trunks;
mod uac;
pub mod uas;

#[cfg(test)]
mod core_tests;
#[cfg(test)]
mod registrar_tests;
#[cfg(test)]
mod uas_tests;

pub use endpoint::{CallKey, Credentials, EndCause, SipConfig, SipCore, SipEvent, SipStats};
pub use shell::SipService;
pub use transaction::TimerConfig;
pub use transport::Transport;
