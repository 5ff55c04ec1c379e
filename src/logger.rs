//! A small stderr logger (journald picks stderr up under systemd): one line per record
//! with the level and the module, no colours, no allocation beyond the formatted line.
//! Lines about a call carry `call=<id>` (the call layer writes them so), so one call's
//! story is one `grep`.
//!
//! Under systemd (`JOURNAL_STREAM` set) a line starts with its syslog priority (`<3>`
//! error … `<7>` debug), which journald reads, so `journalctl -p warning` works, and has
//! no timestamp of ours (the journal stamps every line). Elsewhere a line starts with
//! the local time.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct StderrLogger {
    level: LevelFilter,
    /// Running under journald: priority prefixes, no timestamps.
    journald: bool,
}

/// The syslog priority journald reads from a `<N>` prefix (sd-daemon(3)).
fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One log line: `<N>LEVEL target: message` for journald, `<time> LEVEL target: message`
/// elsewhere (`now` is only read then).
fn format_line(
    journald: bool,
    level: Level,
    target: &str,
    args: &std::fmt::Arguments,
    now: impl FnOnce() -> String,
) -> String {
    let name = match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    };
    if journald {
        format!("<{}>{name} {target}: {args}\n", priority(level))
    } else {
        format!("{} {name} {target}: {args}\n", now())
    }
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(
            self.journald,
            record.level(),
            record.target(),
            record.args(),
            || {
                chrono::Local::now()
                    .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                    .to_string()
            },
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the logger at `level` (`RUST_LOG`, when set to a level name, wins).
pub fn init(level: &str) {
    let chosen = std::env::var("RUST_LOG")
        .ok()
        .unwrap_or_else(|| level.to_string());
    let level = chosen.parse::<LevelFilter>().unwrap_or(LevelFilter::Info);
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    if log::set_boxed_logger(Box::new(StderrLogger { level, journald })).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journald_lines_carry_the_priority_and_no_time() {
        let line = format_line(
            true,
            Level::Warn,
            "trtc_sipgw::calls",
            &format_args!("call={} webhook given up", "ab12"),
            || unreachable!("no timestamp under journald"),
        );
        assert_eq!(
            line,
            "<4>WARN trtc_sipgw::calls: call=ab12 webhook given up\n"
        );
        for (level, n) in [
            (Level::Error, "<3>"),
            (Level::Info, "<6>"),
            (Level::Debug, "<7>"),
        ] {
            assert!(format_line(true, level, "t", &format_args!("x"), String::new).starts_with(n));
        }
    }

    #[test]
    fn other_lines_start_with_the_time() {
        let line = format_line(false, Level::Info, "t", &format_args!("hello"), || {
            "2026-12-02T10:00:00.000+00:00".into()
        });
        assert_eq!(line, "2026-12-02T10:00:00.000+00:00 INFO t: hello\n");
    }
}
