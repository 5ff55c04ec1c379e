//! Calls: the registry, the state machine, TTL, the persisted call log and webhooks,
//! and the per-call task that bridges the phone leg to the room.

pub mod admission;
pub mod call;
pub mod clock;
pub mod core;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod inbound;
#[cfg(feature = "alsa")]
pub mod line_call;
pub mod line_claim;
#[cfg(feature = "alsa")]
pub mod line_core;
pub mod log;
pub mod registry;
pub mod rtp_ports;
pub mod service;
pub mod state;
pub mod store;
pub mod supervise;
pub mod webhook;
