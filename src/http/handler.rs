//! One parsed request in, one response out: routing, signature, content type,
//! validation and the call into `Api`.
//!
//! Kept apart from the socket loop so that the whole API behaviour can be
//! tested with plain values, and the server only deals with framing.

use super::api::{self, Api};
use super::errors::ApiError;
use super::policy::{ClientKey, Guard};
use super::response::Response;
use super::router::{self, Query, Route};
use super::signature::{self, ApiKeys};
use std::net::IpAddr;
use std::time::Instant;

/// The parts of an HTTP request the API looks at, framing already done.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Method as sent (case-sensitive, as HTTP says).
    pub method: &'a str,
    /// Request target (path and query).
    pub target: &'a str,
    /// `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The body; `None` when the request had no `Content-Length`.
    pub body: Option<&'a [u8]>,
}

/// Who sent a request and when, for the number policy, the setup limit and the
/// failure log ([`Guard`]).
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// The policy state shared by the server's connections.
    pub guard: &'a Guard,
    /// The client's address (setups are counted per address when unsigned).
    pub peer: IpAddr,
    /// Monotonic now, for the limiter's window.
    pub now: Instant,
}

/// Answer one request without number policy or rate limit (the built-in loopback
/// default). Never panics; every failure becomes a JSON error reply.
pub async fn handle<A: Api>(api: &A, keys: &ApiKeys, now_unix: u64, req: &Request<'_>) -> Response {
    let guard = Guard::open();
    let client = Client {
        guard: &guard,
        peer: IpAddr::from([127, 0, 0, 1]),
        now: Instant::now(),
    };
    handle_guarded(api, keys, client, now_unix, req).await
}

/// Answer one request under the `[policy]` rules of `client.guard`: refusals
/// (401/403/429) are logged with the client address, rate-limited. Never panics.
pub async fn handle_guarded<A: Api>(
    api: &A,
    keys: &ApiKeys,
    client: Client<'_>,
    now_unix: u64,
    req: &Request<'_>,
) -> Response {
    let response = route_and_answer(api, keys, client, now_unix, req).await;
    if matches!(response.status, 401 | 403 | 429) {
        let path = router::split_target(req.target).0;
        // An attacker chooses the path: keep the log line short whatever it is.
        let path: String = path.chars().take(64).collect();
        // Only the status, the machine code and the path: never the query (signature).
        let code = serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let what = format!(
            "{} {} {code} ({})",
            req.method
                .chars()
                .take(16)
                .collect::<String>()
                .escape_debug(),
            path.escape_debug(),
            response.status
        );
        if let Some(line) = client
            .guard
            .failures
            .borrow_mut()
            .note(client.peer, client.now, &what)
        {
            log::warn!("{line}");
        }
    }
    response
}

async fn route_and_answer<A: Api>(
    api: &A,
    keys: &ApiKeys,
    client: Client<'_>,
    now_unix: u64,
    req: &Request<'_>,
) -> Response {
    let (path, query) = router::split_target(req.target);
    let route = match router::route(req.method, path) {
        Ok(r) => r,
        Err(e) => {
            return Response {
                allow: e.allow,
                ..Response::from(e.error)
            }
        }
    };
    let query = Query::parse(query);
    match answer(api, keys, client, now_unix, route, &query, req).await {
        Ok(r) => r,
        Err(Refusal::Api(e)) => e.into(),
        Err(Refusal::RateLimited(secs)) => Response {
            retry_after: Some(secs),
            ..Response::from(ApiError::too_many_requests(format!(
                "call setups over [policy] max_setups_per_minute; retry in {secs} s"
            )))
        },
    }
}

