//! trtc-sipgw: a telephone gateway that dials SIP phones into Tencent TRTC rooms.
//!
//! The crate is split the way DESIGN.md draws it: protocol cores without I/O
//! (`sip`, `media`, `calls::state`) and thin async shells that own sockets and
//! timers, all driven by one `smol::LocalExecutor`.

pub mod alsa;
pub mod callengine;
pub mod calls;
pub mod check_config;
pub mod config;
pub mod essential;
pub mod health;
pub mod http;
pub mod logger;
pub mod media;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod room;
pub mod room_config;
pub mod room_id;
pub mod sip;
pub mod usersig;

/// The product token sent as SIP `User-Agent` and as the webhooks' HTTP `User-Agent`,
/// in one place so peers' logs name the gateway and its version the same way.
pub const USER_AGENT: &str = concat!("trtc-sipgw/", env!("CARGO_PKG_VERSION"));
