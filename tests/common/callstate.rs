//! The call-history contract: parse `callstate` lines and assert sequences of states,
//! with the ending's code and a case-insensitive keyword of its reason.

/// One line of `GET /trtc/callstate`'s `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateLine {
    pub timestamp: chrono::DateTime<chrono::FixedOffset>,
    pub state: u8,
    pub text: String,
    pub code: u16,
    pub reason: String,
}

/// Parses `data` strictly: every line ends in `\n`, has an ISO 8601 local time with
/// microseconds and an offset, a state number, its text, a code and a reason.
pub fn parse_lines(data: &str) -> Vec<StateLine> {
    assert!(
        data.is_empty() || data.ends_with('\n'),
        "callstate data must end in a newline: {data:?}"
    );
    data.lines()
        .map(|line| {
            let mut f = line.splitn(5, ' ');
            let ts = f.next().unwrap_or_default();
            let frac = ts.split('.').nth(1).unwrap_or_default();
            assert!(
                frac.len() >= 6 && frac[..6].chars().all(|c| c.is_ascii_digit()),
                "timestamp without microseconds in {line:?}"
            );
            let timestamp = chrono::DateTime::parse_from_rfc3339(ts)
                .unwrap_or_else(|e| panic!("bad timestamp {ts:?} in {line:?}: {e}"));
            let state: u8 = f
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad state number in {line:?}"));
            let text = f
                .next()
                .unwrap_or_else(|| panic!("no state text in {line:?}"))
                .to_string();
            let code: u16 = f
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad code in {line:?}"));
            let reason = f.next().unwrap_or("").to_string();
            let want_text = match state {
                1 => "CALLING",
                2 => "INCOMING",
                3 => "EARLY",
                4 => "CONNECTING",
                5 => "CONFIRMED",
                6 => "DISCONNCTD",
                _ => panic!("unknown state {state} in {line:?}"),
            };
            assert_eq!(
                text, want_text,
                "state {state} has the wrong text in {line:?}"
            );
            StateLine {
                timestamp,
                state,
                text,
                code,
                reason,
            }
        })
        .collect()
}

/// The EARLY lines (code 0) in which the gateway says the call moved to another trunk
/// (`trunk primary: 503 Service Unavailable, trying backup`).
pub fn moved_on(lines: &[StateLine]) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l.state == 3 && l.code == 0 && l.reason.starts_with("trunk "))
        .map(|l| l.reason.as_str())
        .collect()
}

/// Renders lines for failure messages.
pub fn show(lines: &[StateLine]) -> String {
    lines
        .iter()
        .map(|l| format!("  {} {} {} {}", l.state, l.text, l.code, l.reason))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Invariants of every finished history: starts with `1 CALLING 0`, time never goes
/// back, `6 DISCONNCTD` exactly once and last.
pub fn assert_well_formed(lines: &[StateLine]) {
    assert!(!lines.is_empty(), "empty call history");
    assert_eq!(
        (lines[0].state, lines[0].code),
        (1, 0),
        "first line must be 1 CALLING 0:\n{}",
        show(lines)
    );
    for w in lines.windows(2) {
        assert!(
            w[0].timestamp <= w[1].timestamp,
            "time goes back:\n{}",
            show(lines)
        );
    }
    let ends = lines.iter().filter(|l| l.state == 6).count();
    assert_eq!(
        ends,
        1,
        "DISCONNCTD must appear exactly once:\n{}",
        show(lines)
    );
    assert_eq!(
        lines.last().map(|l| l.state),
        Some(6),
        "DISCONNCTD must be last:\n{}",
        show(lines)
    );
}

/// Asserts the ending: code and a keyword (case-insensitive) in the reason.
pub fn assert_ending(lines: &[StateLine], code: u16, keyword: &str) {
    assert_well_formed(lines);
    let last = lines.last().unwrap();
    assert_eq!(last.code, code, "wrong DISCONNCTD code:\n{}", show(lines));
    assert!(
        last.reason.to_lowercase().contains(&keyword.to_lowercase()),
        "DISCONNCTD reason {:?} lacks {keyword:?}:\n{}",
        last.reason,
        show(lines)
    );
}

/// Asserts an answered call's shape: 1, any number of 3 (each with a provisional code
/// 101..=199, or code 0 for the gateway's own word that the call moved to another
/// trunk), then 4 (200), 5 (200), 6.
pub fn assert_answered(lines: &[StateLine]) {
    assert_well_formed(lines);
    let states: Vec<u8> = lines.iter().map(|l| l.state).collect();
    let mid = &states[1..states.len() - 1];
    let early = mid.iter().take_while(|&&s| s == 3).count();
    assert_eq!(
        &mid[early..],
        &[4, 5],
        "expected 1, 3*, 4, 5, 6:\n{}",
        show(lines)
    );
    for l in &lines[1..1 + early] {
        let moved_on = l.code == 0 && l.reason.starts_with("trunk ");
        assert!(
            (101..200).contains(&l.code) || moved_on,
            "EARLY with a non-provisional code:\n{}",
            show(lines)
        );
    }
    for l in &lines[1 + early..lines.len() - 1] {
        assert_eq!(
            l.code,
            200,
            "CONNECTING/CONFIRMED must carry 200:\n{}",
            show(lines)
        );
    }
}

/// Asserts an unanswered call: 1, any number of 3, then 6 (no 4 or 5).
pub fn assert_unanswered(lines: &[StateLine]) {
    assert_well_formed(lines);
    assert!(
        lines[1..lines.len() - 1].iter().all(|l| l.state == 3),
        "an unanswered call has only EARLY lines between CALLING and DISCONNCTD:\n{}",
        show(lines)
    );
}
