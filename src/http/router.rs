//! Request-target → route, and query-string parsing.
//!
//! Pure functions over strings, so routing is tested without sockets. Every API
//! path exists twice, `/trtc/...` and the SIPx alias `/v2205/trtc/...`.

use super::errors::ApiError;

/// The endpoints the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /trtc/startup`.
    Startup,
    /// `POST /trtc/shutdown`.
    Shutdown,
    /// `GET /trtc/callstate?id=`.
    CallState,
    /// `POST /trtc/dtmf {"id","digits"}` (extension): touch tones to the phone.
    Dtmf,
    /// `GET /trtc/callstats?id=` (extension): the call's media statistics.
    CallStats,
    /// `GET /trtc/calls` (extension): live and recent calls, newest first.
    Calls,
    /// `GET /openapi.json` (extension): the OpenAPI document of every route here.
    OpenApi,
    /// `GET /metrics` (extension): Prometheus text format.
    Metrics,
    /// `GET /trtc/status` (extension): the box and its calls, what the status page shows.
    Status,
    /// `GET /events` (extension): the same as Server-Sent Events, for the status page.
    Events,
    /// `GET /` (extension): the status page itself (not signed: it holds no data).
    Page,
    /// `GET /healthz` (extension, for systemd/monitoring; not signed).
    Health,
}

/// Every route with the paths it answers on (the `/v2205` SIPx aliases included), so
/// the OpenAPI document can be checked against the router: nothing missing, nothing
/// extra.
pub const ROUTES: &[(Route, &str)] = &[
    (Route::Startup, "/trtc/startup"),
    (Route::Shutdown, "/trtc/shutdown"),
    (Route::CallState, "/trtc/callstate"),
    (Route::Dtmf, "/trtc/dtmf"),
    (Route::CallStats, "/trtc/callstats"),
    (Route::Calls, "/trtc/calls"),
    (Route::Status, "/trtc/status"),
    (Route::Startup, "/v2205/trtc/startup"),
    (Route::Shutdown, "/v2205/trtc/shutdown"),
    (Route::CallState, "/v2205/trtc/callstate"),
    (Route::Dtmf, "/v2205/trtc/dtmf"),
    (Route::CallStats, "/v2205/trtc/callstats"),
    (Route::Calls, "/v2205/trtc/calls"),
    (Route::Status, "/v2205/trtc/status"),
    (Route::OpenApi, "/openapi.json"),
    (Route::Metrics, "/metrics"),
    (Route::Events, "/events"),
    (Route::Page, "/"),
    (Route::Health, "/healthz"),
];

impl Route {
    /// The one method each route answers; also the `Allow` header of a 405.
    pub fn method(self) -> &'static str {
        match self {
            Route::Startup | Route::Shutdown | Route::Dtmf => "POST",
            Route::CallState
            | Route::CallStats
            | Route::Calls
            | Route::OpenApi
            | Route::Metrics
            | Route::Status
            | Route::Events
            | Route::Page
            | Route::Health => "GET",
        }
    }

    /// Whether the route takes a JSON body (and so needs Content-Length).
    pub fn has_body(self) -> bool {
        self.method() == "POST"
    }

    /// Whether the SIPx signature applies (all API routes, not the health probe).
    pub fn is_signed(self) -> bool {
        !matches!(self, Route::Health | Route::Page)
    }
}

/// Why a request matched no route: `Allow` is set for a known path with the
/// wrong method, so the server can send 405 with that header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    /// The JSON error (404 or 405).
    pub error: ApiError,
    /// Value for the `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

/// Split a request target into path and query (the query without `?`).
///
/// Accepts origin-form (`/a?b`) and absolute-form (`http://host/a?b`) targets;
/// a fragment, which clients should not send, is dropped.
pub fn split_target(target: &str) -> (&str, &str) {
    let target = target.split('#').next().unwrap_or("");
    let target = match strip_scheme(target) {
        Some(after) => match after.find(['/', '?']) {
            Some(i) => &after[i..],
            None => "/",
        },
        None => target,
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (if path.is_empty() { "/" } else { path }, query)
}

fn strip_scheme(target: &str) -> Option<&str> {
    for scheme in ["http://", "https://"] {
        // `get` and not indexing: the target may have a multi-byte character where the
        // scheme would end (`GET /abcdeé` once panicked here).
        let head = target.get(..scheme.len());
        if head.is_some_and(|h| h.eq_ignore_ascii_case(scheme)) {
            return target.get(scheme.len()..);
        }
    }
    None
}

/// The `path` label of a request's metrics: the route's own path, `other` for paths no
/// route has (so strangers' paths cannot grow the label set).
pub fn metrics_path(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|(_, p)| *p == path)
        .map_or("other", |(_, p)| p)
}

