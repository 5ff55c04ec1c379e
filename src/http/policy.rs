//! Toll-fraud defences of the API: which numbers may be dialled, how many call setups
//! a client may make per minute, and a log of refused attempts that an attacker cannot
//! flood.
//!
//! Everything here is sans-I/O: the caller passes the clock (`Instant`) and the client's
//! identity, so the rules are unit-tested with a fake clock and the server only wires
//! them in. Toll fraud (premium, international and PBX feature-code numbers dialled as
//! often as possible) is the first thing an attacker tries on a SIP box.

use super::errors::ApiError;
use regex::Regex;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The window `max_setups_per_minute` counts over.
const WINDOW: Duration = Duration::from_secs(60);
/// At most one failure line per client address per this long in the log.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Above this many tracked clients, idle ones are forgotten on the next check, so a
/// spray from many addresses cannot grow the maps without bound.
const PRUNE_ABOVE: usize = 1024;

/// `[policy] deny` / `allow`: which phone numbers may be dialled.
///
/// Exists so that a leaked or open API cannot dial premium, international or feature-code
/// numbers on the trunk's credentials: deny is checked first, then (when not empty) the
/// number must match one allow pattern.
#[derive(Debug, Clone, Default)]
pub struct NumberPolicy {
    deny: Vec<Regex>,
    allow: Vec<Regex>,
}

impl NumberPolicy {
    /// Compiles the patterns. The error names the config key (`policy.deny` /
    /// `policy.allow`) and the bad pattern, because the person reading it is editing
    /// that file.
    ///
    /// Each list errs on the side of refusing: a deny pattern refuses the number when it
    /// matches anywhere in it, as written (so `^00` refuses every number starting with
    /// 00, as the shipped example means); an allow pattern must match the whole number
    /// (it is anchored as `^(?:pat)$`), so `123` does not let `99912399` through.
    pub fn new(deny: &[String], allow: &[String]) -> Result<NumberPolicy, String> {
        let compile = |key: &str, pats: &[String], anchor: bool| -> Result<Vec<Regex>, String> {
            pats.iter()
                .map(|p| {
                    let text = if anchor {
                        format!("^(?:{p})$")
                    } else {
                        p.clone()
                    };
                    Regex::new(&text)
                        .map_err(|e| format!("invalid value for key `{key}`: pattern {p:?}: {e}"))
                })
                .collect()
        };
        Ok(NumberPolicy {
            deny: compile("policy.deny", deny, false)?,
            allow: compile("policy.allow", allow, true)?,
        })
    }

    /// `Ok` when the number may be dialled; otherwise the 403 naming `phonenumber`.
    /// The number itself is not echoed back.
    pub fn check(&self, number: &str) -> Result<(), ApiError> {
        if self.deny.iter().any(|r| r.is_match(number)) {
            return Err(ApiError::forbidden_field(
                "phonenumber",
                "the number policy ([policy] deny) refuses this number",
            ));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|r| r.is_match(number)) {
            return Err(ApiError::forbidden_field(
                "phonenumber",
                "the number policy ([policy] allow) does not allow this number",
            ));
        }
        Ok(())
    }

    /// True when no pattern restricts the numbers (the built-in loopback default).
    pub fn is_open(&self) -> bool {
        self.deny.is_empty() && self.allow.is_empty()
    }
}

/// Who a setup is counted against: the api_key when requests are signed, otherwise the
/// client's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A signed request's `api_key` (already checked by the signature).
    ApiKey(String),
    /// An unauthenticated client's address.
    Addr(IpAddr),
}

/// `max_setups_per_minute`: a sliding one-minute window per client.
///
/// Exists so that even an allowed caller cannot run up the trunk bill by dialling in a
/// loop; a window (not a token bucket) so "the 61st within a minute" is refused exactly.
#[derive(Debug, Default)]
pub struct SetupLimiter {
    max: usize,
    seen: HashMap<ClientKey, VecDeque<Instant>>,
}

impl SetupLimiter {
    /// A limiter allowing `max_per_minute` setups per client per minute; 0 = no limit.
    pub fn new(max_per_minute: u32) -> SetupLimiter {
        SetupLimiter {
            max: max_per_minute as usize,
            seen: HashMap::new(),
        }
    }

    /// Counts one setup at `now`. `Err(seconds)` when over the limit: how long until a
    /// slot frees (the `Retry-After` value, at least 1). Refused attempts are not counted,
    /// so a client that backs off as told gets through.
    pub fn check(&mut self, key: ClientKey, now: Instant) -> Result<(), u64> {
        if self.max == 0 {
            return Ok(());
        }
        if self.seen.len() > PRUNE_ABOVE {
            self.seen.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < WINDOW)
            });
        }
        let q = self.seen.entry(key).or_default();
        while q
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            q.pop_front();
        }
        if q.len() >= self.max {
            let oldest = q.front().copied().unwrap_or(now);
            let wait = WINDOW.saturating_sub(now.saturating_duration_since(oldest));
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(secs.max(1));
        }
        q.push_back(now);
        Ok(())
    }
}

/// A log of refused attempts (401/403/429) that a flood cannot fill: at most one line
/// per client address per 10 s, with the count of the attempts left out since.
#[derive(Debug, Default)]
pub struct FailureLog {
    last: HashMap<IpAddr, (Instant, u64)>,
}

