//! One parsed request in, one response out: routing, signature, content type,
//! validation and the call into `Api`.
//!
//! Kept apart from the socket loop so that the whole API behaviour can be
//! tested with plain values, and the server only deals with framing.

use super::api::{self, Api};
use super::errors::ApiError;
use super::response::Response;
use super::router::{self, Query, Route};
use super::signature::{self, ApiKeys};

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

/// Answer one request. Never panics; every failure becomes a JSON error reply.
pub async fn handle<A: Api>(api: &A, keys: &ApiKeys, now_unix: u64, req: &Request<'_>) -> Response {
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
    match answer(api, keys, now_unix, route, &query, req).await {
        Ok(r) => r,
        Err(e) => e.into(),
    }
}

async fn answer<A: Api>(
    api: &A,
    keys: &ApiKeys,
    now_unix: u64,
    route: Route,
    query: &Query,
    req: &Request<'_>,
) -> Result<Response, ApiError> {
    if route.is_signed() {
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
        Route::Health => Ok(Response::ok(br#"{"status":"ok"}"#.to_vec())),
        Route::Startup => {
            let request = api::parse_startup(body)?;
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

        fn callstats(&self, id: &str) -> Result<crate::media::MediaSnapshot, CallError> {
            if id == "live" {
                Ok(crate::media::MediaSnapshot {
                    codec: crate::media::Codec::Pcmu,
                    counters: Default::default(),
                    telephone_event: None,
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
}