/// Match a method and path (no query) to a route.
pub fn route(method: &str, path: &str) -> Result<Route, RouteError> {
    let Some(r) = ROUTES.iter().find(|(_, p)| *p == path).map(|(r, _)| *r) else {
        return Err(RouteError {
            error: ApiError::not_found("no such path"),
            allow: None,
        });
    };
    if method == r.method() {
        Ok(r)
    } else {
        Err(RouteError {
            error: ApiError::method_not_allowed(format!("this path only answers {}", r.method())),
            allow: Some(r.method()),
        })
    }
}

/// A decoded query string: `name=value` pairs in order, duplicates kept.
///
/// Exists so the signature check and the handlers read parameters the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parse `a=1&b=x%20y`: percent-decoding, `+` as space (form encoding, as
    /// HTTP client libraries send it). A `%` not followed by two hex digits is
    /// kept literally; bytes that are not UTF-8 after decoding become U+FFFD.
    pub fn parse(query: &str) -> Self {
        let pairs = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_request_target_panics() {
        use rand::{Rng, SeedableRng};
        assert_eq!(split_target("/abcdeé"), ("/abcdeé", ""));
        assert_eq!(split_target("HTTP://h/é?x"), ("/é", "x"));
        let alphabet: Vec<char> = "/?#:%.aéßh€𝄞tps\u{0}\u{7f} ".chars().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for _ in 0..5000 {
            let len = rng.gen_range(0..24);
            let target: String = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            let (path, _query) = split_target(&target);
            let method = ["GET", "POST", "PUT", "é", ""][rng.gen_range(0..5)];
            let _ = route(method, path);
        }
    }

    #[test]
    fn routes_and_aliases() {
        for (m, p, r) in [
            ("POST", "/trtc/startup", Route::Startup),
            ("POST", "/v2205/trtc/startup", Route::Startup),
            ("POST", "/trtc/shutdown", Route::Shutdown),
            ("POST", "/v2205/trtc/shutdown", Route::Shutdown),
            ("GET", "/trtc/callstate", Route::CallState),
            ("GET", "/v2205/trtc/callstate", Route::CallState),
            ("POST", "/trtc/dtmf", Route::Dtmf),
            ("POST", "/v2205/trtc/dtmf", Route::Dtmf),
            ("GET", "/trtc/callstats", Route::CallStats),
            ("GET", "/v2205/trtc/callstats", Route::CallStats),
            ("GET", "/healthz", Route::Health),
        ] {
            assert_eq!(route(m, p), Ok(r), "{m} {p}");
        }
    }

    #[test]
    fn not_found_and_wrong_method() {
        for p in [
            "/trtc",
            "/trtc/startup/",
            "/v2205/healthz",
            "/v2205",
            "/TRTC/startup",
            "*",
        ] {
            let e = route("POST", p).unwrap_err();
            assert_eq!((e.error.status, e.allow), (404, None), "{p}");
        }
        let e = route("GET", "/trtc/startup").unwrap_err();
        assert_eq!((e.error.status, e.allow), (405, Some("POST")));
        let e = route("POST", "/v2205/trtc/callstate").unwrap_err();
        assert_eq!((e.error.status, e.allow), (405, Some("GET")));
        let e = route("HEAD", "/healthz").unwrap_err();
        assert_eq!((e.error.status, e.allow), (405, Some("GET")));
        let e = route("OPTIONS", "/trtc/shutdown").unwrap_err();
        assert_eq!(e.error.status, 405);
    }

    #[test]
    fn targets() {
        assert_eq!(split_target("/a?b=1"), ("/a", "b=1"));
        assert_eq!(split_target("/a"), ("/a", ""));
        assert_eq!(split_target("/a?"), ("/a", ""));
        assert_eq!(split_target("/a#f"), ("/a", ""));
        assert_eq!(split_target("http://h:80/a?x"), ("/a", "x"));
        assert_eq!(split_target("HTTP://h?x"), ("/", "x"));
        assert_eq!(split_target("http://h"), ("/", ""));
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse("id=a%20b&x=1+2&id=second&flag&e=%zz%4&u=%E4%BD%A0&bad=%ff");
        assert_eq!(q.get("id"), Some("a b"));
        assert_eq!(q.get("x"), Some("1 2"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("e"), Some("%zz%4"));
        assert_eq!(q.get("u"), Some("你"));
        assert_eq!(q.get("bad"), Some("\u{fffd}"));
        assert_eq!(q.get("missing"), None);
        assert_eq!(q.pairs().len(), 7);
        assert_eq!(Query::parse("").pairs().len(), 0);
        assert_eq!(Query::parse("&&").pairs().len(), 0);
        assert_eq!(Query::parse("%").get("%"), Some(""));
    }
}
