//! Builds the C++ shim over Tencent's LiteAV SDK (src/room/trtc/shim.cpp) into
//! `libsipgw_trtc_shim.so`, but only when the SDK's headers and library are present
//! (`LITEAV_DIR`, or the cache directory `scripts/fetch-liteav.sh` fills). Without the SDK
//! the gateway builds all the same; its `trtc` backend then says how to fetch it.
//!
//! Tells the crate (as compile-time environment variables):
//! - `SIPGW_TRTC_SHIM`: path of the built shim;
//! - `SIPGW_LITEAV_DIR`: the SDK directory the shim was built against (tests use it).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Must match `LITEAV_VERSION` in scripts/fetch-liteav.sh.
const LITEAV_VERSION: &str = "13.2.0.24212";
const SHIM_SOURCE: &str = "src/room/trtc/shim.cpp";
const SHIM_NAME: &str = "libsipgw_trtc_shim.so";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={SHIM_SOURCE}");
    println!("cargo:rerun-if-env-changed=LITEAV_DIR");
    println!("cargo:rerun-if-env-changed=XDG_CACHE_HOME");
    println!("cargo:rerun-if-env-changed=SIPGW_NO_TRTC_SHIM");

    if env::var_os("SIPGW_NO_TRTC_SHIM").is_some() {
        return;
    }
    let explicit = env::var_os("LITEAV_DIR").map(PathBuf::from);
    let Some(dir) = explicit.clone().or_else(default_sdk_dir) else {
        return;
    };
    watch(&dir);
    if !sdk_complete(&dir) {
        if explicit.is_some() {
            println!(
                "cargo:warning=LITEAV_DIR={} holds no LiteAV SDK (run scripts/fetch-liteav.sh); building without the trtc shim",
                dir.display()
            );
        }
        return;
    }
    // The cache holds the host's libraries; a cross build needs an explicit LITEAV_DIR.
    if explicit.is_none() && env::var("TARGET").ok() != env::var("HOST").ok() {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let shim = out.join(SHIM_NAME);
    match build_shim(&dir, &shim) {
        Ok(()) => {
            // Also next to the gateway's binary (target/<profile>/), where it is looked for
            // first, so the two are packaged together; best effort.
            if let Some(profile_dir) = out.ancestors().nth(3) {
                let _ = std::fs::copy(&shim, profile_dir.join(SHIM_NAME));
            }
            println!("cargo:rustc-env=SIPGW_TRTC_SHIM={}", shim.display());
            println!("cargo:rustc-env=SIPGW_LITEAV_DIR={}", dir.display());
        }
        Err(e) => println!(
            "cargo:warning=trtc shim not built ({e}); the trtc backend will be unavailable"
        ),
    }
}

fn default_sdk_dir() -> Option<PathBuf> {
    let cache = env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(
        cache
            .join("trtc-sipgw")
            .join(format!("liteav-{LITEAV_VERSION}")),
    )
}

fn sdk_complete(dir: &Path) -> bool {
    dir.join("libliteav.so").is_file()
        && dir.join("include/trtc/liteav_trtc_cloud.h").is_file()
        && dir.join("include/liteav_premier.h").is_file()
}

/// Reruns this script when the SDK appears or changes, without watching a path that does
/// not exist (which would rerun it on every build).
fn watch(dir: &Path) {
    let marker = dir.join(format!(".fetched-{LITEAV_VERSION}"));
    if marker.is_file() {
        println!("cargo:rerun-if-changed={}", marker.display());
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("libliteav.so").display()
        );
        return;
    }
    let mut p = dir.to_path_buf();
    loop {
        if p.is_dir() {
            println!("cargo:rerun-if-changed={}", p.display());
            return;
        }
        if !p.pop() {
            return;
        }
    }
}

fn build_shim(dir: &Path, shim: &Path) -> Result<(), String> {
    let compiler = cc::Build::new()
        .cpp(true)
        .cargo_metadata(false)
        .try_get_compiler()
        .map_err(|e| format!("no C++ compiler: {e}"))?;
    let mut cmd: Command = compiler.to_command();
    cmd.args([
        "-shared",
        "-fPIC",
        "-std=c++11",
        "-fvisibility=hidden",
        "-Wall",
        "-Wextra",
    ])
    .arg("-isystem")
    .arg(dir.join("include"))
    .arg(SHIM_SOURCE)
    .arg(format!("-L{}", dir.display()))
    .arg(format!("-Wl,-rpath-link,{}", dir.display()))
    .arg(format!("-Wl,-soname,{SHIM_NAME}"))
    .arg("-lliteav")
    // Name libc even though the shim reaches it only through libstdc++: a shared library
    // not linked against libc is an error for Debian's lintian (the package).
    .args([
        "-Wl,--push-state,--no-as-needed",
        "-l:libc.so.6",
        "-Wl,--pop-state",
    ])
    .arg("-o")
    .arg(shim);
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run the C++ compiler: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        for line in stderr.lines().take(20) {
            println!("cargo:warning={line}");
        }
        return Err(format!("the C++ compiler failed ({})", output.status));
    }
    Ok(())
}
