//! Unit tests of the registrar core: challenges, digest checks, bindings.

use super::registrar::*;
use std::collections::HashMap;

const T0: u64 = 1_800_000_000;

fn registrar(algorithms: Vec<Algorithm>) -> Registrar {
    let mut users = HashMap::new();
    users.insert("2001".to_owned(), "secret2001".to_owned());
    Registrar::new(
        RegistrarConfig {
            realm: "trtc-sipgw".into(),
            users,
            algorithms,
            min_expires_s: 60,
            max_expires_s: 3600,
            default_expires_s: 600,
        },
        b"box secret".to_vec(),
    )
}

fn request(contact: &str, expires: Option<u64>, cseq: u32) -> RegisterRequest {
    RegisterRequest {
        request_uri: "sip:127.0.0.1".into(),
        to_user: "2001".into(),
        authorization: None,
        contacts: vec![contact.into()],
        expires,
        call_id: "cid".into(),
        cseq,
        source: Some("127.0.0.2:5060".parse().unwrap()),
    }
}

fn nonce_of(challenge: &str) -> String {
    let at = challenge.find("nonce=\"").unwrap() + 7;
    challenge[at..].split('"').next().unwrap().to_owned()
}

/// Challenges, then answers with `password` and `algorithm`.
fn authed(
    r: &mut Registrar,
    mut req: RegisterRequest,
    password: &str,
    alg: Algorithm,
    now: u64,
) -> RegisterOutcome {
    let RegisterOutcome::Challenge(ch) = r.register(&req, now) else {
        panic!("no challenge")
    };
    let nonce = nonce_of(&ch[0]);
    let resp = digest_response(
        alg,
        "2001",
        "trtc-sipgw",
        password,
        "REGISTER",
        "sip:127.0.0.1",
        &nonce,
        Some(("00000001", "abc")),
    );
    req.authorization = Some(format!(
        "Digest username=\"2001\", realm=\"trtc-sipgw\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", response=\"{resp}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"abc\"",
        alg.name()
    ));
    r.register(&req, now)
}

#[test]
fn md5_register_binds_and_lists_contacts() {
    let mut r = registrar(vec![Algorithm::Md5]);
    let out = authed(
        &mut r,
        request("<sip:2001@127.0.0.2:5060>", Some(120), 1),
        "secret2001",
        Algorithm::Md5,
        T0,
    );
    assert_eq!(
        out,
        RegisterOutcome::Ok(vec![("sip:2001@127.0.0.2:5060".into(), 120)])
    );
    assert_eq!(r.contacts("2001", T0).len(), 1);
    assert!(r.is_registered_source("127.0.0.2:5060".parse().unwrap(), T0));
    assert!(r.contacts("2001", T0 + 121).is_empty(), "binding lapses");
}

#[test]
fn challenge_offers_md5_only_by_default_sha256_when_configured_and_verifies_both() {
    let mut r = registrar(vec![Algorithm::Md5]);
    let RegisterOutcome::Challenge(ch) = r.register(&request("<sip:a@h>", None, 1), T0) else {
        panic!()
    };
    assert_eq!(ch.len(), 1);
    assert!(ch[0].contains("algorithm=MD5") && ch[0].contains("realm=\"trtc-sipgw\""));
    // A SHA-256 answer is verified even when only MD5 was offered; a wrong one is not.
    let sha = |r: &mut Registrar, password: &str, cseq: u32| {
        authed(
            r,
            request("<sip:a@h>", None, cseq),
            password,
            Algorithm::Sha256,
            T0,
        )
    };
    let ok = RegisterOutcome::Ok(vec![("sip:a@h".into(), 600)]);
    assert_eq!(sha(&mut r, "secret2001", 1), ok);
    assert_eq!(
        sha(&mut r, "wrong", 2),
        RegisterOutcome::Refused(403, "Forbidden")
    );
    let mut r = registrar(vec![Algorithm::Sha256, Algorithm::Md5]);
    assert_eq!(sha(&mut r, "secret2001", 1), ok);
}

#[test]
fn wrong_password_and_unknown_user_are_403_alike() {
    let mut r = registrar(vec![Algorithm::Md5]);
    assert_eq!(
        authed(
            &mut r,
            request("<sip:a@h>", None, 1),
            "nope",
            Algorithm::Md5,
            T0
        ),
        RegisterOutcome::Refused(403, "Forbidden")
    );
    let mut req = request("<sip:a@h>", None, 1);
    req.to_user = "9999".into();
    let RegisterOutcome::Challenge(ch) = r.register(&req, T0) else {
        panic!()
    };
    let nonce = nonce_of(&ch[0]);
    let resp = digest_response(
        Algorithm::Md5,
        "9999",
        "trtc-sipgw",
        "x",
        "REGISTER",
        "sip:127.0.0.1",
        &nonce,
        None,
    );
    req.authorization = Some(format!("Digest username=\"9999\", realm=\"trtc-sipgw\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", response=\"{resp}\""));
    assert_eq!(
        r.register(&req, T0),
        RegisterOutcome::Refused(403, "Forbidden")
    );
    assert!(r.bindings().is_empty());
}

