//! Issue 10, the registrar: devices REGISTER to the box with digest credentials from
//! `[registrar.users]`; a `/trtc/startup` whose number is a registered user goes to that
//! user's device instead of the trunk; bindings expire, refresh, unregister and outlive a
//! restart. Played by sipp: `reg_contact.xml` registers a contact (the port of a sipp UAS
//! that answers), `reg_refused.xml` expects the 403. The trunk of every gateway here is a
//! dead port, so a call that reaches a phone can only have gone to the registered one.

mod common;

use common::callstate::{assert_answered, assert_ending};
use common::gateway::{Gateway, GatewayConfig};
use common::net::PortBlock;
use common::peers::Sipp;
use common::rig::Rig;
use common::wait::secs;
use serde_json::Value;
use std::time::Duration;

const REGISTRAR: &str = "\n[registrar]\nrealm = \"trtc-sipgw\"\nmin_expires_s = 1\n\
                         [registrar.users]\n\"2001\" = \"secret2001\"\n\"2002\" = \"secret2002\"\n";

/// A gateway with the registrar, a sipp UAS (the registered phone) running `scenario`,
/// and a trunk nobody answers on.
fn rig(name: &str, scenario: &str, calls: u32) -> Rig {
    Rig::start(name, scenario, calls, true, |cfg: &mut GatewayConfig| {
        cfg.outbound_uri = "sip:{number}@127.0.0.1:9".into();
        cfg.extra_toml = REGISTRAR.into();
    })
}

/// Runs one sipp REGISTER of `user` (password `password`) with its Contact at
/// `contact_port`, and waits for it to finish; returns whether its scenario succeeded.
fn register(
    rig: &Rig,
    scenario: &str,
    user: &str,
    password: &str,
    contact_port: u16,
    expires: u32,
) -> bool {
    let contact_port = contact_port.to_string();
    let expires = expires.to_string();
    let mut sipp = Sipp::uac(
        &rig.dir,
        &rig.block,
        scenario,
        rig.gw.sip,
        user,
        1,
        &[
            "-au",
            user,
            "-ap",
            password,
            "-key",
            "contact_port",
            &contact_port,
            "-key",
            "expires",
            &expires,
            "-timeout",
            "10s",
        ],
    );
    let st = sipp.proc.wait_exit(secs(20));
    let ok = st.is_some_and(|s| s.success());
    if !ok {
        eprintln!("sipp {scenario} for {user}:\n{}", sipp.proc.log_tail(40));
    }
    ok
}