impl FailureLog {
    /// Records a refusal from `peer`; returns the line to log, or `None` when suppressed.
    /// `what` must not hold a secret (callers pass the status and machine code).
    pub fn note(&mut self, peer: IpAddr, now: Instant, what: &str) -> Option<String> {
        if self.last.len() > PRUNE_ABOVE {
            self.last
                .retain(|_, (t, _)| now.saturating_duration_since(*t) < LOG_EVERY);
        }
        match self.last.get_mut(&peer) {
            Some((t, suppressed)) if now.saturating_duration_since(*t) < LOG_EVERY => {
                *suppressed += 1;
                None
            }
            Some((t, suppressed)) => {
                let line = if *suppressed > 0 {
                    format!(
                        "http: refused {what} from {peer} ({} more refused since the last line)",
                        *suppressed
                    )
                } else {
                    format!("http: refused {what} from {peer}")
                };
                *t = now;
                *suppressed = 0;
                Some(line)
            }
            None => {
                self.last.insert(peer, (now, 0));
                Some(format!("http: refused {what} from {peer}"))
            }
        }
    }
}

/// The policy state one server shares between its connections.
///
/// Exists so the handler gets one value holding the number rules, the limiter and the
/// failure log; interior mutability because the server runs on one thread (`Rc`).
#[derive(Debug, Default)]
pub struct Guard {
    /// Which numbers may be dialled.
    pub numbers: NumberPolicy,
    /// Setups per client per minute.
    pub limiter: std::cell::RefCell<SetupLimiter>,
    /// Refused attempts, rate-limited.
    pub failures: std::cell::RefCell<FailureLog>,
}

impl Guard {
    /// No number rules, no rate limit: the built-in default, allowed only on loopback.
    pub fn open() -> Guard {
        Guard::default()
    }

    /// A guard from the number rules and the per-minute setup limit (0 = none).
    pub fn new(numbers: NumberPolicy, max_setups_per_minute: u32) -> Guard {
        Guard {
            numbers,
            limiter: std::cell::RefCell::new(SetupLimiter::new(max_setups_per_minute)),
            failures: std::cell::RefCell::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(deny: &[&str], allow: &[&str]) -> NumberPolicy {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        NumberPolicy::new(&v(deny), &v(allow)).unwrap()
    }

    #[test]
    fn deny_first_then_allow_full_match() {
        let p = pol(&["^00", "^\\+", "^[*#]"], &["^1[3-9][0-9]{9}$"]);
        for n in ["0044123", "+8613800138000", "*21#", "#31#"] {
            let e = p.check(n).unwrap_err();
            assert_eq!(
                (e.status, e.field.as_deref()),
                (403, Some("phonenumber")),
                "{n}"
            );
            assert!(e.message.contains("deny"), "{n}");
        }
        let e = p.check("1234").unwrap_err();
        assert!(e.message.contains("allow"));
        assert!(p.check("13800138000").is_ok());
        // Deny matches anywhere (errs on refusing); anchor it to narrow it.
        let p = pol(&["900"], &["[0-9]+"]);
        assert!(p.check("19001").is_err());
        let p = pol(&["^900$"], &["[0-9]+"]);
        assert!(p.check("9001").is_ok());
        // Allow must match the whole number (errs on refusing too).
        let p = pol(&[], &["123"]);
        assert!(p.check("123").is_ok());
        assert!(p.check("99912399").is_err());
        assert!(p.check("1234").is_err());
        assert!(pol(&[], &[]).check("+0044").is_ok());
    }

    #[test]
    fn bad_pattern_names_the_key() {
        let e = NumberPolicy::new(&["(".into()], &[]).unwrap_err();
        assert!(e.contains("`policy.deny`"), "{e}");
        let e = NumberPolicy::new(&[], &["[".into()]).unwrap_err();
        assert!(e.contains("`policy.allow`"), "{e}");
    }

    #[test]
    fn limiter_sliding_window_with_fake_clock() {
        let t0 = Instant::now();
        let mut l = SetupLimiter::new(3);
        let k = || ClientKey::Addr("192.0.2.1".parse().unwrap());
        for i in 0..3 {
            assert!(l.check(k(), t0 + Duration::from_secs(i)).is_ok());
        }
        assert_eq!(l.check(k(), t0 + Duration::from_secs(10)), Err(50));
        // Another client has its own window.
        assert!(l
            .check(ClientKey::ApiKey("a".into()), t0 + Duration::from_secs(10))
            .is_ok());
        assert_eq!(l.check(k(), t0 + Duration::from_millis(59_500)), Err(1));
        assert!(l.check(k(), t0 + Duration::from_secs(60)).is_ok());
        assert_eq!(l.check(k(), t0 + Duration::from_secs(60)), Err(1));
        let mut none = SetupLimiter::new(0);
        for _ in 0..1000 {
            assert!(none.check(k(), t0).is_ok());
        }
    }

    #[test]
    fn limiter_forgets_idle_clients() {
        let t0 = Instant::now();
        let mut l = SetupLimiter::new(1);
        for i in 0..3000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            let _ = l.check(ClientKey::Addr(ip), t0);
        }
        let _ = l.check(ClientKey::ApiKey("x".into()), t0 + WINDOW);
        assert!(l.seen.len() <= 2, "{}", l.seen.len());
    }

    #[test]
    fn failure_log_is_rate_limited_per_address() {
        let t0 = Instant::now();
        let mut f = FailureLog::default();
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "192.0.2.8".parse().unwrap();
        let line = f.note(a, t0, "403 forbidden").unwrap();
        assert!(line.contains("192.0.2.7") && line.contains("403"), "{line}");
        for i in 1..=5 {
            assert!(f
                .note(a, t0 + Duration::from_secs(i), "403 forbidden")
                .is_none());
        }
        assert!(f
            .note(b, t0 + Duration::from_secs(1), "401 unauthorized")
            .is_some());
        let line = f.note(a, t0 + Duration::from_secs(10), "429").unwrap();
        assert!(line.contains("5 more"), "{line}");
    }
}
