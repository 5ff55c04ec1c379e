//! Shared by the trtc backend's integration tests: building the libliteav.so double,
//! reading WAV files, measuring a tone, counting threads and memory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use trtc_sipgw::room::trtc::{BUILD_SDK_DIR, BUILD_SHIM};

/// The SDK directory and shim build.rs used, or `None` (the test is skipped, unless
/// `SIPGW_REQUIRE_TRTC` is set, as in CI, when it fails).
pub fn sdk_or_skip(test: &str) -> Option<(PathBuf, PathBuf)> {
    match (BUILD_SDK_DIR, BUILD_SHIM) {
        (Some(dir), Some(shim)) => Some((PathBuf::from(dir), PathBuf::from(shim))),
        _ => {
            assert!(
                std::env::var_os("SIPGW_REQUIRE_TRTC").is_none(),
                "{test}: the LiteAV SDK was not present at build time (run scripts/fetch-liteav.sh)"
            );
            eprintln!(
                "{test}: skipped, no LiteAV SDK at build time (run `bash scripts/fetch-liteav.sh`)"
            );
            None
        }
    }
}

/// Compiles tests/liteav_double/liteav_double.cpp against the SDK's headers into a
/// directory holding only `libliteav.so` (the double); once per test process.
pub fn build_double(sdk_dir: &Path) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("liteav_double_{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        let src =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/liteav_double/liteav_double.cpp");
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        let status = Command::new(cxx)
            .args([
                "-std=c++17",
                "-shared",
                "-fPIC",
                "-pthread",
                "-O1",
                "-Wall",
                "-Wextra",
                "-Werror",
            ])
            .arg("-isystem")
            .arg(sdk_dir.join("include"))
            .arg("-Wl,-soname,libliteav.so")
            .arg(&src)
            .arg("-o")
            .arg(out.join("libliteav.so"))
            .status()
            .expect("run the C++ compiler");
        assert!(status.success(), "building the libliteav.so double failed");
        out
    })
    .clone()
}

/// A mono 16-bit WAV file's rate and samples.
pub fn read_wav(path: &Path) -> (u32, Vec<i16>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        bytes.len() >= 44 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "not a WAV file"
    );
    let channels = u16::from_le_bytes([bytes[22], bytes[23]]);
    let rate = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
    let bits = u16::from_le_bytes([bytes[34], bytes[35]]);
    assert_eq!((channels, bits), (1, 16));
    let samples = bytes[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    (rate, samples)
}

/// Share of the signal's energy at `hz` (1.0 for a pure tone at `hz`), by Goertzel.
pub fn tone_share(samples: &[i16], rate: u32, hz: f64) -> f64 {
    let n = samples.len() as f64;
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0f64;
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if energy == 0.0 {
        return 0.0;
    }
    2.0 * power / (n * energy)
}

/// Threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Names of this process's threads, sorted (for a readable leak report).
pub fn thread_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| {
                    std::fs::read_to_string(e.path().join("comm"))
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Resident set size of this process, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Waits (up to `limit`) for `cond`.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Set in a test re-executed under `unshare -n`, which runs inside the namespace.
pub const IN_NETNS: &str = "SIPGW_TEST_IN_ISOLATED_NETNS";

/// Whether this process is the copy re-executed inside the isolated namespace.
pub fn in_isolated_namespace() -> bool {
    std::env::var_os(IN_NETNS).is_some()
}

/// Re-runs the test `test_name` of this binary in a fresh network namespace (loopback
/// only, brought up so 127.0.0.1 works inside) and passes on its verdict. The real SDK
/// connects to Tencent's public addresses by itself: it must only ever run in there.
/// Skipped when `unshare -n` is not permitted, unless `SIPGW_REQUIRE_TRTC` is set.
pub fn run_in_isolated_namespace(test_name: &str) {
    let usable = Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        assert!(
            std::env::var_os("SIPGW_REQUIRE_TRTC").is_none(),
            "`unshare -n` is not permitted here, and the real SDK must not run outside an isolated namespace"
        );
        eprintln!("{test_name}: skipped, `unshare -n` is not permitted here");
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let status = Command::new("unshare")
        .args([
            "-n",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(IN_NETNS, "1")
        // The SDK keeps a cache under $HOME/.cache/<program>/liteav: keep it in target/.
        .env(
            "HOME",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("liteav-netns-home"),
        )
        .status()
        .expect("run the test under unshare -n");
    assert!(
        status.success(),
        "the test failed inside the isolated namespace ({status})"
    );
}

/// Refuses to go on unless loopback is the only network interface of this process's
/// namespace and no route leads anywhere else (/proc/self/net is per namespace;
/// /sys/class/net is not remounted by unshare and shows the parent's).
pub fn assert_isolated() {
    let dev = std::fs::read_to_string("/proc/self/net/dev").expect("/proc/self/net/dev");
    let interfaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(
        interfaces,
        ["lo"],
        "not an isolated namespace: interfaces {interfaces:?}"
    );
    for table in ["/proc/self/net/route", "/proc/self/net/ipv6_route"] {
        let routes = std::fs::read_to_string(table).unwrap_or_default();
        assert!(
            routes
                .lines()
                .filter(|l| !l.starts_with("Iface"))
                .all(|l| l.trim_end().ends_with("lo")),
            "not an isolated namespace: {table} has {routes}"
        );
    }
}
