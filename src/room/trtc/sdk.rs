//! Loading Tencent's LiteAV SDK and the gateway's C++ shim at run time.
//!
//! The SDK is proprietary and optional, so the gateway never links it: when the `trtc`
//! backend is chosen, `libtxffmpeg.so` and `libliteav.so` are opened with `RTLD_GLOBAL`
//! (the shim's references to the SDK's C++ symbols resolve against them), then the shim,
//! whose small C ABI is all the Rust side calls. Loaded libraries are never closed: SDK
//! threads may outlive any one room, and unloading code under them would crash.

use super::TrtcRoomConfig;
use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_LOCAL, RTLD_NOW};
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// ABI version the shim must report (`SIPGW_TRTC_SHIM_ABI` in shim.cpp).
const SHIM_ABI: u32 = 2;
/// File name of the shim built by build.rs.
pub const SHIM_FILE: &str = "libsipgw_trtc_shim.so";
/// Version of the SDK that scripts/fetch-liteav.sh fetches (and build.rs looks for).
pub const LITEAV_VERSION: &str = "13.2.0.24212";

/// Where build.rs found the SDK and put the shim, when it did.
pub const BUILD_SHIM: Option<&str> = option_env!("SIPGW_TRTC_SHIM");
/// The SDK directory the shim was compiled against, when there was one.
pub const BUILD_SDK_DIR: Option<&str> = option_env!("SIPGW_LITEAV_DIR");

/// The shim's callback table (`struct sipgw_trtc_callbacks`).
#[repr(C)]
pub struct Callbacks {
    pub on_error: extern "C" fn(*mut c_void, c_int),
    pub on_enter_room: extern "C" fn(*mut c_void),
    pub on_exit_room: extern "C" fn(*mut c_void),
    pub on_connection_state: extern "C" fn(*mut c_void, c_int, c_int),
    pub on_local_audio_channel_created: extern "C" fn(*mut c_void),
    pub on_local_audio_channel_destroyed: extern "C" fn(*mut c_void),
    pub on_remote_user_enter: extern "C" fn(*mut c_void, *const c_char),
    pub on_remote_user_exit: extern "C" fn(*mut c_void, *const c_char, c_int),
    pub on_remote_mixed_audio: extern "C" fn(*mut c_void, *const i16, usize, c_int, c_int),
    /// `OnReceiveCustomCmdMsg`: sender's user id, command id, body.
    pub on_custom_cmd_msg: extern "C" fn(*mut c_void, *const c_char, i32, *const u8, usize),
}

type GlobalSetupFn = unsafe extern "C" fn(
    *const c_char,
    c_int,
    c_int,
    *const c_char,
    u16,
    *const c_char,
    *const c_char,
) -> c_int;
type CreateFn = unsafe extern "C" fn(*const Callbacks, *mut c_void) -> *mut c_void;
type EnterFn = unsafe extern "C" fn(
    *mut c_void,
    u32,
    *const c_char,
    *const c_char,
    u32,
    *const c_char,
    c_int,
) -> c_int;
type ChannelFn = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type SendFn = unsafe extern "C" fn(*mut c_void, *const i16, usize, c_int) -> c_int;
type ExitFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type CustomCmdFn = unsafe extern "C" fn(*mut c_void, u32, *const u8, usize, c_int, c_int) -> c_int;
type DestroyFn = unsafe extern "C" fn(*mut c_void);
type AbiFn = unsafe extern "C" fn() -> u32;

/// The loaded SDK: the shim's entry points, valid for the rest of the process.
pub struct Sdk {
    /// Directory libliteav.so was loaded from (for logs and to detect a second, different one).
    pub dir: PathBuf,
    create: CreateFn,
    enter: EnterFn,
    create_audio_channel: ChannelFn,
    send_audio: SendFn,
    send_custom_cmd: CustomCmdFn,
    exit: ExitFn,
    destroy: DestroyFn,
}

/// Why the SDK could not be loaded; its `Display` is the one sentence the gateway prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

