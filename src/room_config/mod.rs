//! The room backends' settings, as plain data: what `[room.sim]` and `[room.trtc]` hold
//! and the checks that need no SDK.
//!
//! Why a leaf module of its own, and not inside `room/`: `config` composes every section
//! of the file and `room` consumes its backends' sections, yet neither may import the
//! other (DESIGN principle 7; `room` must be liftable without the gateway's config, and
//! `config` must not pull in the backends and their SDK loading). The structs therefore
//! sit below both: `config` embeds them, `room` re-exports them under the names its
//! backends use (`room::sim::SimConfig`, `room::trtc::TrtcRoomConfig`), and nothing
//! here imports anything of the crate. Only the backends read these fields.

pub mod sim;
pub mod trtc;

pub use sim::SimConfig;
pub use trtc::TrtcRoomConfig;