/// Why `answer` did not produce a reply: an API error, or the setup limit (which needs
/// a header the error shape does not carry).
enum Refusal {
    Api(ApiError),
    RateLimited(u64),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

impl From<super::call_error::CallError> for Refusal {
    fn from(e: super::call_error::CallError) -> Self {
        Refusal::Api(e.into())
    }
}

async fn answer<A: Api>(
    api: &A,
    keys: &ApiKeys,
    client: Client<'_>,
    now_unix: u64,
    route: Route,
    query: &Query,
    req: &Request<'_>,
) -> Result<Response, Refusal> {
    let public = route == Route::Metrics && keys.metrics_public();
    if route.is_signed() && !public {
        signature::check(query, keys, now_unix)?;
    }
    let body = if route.has_body() {
        check_content_type(req.content_type)?;
        req.body
            .ok_or_else(|| ApiError::length_required("a body with Content-Length is required"))?
    } else {
        &[]
    };
    match route {
        Route::Health => Ok(health_reply(&api.health())),
        Route::OpenApi => Ok(Response::ok(super::openapi::document())),
        Route::Page => Ok(Response::ok(super::status_page::PAGE.as_bytes().to_vec())
            .with_content_type("text/html; charset=utf-8")),
        Route::Status => Ok(Response::ok(api.status().to_string().into_bytes())),
        Route::Events => Ok(Response {
            event_stream: true,
            ..Response::ok(Vec::new())
        }),
        Route::Metrics => Ok(Response::ok(api.metrics())
            .with_content_type("text/plain; version=0.0.4; charset=utf-8")),
        Route::Calls => {
            let calls = serde_json::json!({ "calls": api.calls() });
            Ok(Response::ok(calls.to_string().into_bytes()))
        }
        Route::Startup => {
            let request = api::parse_startup(body)?;
            // The limit before the number policy, so refused numbers count too and the
            // policy cannot be probed at full speed.
            let key = match query.get("api_key") {
                Some(k) if !keys.is_empty() => ClientKey::ApiKey(k.to_owned()),
                _ => ClientKey::Addr(client.peer),
            };
            client
                .guard
                .limiter
                .borrow_mut()
                .check(key, client.now)
                .map_err(Refusal::RateLimited)?;
            client.guard.numbers.check(&request.phonenumber)?;
            let id = api.startup(request).await?;
            Ok(Response::ok(api::id_reply_json(&id)))
        }
        Route::Shutdown => {
            let id = api::parse_id_body(body)?;
            api.shutdown(&id)?;
            Ok(Response::ok(api::id_reply_json(&id)))
        }
        Route::CallState => {
            let id = query_id(query)?;
            let reply = api.callstate(id)?;
            Ok(Response::ok(api::callstate_reply_json(&reply)))
        }
        Route::Dtmf => {
            let (id, digits) = api::parse_dtmf_body(body)?;
            api.dtmf(&id, &digits)?;
            Ok(Response::ok(api::id_reply_json(&id)))
        }
        Route::CallStats => {
            let id = query_id(query)?;
            let stats = api.callstats(id)?;
            Ok(Response::ok(
                super::callstats::callstats_json(&stats)
                    .to_string()
                    .into_bytes(),
            ))
        }
    }
}

/// `GET /healthz`: 200 `{"status":"ok"}`, or 503 `{"status":"unwell","unwell":[{"part",
/// "reason"}]}` naming every part that is unwell, so a monitor sees what to look at.
fn health_reply(unwell: &[crate::health::Unwell]) -> Response {
    if unwell.is_empty() {
        return Response::ok(br#"{"status":"ok"}"#.to_vec());
    }
    let parts: Vec<serde_json::Value> = unwell
        .iter()
        .map(|u| serde_json::json!({"part": u.part, "reason": u.reason}))
        .collect();
    let body = serde_json::json!({"status": "unwell", "unwell": parts});
    Response {
        status: 503,
        ..Response::ok(body.to_string().into_bytes())
    }
}

/// The `id` query parameter of the GET routes, checked like a body's id.
fn query_id(query: &Query) -> Result<&str, ApiError> {
    let id = query
        .get("id")
        .ok_or_else(|| ApiError::missing_field("id"))?;
    api::validate_call_id(id)?;
    Ok(id)
}

/// SPEC: bodies are JSON. A request without `Content-Type` is let through
/// (curl-style clients forget it); one that declares something else is 415.
fn check_content_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let Some(ct) = content_type else {
        return Ok(());
    };
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(
            "Content-Type must be application/json",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::api::{CallStateReply, StartupRequest};
    use crate::http::call_error::CallError;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Fake {
        started: RefCell<Vec<StartupRequest>>,
        unwell: Vec<crate::health::Unwell>,
    }

    impl Api for Fake {
        async fn startup(&self, req: StartupRequest) -> Result<String, CallError> {
            self.started.borrow_mut().push(req);
            Ok("a0f93afd5c2e91b0".into())
        }
        fn shutdown(&self, id: &str) -> Result<(), CallError> {
            if id == "live" {
                Ok(())
            } else {
                Err(CallError::NotFound("no such call".into()))
            }
        }
        fn dtmf(&self, id: &str, _digits: &str) -> Result<(), CallError> {
            if id == "live" {
                Ok(())
            } else {
                Err(CallError::NotFound("no such call".into()))
            }
        }

        fn status(&self) -> serde_json::Value {
            serde_json::json!({"box": {}, "calls": []})
        }

        fn health(&self) -> Vec<crate::health::Unwell> {
            self.unwell.clone()
        }

        fn metrics(&self) -> Vec<u8> {
            b"# no metrics in this fake\n".to_vec()
        }

        fn calls(&self) -> Vec<crate::http::CallSummary> {
            Vec::new()
        }

        fn callstats(&self, id: &str) -> Result<crate::media::MediaSnapshot, CallError> {
            if id == "live" {
                Ok(crate::media::MediaSnapshot {
                    codec: crate::media::Codec::Pcmu,
                    counters: Default::default(),
                    telephone_event: None,
                    line: None,
                })
            } else {
                Err(CallError::NotFound("no such call".into()))
            }
        }

        fn callstate(&self, id: &str) -> Result<CallStateReply, CallError> {
            if id == "live" {
                Ok(CallStateReply {
                    data: "x 1 CALLING 0\n".into(),
                    done: false,
                })
            } else {
                Err(CallError::NotFound("no such call".into()))
            }
        }
    }

    const STARTUP: &[u8] =
        br#"{"phonenumber":"1","trtcParams":{"sdkAppId":1,"roomId":1,"userId":"a","userSig":"s"}}"#;

    fn run(method: &str, target: &str, ct: Option<&str>, body: Option<&[u8]>) -> (Response, Fake) {
        run_keys(method, target, ct, body, &ApiKeys::new())
    }

    fn run_keys(
        method: &str,
        target: &str,
        ct: Option<&str>,
        body: Option<&[u8]>,
        keys: &ApiKeys,
    ) -> (Response, Fake) {
        let fake = Fake::default();
        let req = Request {
            method,
            target,
            content_type: ct,
            body,
        };
        let r = futures_lite::future::block_on(handle(&fake, keys, 1_700_000_000, &req));
        (r, fake)
    }

    fn json(r: &Response) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn startup_ok() {
        let (r, fake) = run(
            "POST",
            "/v2205/trtc/startup",
            Some("application/json; charset=utf-8"),
            Some(STARTUP),
        );
        assert_eq!(r.status, 200);
        assert_eq!(json(&r)["id"], "a0f93afd5c2e91b0");
        assert_eq!(fake.started.borrow().len(), 1);
        assert_eq!(fake.started.borrow()[0].trtc.user_id, "a");
    }

    #[test]
    fn startup_refusals() {
        let (r, fake) = run("POST", "/trtc/startup", Some("text/plain"), Some(STARTUP));
        assert_eq!(r.status, 415);
        assert!(fake.started.borrow().is_empty());
        let (r, _) = run("POST", "/trtc/startup", None, None);
        assert_eq!(r.status, 411);
        let (r, _) = run("POST", "/trtc/startup", None, Some(b"{"));
        assert_eq!(
            (r.status, json(&r)["error"].as_str()),
            (400, Some("malformed_json"))
        );
        let (r, _) = run(
            "POST",
            "/trtc/startup",
            Some("APPLICATION/JSON"),
            Some(b"{}"),
        );
        assert_eq!(
            (r.status, json(&r)["field"].as_str()),
            (400, Some("phonenumber"))
        );
    }

    #[test]
    fn shutdown_and_callstate() {
        let (r, _) = run("POST", "/trtc/shutdown", None, Some(br#"{"id":"live"}"#));
        assert_eq!((r.status, json(&r)["id"].as_str()), (200, Some("live")));
        let (r, _) = run("POST", "/trtc/shutdown", None, Some(br#"{"id":"gone"}"#));
        assert_eq!(r.status, 404);
        let (r, _) = run("GET", "/trtc/callstate?id=live", None, None);
        assert_eq!(r.status, 200);
        assert_eq!(
            json(&r),
            serde_json::json!({"data": "x 1 CALLING 0\n", "done": false})
        );
        let (r, _) = run("GET", "/trtc/callstate?id=gone", None, None);
        assert_eq!(r.status, 404);
        for t in [
            "/trtc/callstate",
            "/trtc/callstate?id=",
            "/trtc/callstate?x=live",
        ] {
            let (r, _) = run("GET", t, None, None);
            assert_eq!(
                (r.status, json(&r)["field"].as_str()),
                (400, Some("id")),
                "{t}"
            );
        }
    }

    #[test]
    fn routing_errors_and_health() {
        let (r, _) = run("GET", "/nope", None, None);
        assert_eq!(
            (r.status, json(&r)["error"].as_str()),
            (404, Some("not_found"))
        );
        let (r, _) = run("GET", "/trtc/startup", None, None);
        assert_eq!((r.status, r.allow), (405, Some("POST")));
        let (r, _) = run("GET", "/healthz", None, None);
        assert_eq!(
            (r.status, json(&r)),
            (200, serde_json::json!({"status": "ok"}))
        );
    }

    #[test]
    fn healthz_is_503_naming_each_unwell_part_and_stays_unsigned() {
        let mut keys = ApiKeys::new();
        keys.insert("23456789", "k69x50j0");
        let fake = Fake {
            unwell: vec![
                crate::health::Unwell {
                    part: "sip",
                    reason: "the SIP loop has not polled for 6.0 s".into(),
                },
                crate::health::Unwell {
                    part: "media_clock",
                    reason: "the media clock is 300 ms late (over 5 ticks)".into(),
                },
            ],
            ..Fake::default()
        };
        let req = Request {
            method: "GET",
            target: "/healthz",
            content_type: None,
            body: None,
        };
        let r = futures_lite::future::block_on(handle(&fake, &keys, 1_700_000_000, &req));
        assert_eq!(r.status, 503);
        let v = json(&r);
        assert_eq!(v["status"], "unwell");
        assert_eq!(v["unwell"][0]["part"], "sip");
        assert_eq!(v["unwell"][1]["part"], "media_clock");
        assert!(v["unwell"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("polled"));
    }

    #[test]
    fn signature_enforced_when_configured() {
        let mut keys = ApiKeys::new();
        keys.insert("23456789", "k69x50j0");
        let (r, fake) = run_keys("POST", "/trtc/startup", None, Some(STARTUP), &keys);
        assert_eq!(r.status, 401);
        assert!(fake.started.borrow().is_empty());
        let sig = signature::sign("23456789", "k69x50j0", "1893456000");
        let t = format!("/trtc/startup?api_key=23456789&expire_at=1893456000&signature={sig}");
        let (r, _) = run_keys("POST", &t, None, Some(STARTUP), &keys);
        assert_eq!(r.status, 200);
        // The health probe is not signed.
        let (r, _) = run_keys("GET", "/healthz", None, None, &keys);
        assert_eq!(r.status, 200);
    }

    fn run_guarded(guard: &Guard, peer: [u8; 4], body: &[u8]) -> Response {
        let fake = Fake::default();
        let req = Request {
            method: "POST",
            target: "/trtc/startup",
            content_type: None,
            body: Some(body),
        };
        let client = Client {
            guard,
            peer: IpAddr::from(peer),
            now: Instant::now(),
        };
        futures_lite::future::block_on(handle_guarded(
            &fake,
            &ApiKeys::new(),
            client,
            1_700_000_000,
            &req,
        ))
    }

    fn startup_to(number: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"phonenumber": number,
            "trtcParams": {"sdkAppId": 1, "roomId": 1, "userId": "a", "userSig": "s"}}))
        .unwrap()
    }

    #[test]
    fn number_policy_refuses_with_403_naming_phonenumber() {
        let numbers =
            crate::http::NumberPolicy::new(&["^00".into(), "^\\+".into()], &["1[0-9]{10}".into()])
                .unwrap();
        let guard = Guard::new(numbers, 0);
        for n in ["0044123", "+13800138000", "999"] {
            let r = run_guarded(&guard, [192, 0, 2, 1], &startup_to(n));
            assert_eq!(
                (
                    r.status,
                    json(&r)["field"].as_str(),
                    json(&r)["error"].as_str()
                ),
                (403, Some("phonenumber"), Some("forbidden")),
                "{n}"
            );
        }
        let r = run_guarded(&guard, [192, 0, 2, 1], &startup_to("13800138000"));
        assert_eq!(r.status, 200);
        // A malformed body is still a 400, not a policy answer.
        let r = run_guarded(&guard, [192, 0, 2, 1], b"{}");
        assert_eq!(r.status, 400);
    }

    #[test]
    fn setups_over_the_limit_get_429_with_retry_after_per_address() {
        let guard = Guard::new(Default::default(), 2);
        for _ in 0..2 {
            assert_eq!(run_guarded(&guard, [192, 0, 2, 1], STARTUP).status, 200);
        }
        let r = run_guarded(&guard, [192, 0, 2, 1], STARTUP);
        assert_eq!(
            (r.status, json(&r)["error"].as_str()),
            (429, Some("too_many_requests"))
        );
        assert!(matches!(r.retry_after, Some(1..=60)), "{:?}", r.retry_after);
        // Another address has its own allowance.
        assert_eq!(run_guarded(&guard, [192, 0, 2, 2], STARTUP).status, 200);
        // The refusals were noted for the log, per address.
        assert!(guard
            .failures
            .borrow_mut()
            .note(IpAddr::from([192, 0, 2, 1]), Instant::now(), "x")
            .is_none());
    }
}
