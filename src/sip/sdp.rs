//! SDP offer/answer for the phone leg (placeholder).
