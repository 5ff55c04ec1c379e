// C ABI over Tencent's LiteAV server SDK (TRTC), for the gateway's Rust side.
//
// Why a shim: the SDK's API is C++ (a delegate class with virtual callbacks, classes with
// out-of-line members exported by libliteav.so). Rust cannot subclass a C++ class, so this
// file forwards every callback the gateway needs to a plain C function pointer and wraps
// the few calls it makes. It is compiled into libsipgw_trtc_shim.so, linked against
// libliteav.so, and loaded with dlopen only when the `trtc` backend is chosen, so the
// gateway itself never needs the SDK to build or run.
//
// Exceptions: no C++ exception may leave this file. One unwinding into the Rust frames that
// called us is undefined behaviour (in practice the process aborts mid-call), so every
// entry point runs its body under `guarded`, which turns any exception into the error the
// Rust side already handles on that path: ERR_FAILED, a NULL handle, or -3 for the global
// setup. The SDK's callbacks into us only copy into Rust and cannot throw.
//
// Threading: callbacks arrive on SDK threads. The shim does no work of its own there: it
// converts arguments and calls the Rust function, which only copies into lock-free queues.

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <new>

#include "liteav_premier.h"
#include "trtc/liteav_trtc_cloud.h"

using liteav::live::TXLiveSDK;
using namespace liteav::trtc;

extern "C" {

// Bumped whenever a signature below changes; the Rust side refuses a shim of another version.
#define SIPGW_TRTC_SHIM_ABI 2

// Callbacks into Rust. Every pointer must be set; `user` is passed back unchanged.
struct sipgw_trtc_callbacks {
    void (*on_error)(void* user, int code);
    void (*on_enter_room)(void* user);
    void (*on_exit_room)(void* user);
    void (*on_connection_state)(void* user, int old_state, int new_state);
    void (*on_local_audio_channel_created)(void* user);
    void (*on_local_audio_channel_destroyed)(void* user);
    void (*on_remote_user_enter)(void* user, const char* user_id);
    void (*on_remote_user_exit)(void* user, const char* user_id, int reason);
    // Mixed PCM s16 of every other user: `samples` per channel, interleaved when channels > 1.
    void (*on_remote_mixed_audio)(void* user, const int16_t* pcm, size_t samples, int sample_rate, int channels);
    // A custom command message from another user (SendCustomCmdMsg on their side).
    void (*on_custom_cmd_msg)(void* user, const char* user_id, int32_t cmd_id, const uint8_t* data, size_t length);
};

}  // extern "C"

namespace {

class Delegate final : public TRTCCloudDelegate {
   public:
    Delegate(const sipgw_trtc_callbacks& cb, void* user) : cb_(cb), user_(user) {
    }

    void OnError(Error error) override {
        cb_.on_error(user_, static_cast<int>(error));
    }
    void OnConnectionStateChanged(ConnectionState old_state, ConnectionState new_state) override {
        cb_.on_connection_state(user_, static_cast<int>(old_state), static_cast<int>(new_state));
    }
    void OnEnterRoom() override {
        cb_.on_enter_room(user_);
    }
    void OnExitRoom() override {
        cb_.on_exit_room(user_);
    }
    void OnLocalAudioChannelCreated() override {
        cb_.on_local_audio_channel_created(user_);
    }
    void OnLocalAudioChannelDestroyed() override {
        cb_.on_local_audio_channel_destroyed(user_);
    }
    void OnLocalVideoChannelCreated(StreamType) override {
    }
    void OnLocalVideoChannelDestroyed(StreamType) override {
    }
    void OnRequestChangeVideoEncodeBitrate(StreamType, int) override {
    }
    void OnRequestKeyFrame(StreamType) override {
    }
    void OnRemoteUserEnterRoom(const UserInfo& info) override {
        const char* id = info.user_id.GetValue();
        cb_.on_remote_user_enter(user_, id ? id : "");
    }
    void OnRemoteUserExitRoom(const UserInfo& info, int reason) override {
        const char* id = info.user_id.GetValue();
        cb_.on_remote_user_exit(user_, id ? id : "", reason);
    }
    void OnRemoteAudioAvailable(const char*, bool) override {
    }
    void OnRemoteVideoAvailable(const char*, bool, StreamType) override {
    }
    void OnRemoteVideoReceived(const char*, StreamType, const VideoFrame&) override {
    }
    void OnRemoteVideoReceived(const char*, StreamType, const PixelFrame&) override {
    }
    void OnReceiveCustomCmdMsg(const char* user_id, int32_t cmd_id, uint32_t, const char message[],
                               size_t length) override {
        cb_.on_custom_cmd_msg(user_, user_id ? user_id : "", cmd_id, reinterpret_cast<const uint8_t*>(message),
                              message ? length : 0);
    }
    void OnRemoteAudioReceived(const char*, const AudioFrame&) override {
        // Per-user frames are not requested (mixing is on); nothing to do.
    }
    void OnRemoteMixedAudioReceived(const AudioFrame& frame) override {
        if (frame.codec != AUDIO_CODEC_TYPE_PCM || frame.bits_per_sample != 16) {
            return;
        }
        const uint8_t* data = frame.data();
        size_t bytes = frame.size();
        int channels = frame.channels > 0 ? frame.channels : 1;
        if (data == nullptr || bytes < 2) {
            return;
        }
        size_t samples = bytes / (2 * static_cast<size_t>(channels));
        cb_.on_remote_mixed_audio(user_, reinterpret_cast<const int16_t*>(data), samples, frame.sample_rate, channels);
    }

