//! What the SDK's error codes mean, so a failed entry answers `502` with a reason a person
//! can act on instead of a bare number (values from `liteav_trtc_defines.h`, `enum Error`).

/// `ERR_FAILED`: the SDK's catch-all; with no route to Tencent it arrives ~21 s after entry.
pub const ERR_FAILED: i32 = -1;
/// `ERR_INVALID_PARAMETER`.
pub const ERR_INVALID_PARAMETER: i32 = -2;
/// `ERR_ENTER_ROOM_FAILED`.
pub const ERR_ENTER_ROOM_FAILED: i32 = -3301;
/// `ERR_INVALID_SDK_APP_ID`.
pub const ERR_INVALID_SDK_APP_ID: i32 = -3317;
/// `ERR_INVALID_ROOM_ID`.
pub const ERR_INVALID_ROOM_ID: i32 = -3318;
/// `ERR_INVALID_USER_ID`.
pub const ERR_INVALID_USER_ID: i32 = -3319;
/// `ERR_INVALID_USER_SIG`.
pub const ERR_INVALID_USER_SIG: i32 = -3320;
/// `ERR_SERVICE_SUSPENDED`.
pub const ERR_SERVICE_SUSPENDED: i32 = -100013;
/// `ERR_BANNED_BY_SERVER`: the server removed this user (TRTC RemoveUser, a ban).
pub const ERR_BANNED_BY_SERVER: i32 = -205;

/// The meaning of a TRTC error code, in words fit for a `502` message and the call log.
pub fn meaning(code: i32) -> &'static str {
    match code {
        0 => "no error",
        ERR_FAILED => "TRTC SDK internal failure (often: no connection to Tencent's servers)",
        ERR_INVALID_PARAMETER => "invalid parameter for the TRTC SDK",
        -3 => "operation not allowed in the room's current state",
        -4 => "not supported by the TRTC SDK",
        -5 => "invalid TRTC licence",
        -6 => "TRTC server request timed out (network blocked?)",
        -7 => "TRTC server failed to process the request",
        -102 => "no data yet (try again)",
        -103 => "network unreachable",
        ERR_ENTER_ROOM_FAILED => "room entry failed",
        ERR_INVALID_SDK_APP_ID => "room entry refused: invalid sdkAppId",
        ERR_INVALID_ROOM_ID => "room entry refused: invalid roomId",
        ERR_INVALID_USER_ID => "room entry refused: invalid userId",
        ERR_INVALID_USER_SIG => "room entry refused: userSig check failed",
        ERR_SERVICE_SUSPENDED => "TRTC service suspended (account in arrears)",
        ERR_BANNED_BY_SERVER => "removed from the room by the server (kicked or banned)",
        _ => "TRTC SDK error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_refusal_has_its_own_meaning() {
        let codes = [
            ERR_ENTER_ROOM_FAILED,
            ERR_INVALID_SDK_APP_ID,
            ERR_INVALID_ROOM_ID,
            ERR_INVALID_USER_ID,
            ERR_INVALID_USER_SIG,
            ERR_SERVICE_SUSPENDED,
            ERR_BANNED_BY_SERVER,
            ERR_FAILED,
        ];
        let mut seen = std::collections::HashSet::new();
        for c in codes {
            assert!(seen.insert(meaning(c)), "duplicate meaning for {c}");
            assert_ne!(meaning(c), meaning(123_456));
        }
        assert!(meaning(ERR_INVALID_USER_SIG).contains("userSig"));
    }
}
