//! Which TRTC room a call enters: one type for the API that parses it and the room
//! backends that enter it.
//!
//! A leaf module, so that `http` (which validates `roomId`/`strRoomId`) and `room` (which
//! hands it to the SDK) share the type without either importing the other.

/// Which room to enter: TRTC has numeric rooms and (as an extension of the SIPx API)
/// named ones; the API has checked the ranges below before a backend sees one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomId {
    /// `trtcParams.roomId`, 1..=4294967294.
    Numeric(u32),
    /// `trtcParams.strRoomId`, 1 to 64 characters of `[A-Za-z0-9_]`.
    Named(String),
}
