//! trtc-sipgw: a telephone gateway that dials SIP phones into Tencent TRTC rooms.
//!
//! The crate is split the way DESIGN.md draws it: protocol cores without I/O
//! (`sip`, `media`, `calls::state`) and thin async shells that own sockets and
//! timers, all driven by one `smol::LocalExecutor`.

pub mod calls;
pub mod check_config;
pub mod config;
pub mod health;
pub mod http;
pub mod logger;
pub mod media;
pub mod notify;
pub mod room;
pub mod secrets;
pub mod sip;