#[test]
fn old_nonce_is_stale_and_forged_nonce_is_rechallenged() {
    let mut r = registrar(vec![Algorithm::Md5]);
    let mut req = request("<sip:a@h>", None, 1);
    let RegisterOutcome::Challenge(ch) = r.register(&req, T0) else {
        panic!()
    };
    let nonce = nonce_of(&ch[0]);
    let resp = digest_response(
        Algorithm::Md5,
        "2001",
        "trtc-sipgw",
        "secret2001",
        "REGISTER",
        "sip:127.0.0.1",
        &nonce,
        None,
    );
    req.authorization = Some(format!("Digest username=\"2001\", realm=\"trtc-sipgw\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", response=\"{resp}\""));
    let RegisterOutcome::Challenge(ch) = r.register(&req, T0 + NONCE_LIFETIME_S + 1) else {
        panic!("stale not refused")
    };
    assert!(ch[0].contains("stale=true"));
    assert!(matches!(r.register(&req, T0 + 10), RegisterOutcome::Ok(_)));
    // The same nonce from another address is not ours.
    req.source = Some("127.0.0.3:5060".parse().unwrap());
    req.cseq = 2;
    let RegisterOutcome::Challenge(ch) = r.register(&req, T0 + 10) else {
        panic!()
    };
    assert!(!ch[0].contains("stale"));
}

#[test]
fn expiry_clamping_423_and_unregister() {
    let mut r = registrar(vec![Algorithm::Md5]);
    assert_eq!(
        authed(
            &mut r,
            request("<sip:a@h>", Some(10), 1),
            "secret2001",
            Algorithm::Md5,
            T0
        ),
        RegisterOutcome::IntervalTooBrief(60)
    );
    assert_eq!(
        authed(
            &mut r,
            request("<sip:a@h>;expires=99999", None, 2),
            "secret2001",
            Algorithm::Md5,
            T0
        ),
        RegisterOutcome::Ok(vec![("sip:a@h".into(), 3600)])
    );
    assert_eq!(
        authed(
            &mut r,
            request("<sip:b@h>", Some(300), 3),
            "secret2001",
            Algorithm::Md5,
            T0
        )
        .clone(),
        RegisterOutcome::Ok(vec![("sip:a@h".into(), 3600), ("sip:b@h".into(), 300)])
    );
    assert_eq!(
        authed(
            &mut r,
            request("<sip:a@h>", Some(0), 4),
            "secret2001",
            Algorithm::Md5,
            T0
        ),
        RegisterOutcome::Ok(vec![("sip:b@h".into(), 300)])
    );
    // An older CSeq of the same Call-ID is refused (RFC 3261 10.3).
    assert_eq!(
        authed(
            &mut r,
            request("<sip:b@h>", Some(300), 2),
            "secret2001",
            Algorithm::Md5,
            T0
        ),
        RegisterOutcome::Refused(500, "Out Of Order")
    );
    assert_eq!(
        authed(
            &mut r,
            request("*", Some(0), 5),
            "secret2001",
            Algorithm::Md5,
            T0
        ),
        RegisterOutcome::Ok(vec![])
    );
    assert!(r.contacts("2001", T0).is_empty());
    assert_eq!(
        authed(
            &mut r,
            request("*", Some(60), 6),
            "secret2001",
            Algorithm::Md5,
            T0
        ),
        RegisterOutcome::Refused(400, "Bad Request")
    );
}

#[test]
fn contacts_are_capped_and_restore_drops_lapsed() {
    let mut r = registrar(vec![Algorithm::Md5]);
    let many: Vec<String> = (0..=MAX_CONTACTS)
        .map(|i| format!("<sip:d{i}@h>"))
        .collect();
    assert_eq!(
        authed(
            &mut r,
            request(&many.join(", "), Some(120), 1),
            "secret2001",
            Algorithm::Md5,
            T0
        ),
        RegisterOutcome::Refused(403, "Too Many Contacts")
    );
    assert_eq!(
        authed(
            &mut r,
            request(&many[..2].join(", "), Some(120), 2),
            "secret2001",
            Algorithm::Md5,
            T0
        )
        .clone(),
        RegisterOutcome::Ok(vec![("sip:d0@h".into(), 120), ("sip:d1@h".into(), 120)])
    );
    let saved = r.bindings().clone();
    let mut fresh = registrar(vec![Algorithm::Md5]);
    fresh.restore(saved.clone(), T0 + 60);
    assert_eq!(fresh.contacts("2001", T0 + 60).len(), 2);
    let mut late = registrar(vec![Algorithm::Md5]);
    late.restore(saved, T0 + 121);
    assert!(late.bindings().is_empty());
}

#[test]
fn garbage_authorization_never_panics() {
    let mut r = registrar(vec![Algorithm::Md5]);
    for auth in [
        "",
        "Digest",
        "Digest nonce=\"",
        "Basic abc",
        "Digest nonce=\"1.x\", response=",
        "Digest nonce=\"99999999999999999999.a\"",
        "Dig\u{e9}st a=b",
    ] {
        let mut req = request("<sip:a@h>", None, 1);
        req.authorization = Some(auth.into());
        assert!(
            matches!(r.register(&req, T0), RegisterOutcome::Challenge(_)),
            "{auth:?}"
        );
    }
}
