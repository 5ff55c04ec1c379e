//! `GET /`: a page on the box itself that shows its calls live, for whoever looks after
//! it. One file of plain HTML, CSS and JavaScript (`status/index.html`), embedded in the
//! binary: no build step, no external asset, nothing fetched from elsewhere. It reads
//! `GET /trtc/status`, follows `GET /events` (Server-Sent Events, polling when they do not
//! get through), places test calls through `/trtc/startup`, ends them through
//! `/trtc/shutdown`, and, when the box has API keys, signs its requests in the browser
//! with Web Crypto's HMAC, so the page itself needs no credentials to be served.

/// The page.
pub const PAGE: &str = include_str!("status/index.html");
