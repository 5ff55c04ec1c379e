//! The HTTP side of the gateway: the SIPx-compatible API server and the
//! webhook client.
//!
//! Layers, outermost first: `server` (sockets, framing, limits, timeouts) →
//! `handler` (routing, signature, content type, the call into `Api`) →
//! `router` / `signature` / `api` (pure functions over strings and JSON).
//! The call side implements [`api::Api`]; `main` calls [`server::serve`].

pub mod api;
pub mod call_error;
pub mod callstats;
pub mod client;
pub mod conn_slots;
pub mod errors;
pub mod handler;
pub mod openapi;
pub mod policy;
pub mod response;
pub mod router;
pub mod server;
pub mod signature;
pub mod status_page;
pub(crate) mod tls;
pub mod webhook_target;

#[cfg(test)]
mod server_tests;

pub use api::{Api, CallStateReply, CallSummary, StartupRequest, TrtcParams};
pub use call_error::CallError;
pub use errors::ApiError;
pub use policy::{Guard, NumberPolicy};
pub use server::{serve, serve_with_guard, serve_with_keys, HttpLimits};
pub use signature::ApiKeys;