   private:
    sipgw_trtc_callbacks cb_;
    void* user_;
};

struct Handle {
    Delegate delegate;
    TRTCCloud* cloud;
    int send_rate;
};

// The SDK's console logging and log level.
void set_console_and_level(int console_log, int log_level) {
    if (console_log) {
        TXLiveSDK::EnableConsoleLog();
    } else {
        TXLiveSDK::DisableConsoleLog();
    }
    TXLiveSDK::SetLogLevel(log_level);
}

// Runs `body`; any exception it throws becomes `fallback`.
template <typename R, typename F>
R guarded(R fallback, F body) noexcept {
    try {
        return body();
    } catch (...) {
        return fallback;
    }
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) uint32_t sipgw_trtc_abi_version(void) {
    return SIPGW_TRTC_SHIM_ABI;
}

// Process-wide SDK settings; call before the first sipgw_trtc_create. `log_dir` NULL or
// empty turns log files off. `socks5_host` NULL or empty means no proxy. Returns 0, or a
// negative number naming the setting the SDK refused (-1 log path, -2 proxy, -3 the SDK threw).
__attribute__((visibility("default"))) int sipgw_trtc_global_setup(const char* log_dir, int log_level, int console_log,
                                                                  const char* socks5_host, uint16_t socks5_port,
                                                                  const char* socks5_user, const char* socks5_password) {
    return guarded(-3, [&]() -> int {
        int rc = 0;
        // Console and level first: SetLogPath initialises the SDK's logger with what is set then.
        set_console_and_level(console_log, log_level);
        if (log_dir != nullptr && log_dir[0] != '\0') {
            TXLiveSDK::DisableLogFile(false);
            if (!TXLiveSDK::SetLogPath(log_dir)) {
                rc = -1;
            }
        } else {
            TXLiveSDK::DisableLogFile(true);
        }
        // Again once the logger exists (the first call may predate it).
        set_console_and_level(console_log, log_level);
        if (socks5_host != nullptr && socks5_host[0] != '\0') {
            if (!TXLiveSDK::SetSocks5Proxy(socks5_host, socks5_port, socks5_user ? socks5_user : "",
                                           socks5_password ? socks5_password : "")) {
                rc = rc == 0 ? -2 : rc;
            }
        }
        return rc;
    });
}

// One TRTC user. NULL when the SDK could not create an instance.
__attribute__((visibility("default"))) void* sipgw_trtc_create(const sipgw_trtc_callbacks* cb, void* user) {
    return guarded(static_cast<void*>(nullptr), [&]() -> void* {
        if (cb == nullptr) {
            return nullptr;
        }
        Handle* h = new (std::nothrow) Handle{Delegate(*cb, user), nullptr, 0};
        if (h == nullptr) {
            return nullptr;
        }
        try {
            h->cloud = CreateTRTCCloud(&h->delegate);
        } catch (...) {
            delete h;
            throw;
        }
        if (h->cloud == nullptr) {
            delete h;
            return nullptr;
        }
        return h;
    });
}

// Enters a room as an anchor in the audio-call scene, with the room's other users mixed and
// delivered by callback as 20 ms mono frames at `output_rate`. `str_room_id` is used when
// `room_id` is 0. Returns the SDK's result (0 = request accepted; the outcome is a callback).
__attribute__((visibility("default"))) int sipgw_trtc_enter(void* handle, uint32_t sdk_app_id, const char* user_id,
                                                           const char* user_sig, uint32_t room_id,
                                                           const char* str_room_id, int output_rate) {
    return guarded(static_cast<int>(ERR_FAILED), [&]() -> int {
        Handle* h = static_cast<Handle*>(handle);
        if (h == nullptr || user_id == nullptr || user_sig == nullptr) {
            return ERR_INVALID_PARAMETER;
        }
        EnterRoomParams params;
        params.room.sdk_app_id = sdk_app_id;
        params.room.user_id = user_id;
        params.room.user_sig = user_sig;
        params.room.room_id = room_id;
        if (room_id == 0 && str_room_id != nullptr) {
            params.room.str_room_id = str_room_id;
        }
        params.scene = TRTC_SCENE_AUDIO_CALL;
        params.role = TRTC_ROLE_ANCHOR;
        params.audio_obtain_params.audio_obtain_method = AUDIO_OBTAIN_METHOD_CALLBACK;
        params.audio_obtain_params.enable_remote_audio_mix = true;
        params.audio_obtain_params.output_sample_rate = output_rate;
        params.audio_obtain_params.output_channels = 1;
        params.audio_obtain_params.output_frame_length_ms = 20;
        params.audio_obtain_params.output_audio_codec_type = AUDIO_CODEC_TYPE_PCM;
        params.use_pixel_frame_input = false;
        params.use_pixel_frame_output = false;
        return h->cloud->EnterRoom(params);
    });
}

// Opens the channel that carries our audio into the room, mono 20 ms Opus-encoded by the SDK
// at `encode_rate` (16000 or 48000; frames at other rates are resampled by the SDK).
__attribute__((visibility("default"))) int sipgw_trtc_create_audio_channel(void* handle, int encode_rate) {
    return guarded(static_cast<int>(ERR_FAILED), [&]() -> int {
        Handle* h = static_cast<Handle*>(handle);
        if (h == nullptr) {
            return ERR_INVALID_PARAMETER;
        }
        AudioEncodeParams params;
        params.channels = 1;
        params.sample_rate = encode_rate;
        params.frame_length_ms = 20;
        params.bitrate_bps = encode_rate >= 48000 ? 51200 : 32000;
        params.need_encode = true;
        h->send_rate = encode_rate;
        return h->cloud->CreateLocalAudioChannel(params);
    });
}

// Sends one frame of mono PCM s16 at `sample_rate`.
__attribute__((visibility("default"))) int sipgw_trtc_send_audio(void* handle, const int16_t* pcm, size_t samples,
                                                                int sample_rate) {
    return guarded(static_cast<int>(ERR_FAILED), [&]() -> int {
        Handle* h = static_cast<Handle*>(handle);
        if (h == nullptr || pcm == nullptr) {
            return ERR_INVALID_PARAMETER;
        }
        AudioFrame frame;
        frame.SetData(reinterpret_cast<const uint8_t*>(pcm), samples * 2);
        frame.sample_rate = sample_rate;
        frame.channels = 1;
        frame.bits_per_sample = 16;
        frame.codec = AUDIO_CODEC_TYPE_PCM;
        return h->cloud->SendAudioFrame(frame);
    });
}

// Broadcasts a custom command message to the room's other users. Returns 0 when the SDK
// took it, ERR_FAILED when it refused (size, rate or not in a room).
__attribute__((visibility("default"))) int sipgw_trtc_send_custom_cmd(void* handle, uint32_t cmd_id, const uint8_t* data,
                                                                     size_t length, int reliable, int ordered) {
    return guarded(static_cast<int>(ERR_FAILED), [&]() -> int {
        Handle* h = static_cast<Handle*>(handle);
        if (h == nullptr || data == nullptr) {
            return ERR_INVALID_PARAMETER;
        }
        bool ok = h->cloud->SendCustomCmdMsg(cmd_id, reinterpret_cast<const char*>(data), length, reliable != 0,
                                             ordered != 0);
        return ok ? 0 : ERR_FAILED;
    });
}

// Asks to leave the room; OnExitRoom follows.
__attribute__((visibility("default"))) int sipgw_trtc_exit(void* handle) {
    return guarded(static_cast<int>(ERR_FAILED), [&]() -> int {
        Handle* h = static_cast<Handle*>(handle);
        if (h == nullptr) {
            return ERR_INVALID_PARAMETER;
        }
        return h->cloud->ExitRoom();
    });
}

// Destroys the SDK instance and the handle. After it returns no callback refers to `user`.
__attribute__((visibility("default"))) void sipgw_trtc_destroy(void* handle) {
    Handle* h = static_cast<Handle*>(handle);
    if (h == nullptr) {
        return;
    }
    // A throwing destroy leaves the instance to the SDK: leaked, but the process goes on.
    bool destroyed = guarded(false, [&] {
        DestroyTRTCCloud(h->cloud);
        return true;
    });
    if (destroyed) {
        h->cloud = nullptr;
        delete h;
    }
}

}  // extern "C"
