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
