//! What the box shows about itself (issue "See what the box is doing"): the OpenAPI
//! document it serves is valid OpenAPI 3.1 (checked by `openapi-spec-validator` from
//! PyPI) and `GET /trtc/calls` lists a live call with a sipp phone, then the same call
//! finished with its reason. Real process, real sockets.

mod common;

use common::http;
use common::rig::Rig;
use common::wait::{secs, until};
use serde_json::Value;
use std::process::Command;

#[test]
fn the_served_openapi_document_is_valid() {
    let rig = Rig::start("observe-openapi", "uas_answer.xml", 1, false, |_| {});
    let r = http::get(rig.gw.http, "/openapi.json");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let path = rig.dir.join("openapi.json");
    std::fs::write(&path, r.text()).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document (scripts/test.sh installs it: \
         pip install openapi-spec-validator):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn call_in_list(rig: &Rig, id: &str) -> Option<Value> {
    let r = http::get(rig.gw.http, "/trtc/calls");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
}

#[test]
fn the_call_list_shows_a_live_call_then_its_end() {
    let mut rig = Rig::start("observe-calls", "uas_answer.xml", 1, false, |_| {});
    let id = rig.gw.startup("1002", 60, None);
    let live = until("the call to be confirmed in /trtc/calls", secs(20), || {
        call_in_list(&rig, &id).filter(|c| c["state"] == "CONFIRMED" && !c["codec"].is_null())
    });
    assert_eq!(live["direction"], "outbound");
    assert_eq!(live["number"], "1002");
    assert!(
        live["ended_at"].is_null() && live["reason"].is_null(),
        "{live}"
    );
    assert!(live["started_at"].as_f64().unwrap() > 1.7e9, "{live}");
    rig.gw.shutdown(&id);
    rig.gw.wait_done(&id, secs(20));
    let done = call_in_list(&rig, &id).expect("a finished call stays listed");
    assert_eq!(done["state"], "DISCONNCTD", "{done}");
    assert!(
        done["reason"].as_str().unwrap().contains("shutdown"),
        "{done}"
    );
    assert!(done["ended_at"].as_f64().unwrap() >= done["started_at"].as_f64().unwrap());
    rig.gw.assert_healthy();
}

/// The value of the sample `name{labels}` in a scrape (labels as the text format prints
/// them, sorted by name), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// `promtool check metrics` on a scrape: the format is what Prometheus accepts, and the
/// names follow its conventions.
fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/test.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n--- scrape ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_pass_promtool_and_move_as_calls_go() {
    let mut rig = Rig::start("observe-metrics", "uas_answer.xml", 2, false, |_| {});
    let scrape = |rig: &Rig| {
        let r = http::get(rig.gw.http, "/metrics");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("text/plain"),
            "{:?}",
            r.header("content-type")
        );
        r.text()
    };
    let before = scrape(&rig);
    promtool_check(&before);
    let ttl_before = sample(&before, "trtc_sipgw_calls_ended_total{reason=\"ttl\"}");
    let shutdown_before = sample(&before, "trtc_sipgw_calls_ended_total{reason=\"shutdown\"}");

    // A call ended by its TTL, scraped while it is live.
    let id = rig.gw.startup("1002", 3, None);
    let live = until("the call to be confirmed in /metrics", secs(20), || {
        let text = scrape(&rig);
        (sample(
            &text,
            "trtc_sipgw_calls_live{direction=\"outbound\",state=\"CONFIRMED\"}",
        ) >= 1.0)
            .then_some(text)
    });
    promtool_check(&live);
    assert!(
        sample(&live, "trtc_sipgw_call_setup_seconds_count") >= 1.0,
        "{live}"
    );
    rig.gw.wait_done(&id, secs(20));
    // And one ended by /trtc/shutdown.
    let id = rig.gw.startup("1002", 60, None);
    rig.gw.wait_state(&id, 5, secs(20));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    rig.gw.shutdown(&id);
    rig.gw.wait_done(&id, secs(20));

    let after = scrape(&rig);
    promtool_check(&after);
    assert_eq!(
        sample(&after, "trtc_sipgw_calls_ended_total{reason=\"ttl\"}"),
        ttl_before + 1.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, "trtc_sipgw_calls_ended_total{reason=\"shutdown\"}"),
        shutdown_before + 1.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "trtc_sipgw_calls_live{direction=\"outbound\",state=\"CONFIRMED\"}"
        ),
        0.0
    );
    // sipp streamed 440 Hz for both calls and heard the room: packets both ways
    assert!(
        sample(&after, "trtc_sipgw_rtp_packets_total{direction=\"in\"}") > 50.0,
        "{after}"
    );
    assert!(
        sample(&after, "trtc_sipgw_rtp_packets_total{direction=\"out\"}") > 50.0,
        "{after}"
    );
    assert!(sample(&after, "trtc_sipgw_call_setup_seconds_count") >= 2.0);
    assert!(
        sample(
            &after,
            "trtc_sipgw_api_requests_total{path=\"/trtc/startup\",status=\"200\"}"
        ) >= 2.0,
        "{after}"
    );
    assert!(sample(&after, "trtc_sipgw_process_resident_memory_bytes") > 1e6);
    assert!(sample(&after, "trtc_sipgw_process_open_fds") > 3.0);
    rig.gw.assert_healthy();
}