static SDK: OnceLock<Sdk> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// The directory to load the SDK from: the config's `sdk_dir`, else `$LITEAV_DIR`, else the
/// directory build.rs compiled against, else scripts/fetch-liteav.sh's default cache.
pub fn resolve_sdk_dir(config: &TrtcRoomConfig) -> Option<PathBuf> {
    if let Some(dir) = config
        .sdk_dir
        .as_ref()
        .filter(|d| !d.as_os_str().is_empty())
    {
        return Some(dir.clone());
    }
    if let Some(dir) = std::env::var_os("LITEAV_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = BUILD_SDK_DIR {
        return Some(PathBuf::from(dir));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(
        cache
            .join("trtc-sipgw")
            .join(format!("liteav-{LITEAV_VERSION}")),
    )
}

/// Candidate paths of the shim, in order: the config's `shim`, next to the executable, in
/// the SDK directory, where build.rs put it.
pub fn shim_candidates(config: &TrtcRoomConfig, sdk_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = config.shim.as_ref().filter(|p| !p.as_os_str().is_empty()) {
        out.push(p.clone());
        return out;
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(Path::parent)
    {
        out.push(dir.join(SHIM_FILE));
    }
    out.push(sdk_dir.join(SHIM_FILE));
    if let Some(p) = BUILD_SHIM {
        out.push(PathBuf::from(p));
    }
    out
}

const FETCH_HINT: &str = "run `bash scripts/fetch-liteav.sh` and rebuild the gateway";

impl Sdk {
    /// Loads the SDK once per process and applies the process-wide settings; later calls
    /// return the same SDK (a different `sdk_dir` later is refused).
    pub fn load(config: &TrtcRoomConfig) -> Result<&'static Sdk, LoadError> {
        let _guard = LOADING.lock().unwrap_or_else(|e| e.into_inner());
        let dir = resolve_sdk_dir(config);
        if let Some(sdk) = SDK.get() {
            if let Some(dir) = dir.filter(|d| *d != sdk.dir) {
                log::warn!(
                    "trtc: LiteAV SDK already loaded from {}; ignoring {}",
                    sdk.dir.display(),
                    dir.display()
                );
            }
            return Ok(sdk);
        }
        let Some(dir) = dir else {
            return Err(LoadError(format!(
                "The trtc room backend needs Tencent's LiteAV SDK and none was found (no [room.trtc] sdk_dir and no home directory): {FETCH_HINT}."
            )));
        };
        let sdk = Self::open(config, &dir)?;
        Ok(SDK.get_or_init(|| sdk))
    }

    fn open(config: &TrtcRoomConfig, dir: &Path) -> Result<Sdk, LoadError> {
        let liteav = dir.join("libliteav.so");
        if !liteav.is_file() {
            return Err(LoadError(format!(
                "The trtc room backend needs Tencent's LiteAV SDK, which is not in {}: {FETCH_HINT} (or set [room.trtc] sdk_dir).",
                dir.display()
            )));
        }
        let Some(shim_path) = shim_candidates(config, dir)
            .into_iter()
            .find(|p| p.is_file())
        else {
            return Err(LoadError(format!(
                "The trtc room backend needs its C++ shim ({SHIM_FILE}), which this build of the gateway lacks because the LiteAV SDK was not present when it was compiled: {FETCH_HINT}."
            )));
        };
        // libliteav.so names libtxffmpeg.so without a path and has no RUNPATH: load it first
        // so the dynamic loader finds it by its soname. The test double has none.
        let ffmpeg = dir.join("libtxffmpeg.so");
        if ffmpeg.is_file() {
            open_global(&ffmpeg)?;
        }
        open_global(&liteav)?;
        // SAFETY: loading the shim runs no initialisers of consequence (plain C++ file).
        let shim =
            unsafe { Library::open(Some(&shim_path), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
                LoadError(format!(
                    "Cannot load the trtc shim {}: {e}.",
                    shim_path.display()
                ))
            })?;
        // SAFETY: each symbol is declared in shim.cpp with exactly these signatures; the
        // ABI version check below catches a shim from another version of this file.
        let sdk = unsafe {
            let abi: AbiFn = sym(&shim, b"sipgw_trtc_abi_version\0")?;
            let got = abi();
            if got != SHIM_ABI {
                return Err(LoadError(format!(
                    "The trtc shim {} speaks ABI {got}, this gateway needs {SHIM_ABI}: rebuild the gateway.",
                    shim_path.display()
                )));
            }
            let setup: GlobalSetupFn = sym(&shim, b"sipgw_trtc_global_setup\0")?;
            global_setup(setup, config)?;
            Sdk {
                dir: dir.to_path_buf(),
                create: sym(&shim, b"sipgw_trtc_create\0")?,
                enter: sym(&shim, b"sipgw_trtc_enter\0")?,
                create_audio_channel: sym(&shim, b"sipgw_trtc_create_audio_channel\0")?,
                send_audio: sym(&shim, b"sipgw_trtc_send_audio\0")?,
                send_custom_cmd: sym(&shim, b"sipgw_trtc_send_custom_cmd\0")?,
                exit: sym(&shim, b"sipgw_trtc_exit\0")?,
                destroy: sym(&shim, b"sipgw_trtc_destroy\0")?,
            }
        };
        // Never unloaded: the function pointers above stay valid for the process.
        std::mem::forget(shim);
        log::info!(
            "trtc: LiteAV SDK loaded from {} (shim {})",
            dir.display(),
            shim_path.display()
        );
        Ok(sdk)
    }

    /// Creates one SDK instance whose callbacks go to `callbacks` with `user`.
    ///
    /// # Safety
    /// `user` must stay valid until [`Sdk::destroy`] has returned for the handle.
    pub unsafe fn create(&self, callbacks: &'static Callbacks, user: *mut c_void) -> *mut c_void {
        (self.create)(callbacks, user)
    }

    /// Asks to enter a room; see shim.cpp `sipgw_trtc_enter`.
    ///
    /// # Safety
    /// `handle` must come from [`Sdk::create`] and not be destroyed.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn enter(
        &self,
        handle: *mut c_void,
        sdk_app_id: u32,
        user_id: &CString,
        user_sig: &CString,
        room_id: u32,
        str_room_id: Option<&CString>,
        output_rate: u32,
    ) -> i32 {
        (self.enter)(
            handle,
            sdk_app_id,
            user_id.as_ptr(),
            user_sig.as_ptr(),
            room_id,
            str_room_id.map_or(std::ptr::null(), |s| s.as_ptr()),
            output_rate as c_int,
        )
    }

    /// Opens the channel for our audio.
    ///
    /// # Safety
    /// As for [`Sdk::enter`].
    pub unsafe fn create_audio_channel(&self, handle: *mut c_void, encode_rate: u32) -> i32 {
        (self.create_audio_channel)(handle, encode_rate as c_int)
    }

    /// Sends one mono PCM frame.
    ///
    /// # Safety
    /// As for [`Sdk::enter`].
    pub unsafe fn send_audio(&self, handle: *mut c_void, pcm: &[i16], rate: u32) -> i32 {
        (self.send_audio)(handle, pcm.as_ptr(), pcm.len(), rate as c_int)
    }

    /// Broadcasts a custom command message (reliable and ordered when asked); 0 when the
    /// SDK took it.
    ///
    /// # Safety
    /// As for [`Sdk::enter`].
    pub unsafe fn send_custom_cmd(
        &self,
        handle: *mut c_void,
        cmd_id: u32,
        body: &[u8],
        reliable: bool,
        ordered: bool,
    ) -> i32 {
        (self.send_custom_cmd)(
            handle,
            cmd_id,
            body.as_ptr(),
            body.len(),
            c_int::from(reliable),
            c_int::from(ordered),
        )
    }

    /// Asks to leave the room.
    ///
    /// # Safety
    /// As for [`Sdk::enter`].
    pub unsafe fn exit(&self, handle: *mut c_void) -> i32 {
        (self.exit)(handle)
    }

    /// Destroys the instance; no callback runs for it afterwards.
    ///
    /// # Safety
    /// `handle` must come from [`Sdk::create`]; it is invalid afterwards.
    pub unsafe fn destroy(&self, handle: *mut c_void) {
        (self.destroy)(handle)
    }
}

