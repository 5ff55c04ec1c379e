//! Process guards: every peer (and the gateway) runs in its own process group, with
//! stdout+stderr captured to a log file, and is killed by id when the guard drops —
//! also when the test panics, when the log tail is printed for diagnosis.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running child process that is terminated on drop.
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

fn signal_group(pid: u32, sig: &str) {
    // Negative pid = the process group we created for this child (process_group(0)).
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg("--")
        .arg(format!("-{pid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Proc {
    /// Spawns `cmd` in a new process group, stdin closed, output to `<log_dir>/<name>.log`.
    pub fn spawn(name: &str, cmd: &mut Command, log_dir: &Path) -> Proc {
        Self::spawn_with_stdin(name, cmd, log_dir, Stdio::null())
    }

    /// As [`Proc::spawn`], with the given stdin (a FIFO for peers driven by commands,
    /// such as linphonec).
    pub fn spawn_with_stdin(name: &str, cmd: &mut Command, log_dir: &Path, stdin: Stdio) -> Proc {
        let log = log_dir.join(format!("{name}.log"));
        let f = File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let f2 = f.try_clone().expect("dup log fd");
        cmd.stdin(stdin)
            .stdout(Stdio::from(f))
            .stderr(Stdio::from(f2))
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start {name} ({cmd:?}): {e} — is it installed? run scripts/test.sh")
        });
        Proc {
            name: name.to_string(),
            child,
            log,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the process wrote so far (lossy UTF-8).
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// The last `n` lines of the log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Exit status if the process has ended (non-blocking).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.status = Some(st);
            }
        }
        self.status
    }

    /// Waits up to `timeout` for the process to end by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.exited() {
                return Some(st);
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to end and asserts it succeeded (sipp's "every call passed").
    pub fn assert_success(&mut self, timeout: Duration) {
        match self.wait_exit(timeout) {
            Some(st) if st.success() => {}
            Some(st) => panic!(
                "{} exited with {st}; log {}:\n{}",
                self.name,
                self.log.display(),
                self.log_tail(60)
            ),
            None => panic!(
                "{} still running after {:.0} s; log {}:\n{}",
                self.name,
                timeout.as_secs_f64(),
                self.log.display(),
                self.log_tail(60)
            ),
        }
    }

    /// Waits until the log contains `needle`; panics (with the log tail) on timeout or
    /// when the process dies first.
    pub fn wait_log(&mut self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            if self.log_text().contains(needle) {
                return;
            }
            if let Some(st) = self.exited() {
                panic!(
                    "{} exited ({st}) before printing {needle:?}; log:\n{}",
                    self.name,
                    self.log_tail(60)
                );
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out after {:.0} s waiting for {} to print {needle:?}; log:\n{}",
                    timeout.as_secs_f64(),
                    self.name,
                    self.log_tail(60)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `sig` (e.g. "TERM", "INT") to the process group.
    pub fn signal(&self, sig: &str) {
        signal_group(self.child.id(), sig);
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL. Returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(st) = self.exited() {
            // The leader is gone; still reap any stragglers of its group.
            signal_group(self.child.id(), "KILL");
            return Some(st);
        }
        self.signal("TERM");
        if let Some(st) = self.wait_exit(grace) {
            signal_group(self.child.id(), "KILL");
            return Some(st);
        }
        self.signal("KILL");
        let st = self.child.wait().ok();
        self.status = st;
        st
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
        if std::thread::panicking() {
            eprintln!(
                "---- {} (pid {}) log {} (last 40 lines):\n{}\n----",
                self.name,
                self.child.id(),
                self.log.display(),
                self.log_tail(40)
            );
        }
    }
}