/// `registrations.json` as the gateway saved it.
fn saved(rig: &Rig) -> Value {
    let path = rig.dir.join("state/registrations.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "{}".into());
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
}

fn contacts_of(rig: &Rig, user: &str) -> usize {
    saved(rig)[user].as_array().map_or(0, Vec::len)
}

/// Calls `number`: the registered phone answers, and the call is shut down after `talk`.
fn call_is_answered(rig: &Rig, number: &str, talk: Duration) -> String {
    let id = rig.gw.startup(number, 60, None);
    rig.gw.wait_state(&id, 5, secs(20));
    std::thread::sleep(talk);
    rig.gw.shutdown(&id);
    let lines = rig.gw.wait_done(&id, secs(20));
    assert_answered(&lines);
    assert_ending(&lines, 200, "shutdown requested");
    id
}

/// Calls `number`, which is not registered: it goes to the dead trunk and is never answered.
fn call_is_not_answered(rig: &Rig, number: &str) {
    let id = rig.gw.startup(number, 60, None);
    let lines = rig.gw.wait_done(&id, secs(60));
    assert!(
        lines.iter().all(|l| l.state != 5),
        "{}",
        common::callstate::show(&lines)
    );
}

/// Registers `user` (with its right password) at `contact_port` for `expires` seconds.
fn reg(rig: &Rig, user: &str, contact_port: u16, expires: u32) {
    let password = format!("secret{user}");
    assert!(
        register(
            rig,
            "reg_contact.xml",
            user,
            &password,
            contact_port,
            expires
        ),
        "REGISTER {user} at port {contact_port} for {expires} s"
    );
}

#[test]
fn a_registered_device_gets_the_call_with_audio_both_ways_and_again_after_a_restart() {
    let mut rig = rig("reg-call", "uas_answer.xml", 2);
    reg(&rig, "2001", rig.uas.sip_port, 600);
    assert_eq!(contacts_of(&rig, "2001"), 1, "{}", saved(&rig));

    let id = call_is_answered(&rig, "2001", Duration::from_secs(4));
    common::audio::assert_wav_tone(&rig.gw.recording(&id), 440.0);
    rig.assert_phone_heard(1000.0);

    // The binding outlives the gateway: a new process, same state dir, same device.
    let cfg_text = std::fs::read_to_string(rig.dir.join("gateway.toml")).unwrap();
    rig.gw.proc.signal("TERM");
    assert!(rig.gw.proc.wait_exit(secs(20)).is_some());
    rig.gw = Gateway::start_with_text(&rig.dir, &cfg_text);
    call_is_answered(&rig, "2001", Duration::ZERO);
    rig.uas.proc.assert_success(secs(20));
    rig.gw.assert_healthy();
}

#[test]
fn wrong_passwords_and_unknown_users_are_refused_and_reach_nothing() {
    let mut rig = rig("reg-refused", "uas_answer.xml", 1);
    let port = rig.uas.sip_port;
    for (user, password) in [("2001", "wrong"), ("9999", "secret2001")] {
        assert!(
            register(&rig, "reg_refused.xml", user, password, port, 600),
            "{user} with {password} was not refused with 403"
        );
    }
    assert_eq!(contacts_of(&rig, "2001"), 0, "{}", saved(&rig));
    // Not registered: the call goes to the (dead) trunk and fails.
    call_is_not_answered(&rig, "2001");
    let log = rig.gw.proc.log_text();
    assert!(!log.contains("secret2001"), "a password in the log");
    rig.gw.assert_healthy();
}

#[test]
fn bindings_refresh_expire_unregister_and_hold_several_contacts() {
    let mut rig = rig("reg-expiry", "uas_answer.xml", 1);
    let port = rig.uas.sip_port;
    // Two contacts for one user; unregistering one (Expires: 0) leaves the other.
    reg(&rig, "2002", port, 600);
    reg(&rig, "2002", port + 1000, 600);
    assert_eq!(contacts_of(&rig, "2002"), 2, "{}", saved(&rig));
    reg(&rig, "2002", port + 1000, 0);
    assert_eq!(contacts_of(&rig, "2002"), 1, "{}", saved(&rig));

    // A short binding refreshed before it lapses stays.
    reg(&rig, "2001", port, 2);
    reg(&rig, "2001", port, 600);
    std::thread::sleep(Duration::from_secs(3));
    call_is_answered(&rig, "2001", Duration::ZERO);

    // One that is not refreshed lapses.
    reg(&rig, "2001", port, 1);
    std::thread::sleep(Duration::from_secs(2));
    call_is_not_answered(&rig, "2001");
    rig.gw.assert_healthy();
}

#[test]
fn a_user_with_two_devices_rings_both_and_the_first_answer_wins() {
    // Device A answers; device B rings and must be cancelled.
    let mut rig = rig("reg-fork", "uas_answer.xml", 1);
    let other_block = PortBlock::new();
    let mut ringer = Sipp::uas(&rig.dir, &other_block, "uas_ring_cancel.xml", 1);
    reg(&rig, "2002", rig.uas.sip_port, 600);
    reg(&rig, "2002", ringer.sip_port, 600);
    assert_eq!(contacts_of(&rig, "2002"), 2, "{}", saved(&rig));
    let id = call_is_answered(&rig, "2002", Duration::from_secs(2));
    ringer.proc.assert_success(secs(20)); // it got the CANCEL (and ACKed its 487)
    rig.uas.proc.assert_success(secs(20)); // it got the BYE
    common::audio::assert_wav_tone(&rig.gw.recording(&id), 440.0);
    rig.gw.assert_healthy();
}