fn open_global(path: &Path) -> Result<(), LoadError> {
    // SAFETY: the SDK's libraries are plain shared objects meant for dlopen.
    let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) }
        .map_err(|e| LoadError(format!("Cannot load {}: {e}.", path.display())))?;
    std::mem::forget(lib);
    Ok(())
}

/// # Safety
/// `T` must be the symbol's true type.
unsafe fn sym<T: Copy>(lib: &Library, name: &[u8]) -> Result<T, LoadError> {
    lib.get::<T>(name).map(|s| *s).map_err(|e| {
        LoadError(format!(
            "The trtc shim lacks {}: {e}; rebuild the gateway.",
            String::from_utf8_lossy(name.strip_suffix(b"\0").unwrap_or(name))
        ))
    })
}

fn cstring(field: &str, value: &str) -> Result<CString, LoadError> {
    CString::new(value).map_err(|_| LoadError(format!("[room.trtc] {field} contains a NUL byte.")))
}

/// # Safety
/// `setup` must be the shim's `sipgw_trtc_global_setup`.
unsafe fn global_setup(setup: GlobalSetupFn, config: &TrtcRoomConfig) -> Result<(), LoadError> {
    let log_dir = match config
        .log_dir
        .as_ref()
        .filter(|d| !d.as_os_str().is_empty())
    {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                LoadError(format!(
                    "Cannot create the TRTC SDK log directory {}: {e}.",
                    dir.display()
                ))
            })?;
            Some(cstring("log_dir", &dir.to_string_lossy())?)
        }
        None => None,
    };
    let (host, port) = match config.socks5.as_deref().filter(|s| !s.is_empty()) {
        Some(addr) => {
            let (host, port) = crate::room_config::trtc::parse_socks5(addr).ok_or_else(|| {
                LoadError(format!(
                    "[room.trtc] socks5 must be host:port, not `{addr}`."
                ))
            })?;
            (Some(cstring("socks5", host)?), port)
        }
        None => (None, 0),
    };
    let user = cstring("socks5_user", config.socks5_user.as_deref().unwrap_or(""))?;
    let password = cstring(
        "socks5_password",
        config.socks5_password.as_deref().unwrap_or(""),
    )?;
    let rc = setup(
        log_dir.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        c_int::from(config.log_level.min(5)),
        c_int::from(config.console_log),
        host.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        port,
        user.as_ptr(),
        password.as_ptr(),
    );
    match rc {
        0 => Ok(()),
        -1 => Err(LoadError(
            "The TRTC SDK refused [room.trtc] log_dir.".into(),
        )),
        -3 => Err(LoadError(
            "The TRTC SDK failed (threw a C++ exception) while applying the [room.trtc] settings."
                .into(),
        )),
        _ => Err(LoadError(
            "The TRTC SDK refused the [room.trtc] socks5 proxy settings.".into(),
        )),
    }
}
