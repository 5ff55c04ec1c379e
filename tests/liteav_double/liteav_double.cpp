// Test double of Tencent's libliteav.so, built against the SDK's real headers so that the
// class layouts and exported symbols are the ones the gateway's shim was compiled for.
//
// It behaves the way the SDK documents (liteav_trtc_cloud.h): callbacks come from its own
// thread; EnterRoom answers later with OnEnterRoom; once in the room a remote user speaks a
// tone, delivered mixed through OnRemoteMixedAudioReceived every 20 ms at the requested
// rate; CreateLocalAudioChannel is confirmed by OnLocalAudioChannelCreated; ExitRoom by
// OnExitRoom. What is sent with SendAudioFrame is recorded to a WAV file.
//
// Scripted through environment variables, read at EnterRoom. Each may be given per user as
// LITEAV_DOUBLE_<KEY>__<user_id>, which wins over LITEAV_DOUBLE_<KEY>:
//   ENTER_DELAY_MS     delay before the entry outcome (default 200)
//   ENTER_ERROR        OnError(code) instead of OnEnterRoom (e.g. -3320)
//   ENTER_RETURN       EnterRoom returns this code synchronously (e.g. -2)
//   KICK_AFTER_MS      after entry, OnError(KICK_CODE) (default code -205, as RemoveUser)
//   KICK_CODE
//   DISMISS_AFTER_MS   after entry, the remote user leaves and OnExitRoom arrives unasked
//   DISCONNECT_AFTER_MS after entry, the connection goes DISCONNECTED and stays so
//   FRAME_INTERVAL_US  time between mixed-audio callbacks (default 20000; less = a fast clock)
//   TONE_HZ            frequency of the remote user's tone (default 440)
//   RECORD_DIR         directory for <user_id>.wav with what was sent
//   REJECT_USER_SIG    OnError(-3320) (bad signature) when entered with this userSig
//   KEY_DIGITS         digits the remote user keys, each as OnReceiveCustomCmdMsg with body
//                      {"dtmf":"5"} on KEY_CMD_ID (default 1), one every 500 ms from
//                      KEY_AFTER_MS (default 3000) after entry
//   KEY_CMD_ID
//   KEY_AFTER_MS
//   ENTER_THROW        EnterRoom throws a C++ exception (the shim must not let it reach Rust)
//   REMOTE_ENTER_AFTER_MS the remote user enters (OnRemoteUserEnterRoom) and starts speaking
//                      this long after our entry, not at once (an app user picking up)
//   DESTROY_DELAY_MS   DestroyTRTCCloud takes this long before it writes the recording, as a
//                      slow SDK teardown would (a stop must wait for it)
// SendCustomCmdMsg succeeds once in the room (false otherwise, or over 1000 bytes); with
// RECORD_DIR every message is appended to <user_id>.cmd as "<cmd_id> <r><o> <body>\n"
// (r, o: 1 when reliable, ordered).
//
// Build: g++ -std=c++17 -shared -fPIC -pthread -I<sdk>/include -Wl,-soname,libliteav.so

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#define BUILD_TRTC_SDK 1
#include "liteav_premier.h"
#include "trtc/liteav_trtc_cloud.h"

using namespace liteav::trtc;
using liteav::live::TXLiveSDK;

namespace {
std::atomic<int> g_live_instances{0};
std::atomic<int> g_created{0};

std::string g_log_path;
std::atomic<bool> g_log_file_disabled{false};
std::atomic<bool> g_console_disabled{false};
std::atomic<int> g_log_level{-1};
std::string g_socks5;
std::mutex g_settings_mutex;
}  // namespace

// ---------------------------------------------------------------------------------------
// Out-of-line members of the SDK's value classes.

namespace liteav {
namespace trtc {

static char* dup_or_null(const char* s) {
    return s ? strdup(s) : nullptr;
}

TrtcString::TrtcString() : str_(nullptr) {
}
TrtcString::~TrtcString() {
    free(str_);
}
TrtcString::TrtcString(const char* str) : str_(dup_or_null(str)) {
}
TrtcString::TrtcString(const TrtcString& other) : str_(dup_or_null(other.GetValue())) {
}
TrtcString& TrtcString::operator=(const char* str) {
    SetValue(str);
    return *this;
}
TrtcString& TrtcString::operator=(const TrtcString& other) {
    if (this != &other) {
        SetValue(other.GetValue());
    }
    return *this;
}
void TrtcString::SetValue(const char* str) {
    char* copy = dup_or_null(str);
    free(str_);
    str_ = copy;
}
const char* TrtcString::GetValue() const {
    return str_ ? static_cast<const char*>(str_) : "";
}

typedef std::vector<uint8_t> Bytes;

TrtcBuffer::TrtcBuffer() : handle_(new Bytes()) {
}
TrtcBuffer::TrtcBuffer(const TrtcBuffer& other) : handle_(new Bytes(*static_cast<Bytes*>(other.handle_))) {
}
TrtcBuffer& TrtcBuffer::operator=(const TrtcBuffer& other) {
    *static_cast<Bytes*>(handle_) = *static_cast<Bytes*>(other.handle_);
    return *this;
}
TrtcBuffer::~TrtcBuffer() {
    delete static_cast<Bytes*>(handle_);
}
void TrtcBuffer::SetData(const uint8_t* data, size_t size) {
    static_cast<Bytes*>(handle_)->assign(data, data + size);
}
void TrtcBuffer::SetSize(size_t size) {
    static_cast<Bytes*>(handle_)->resize(size);
}
uint8_t* TrtcBuffer::data() {
    return static_cast<Bytes*>(handle_)->data();
}
const uint8_t* TrtcBuffer::cdata() const {
    return static_cast<Bytes*>(handle_)->data();
}
size_t TrtcBuffer::size() const {
    return static_cast<Bytes*>(handle_)->size();
}

AudioFrame::AudioFrame()
    : sample_rate(48000),
      channels(1),
      bits_per_sample(16),
      codec(AUDIO_CODEC_TYPE_PCM),
      pts(0),
      has_voice(false),
      handle_(new Bytes()) {
}
AudioFrame::AudioFrame(const AudioFrame& other)
    : sample_rate(other.sample_rate),
      channels(other.channels),
      bits_per_sample(other.bits_per_sample),
      codec(other.codec),
      pts(other.pts),
      has_voice(other.has_voice),
      handle_(new Bytes(*static_cast<Bytes*>(other.handle_))) {
}
AudioFrame& AudioFrame::operator=(const AudioFrame& other) {
    sample_rate = other.sample_rate;
    channels = other.channels;
    bits_per_sample = other.bits_per_sample;
    codec = other.codec;
    pts = other.pts;
    has_voice = other.has_voice;
    *static_cast<Bytes*>(handle_) = *static_cast<Bytes*>(other.handle_);
    return *this;
}
AudioFrame::~AudioFrame() {
    delete static_cast<Bytes*>(handle_);
}
void AudioFrame::SetData(const uint8_t* data, size_t size) {
    static_cast<Bytes*>(handle_)->assign(data, data + size);
}
const uint8_t* AudioFrame::data() const {
    return static_cast<Bytes*>(handle_)->data();
}
size_t AudioFrame::size() const {
    return static_cast<Bytes*>(handle_)->size();
}
void AudioFrame::SetExtraData(const uint8_t*, size_t) {
}

RoomParams::RoomParams() {
}
RoomParams::RoomParams(const RoomParams& other)
    : sdk_app_id(other.sdk_app_id),
      user_id(other.user_id),
      user_sig(other.user_sig),
      room_id(other.room_id),
      str_room_id(other.str_room_id),
      custom_data(other.custom_data),
      decryption_delegate(other.decryption_delegate),
      encryption_delegate(other.encryption_delegate) {
}
RoomParams::~RoomParams() {
}

EnterRoomParams::EnterRoomParams()
    : scene(TRTC_SCENE_VIDEO_CALL), role(TRTC_ROLE_ANCHOR), use_pixel_frame_input(false), use_pixel_frame_output(false) {
}
EnterRoomParams::~EnterRoomParams() {
}

}  // namespace trtc

namespace live {
bool TXLiveSDK::SetLogPath(const char* path) {
    std::lock_guard<std::mutex> lock(g_settings_mutex);
    g_log_path = path ? path : "";
    return path != nullptr;
}
void TXLiveSDK::SetLogLevel(int level) {
    g_log_level = level;
}
void TXLiveSDK::EnableConsoleLog() {
    g_console_disabled = false;
}
void TXLiveSDK::DisableConsoleLog() {
    g_console_disabled = true;
}
void TXLiveSDK::DisableLogCompress(bool) {
}
void TXLiveSDK::DisableLogFile(bool disabled) {
    g_log_file_disabled = disabled;
}
bool TXLiveSDK::SetSocks5Proxy(const char* ip, unsigned short port, const char*, const char*) {
    std::lock_guard<std::mutex> lock(g_settings_mutex);
    g_socks5 = std::string(ip ? ip : "") + ":" + std::to_string(port);
    return ip != nullptr && port != 0;
}
bool TXLiveSDK::SetEnvironment(const char*) {
    return true;
}
void TXLiveSDK::SetExternalHttpClientFactory(ILiteAVHttpClientFactory*) {
}
}  // namespace live
}  // namespace liteav

// ---------------------------------------------------------------------------------------
// The room.

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

long env_num(const std::string& user, const char* key, long fallback) {
    std::string name = std::string("LITEAV_DOUBLE_") + key;
    const char* v = getenv((name + "__" + user).c_str());
    if (v == nullptr) {
        v = getenv(name.c_str());
    }
    if (v == nullptr || *v == '\0') {
        return fallback;
    }
    return strtol(v, nullptr, 10);
}

std::string env_str(const std::string& user, const char* key) {
    std::string name = std::string("LITEAV_DOUBLE_") + key;
    const char* v = getenv((name + "__" + user).c_str());
    if (v == nullptr) {
        v = getenv(name.c_str());
    }
    return v ? v : "";
}

void put_le(std::vector<uint8_t>& out, uint32_t v, int bytes) {
    for (int i = 0; i < bytes; i++) {
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}

void write_wav(const std::string& path, int rate, const std::vector<int16_t>& samples) {
    std::vector<uint8_t> h;
    uint32_t data_bytes = static_cast<uint32_t>(samples.size() * 2);
    h.insert(h.end(), {'R', 'I', 'F', 'F'});
    put_le(h, 36 + data_bytes, 4);
    h.insert(h.end(), {'W', 'A', 'V', 'E', 'f', 'm', 't', ' '});
    put_le(h, 16, 4);
    put_le(h, 1, 2);
    put_le(h, 1, 2);
    put_le(h, static_cast<uint32_t>(rate), 4);
    put_le(h, static_cast<uint32_t>(rate * 2), 4);
    put_le(h, 2, 2);
    put_le(h, 16, 2);
    h.insert(h.end(), {'d', 'a', 't', 'a'});
    put_le(h, data_bytes, 4);
    FILE* f = fopen((path + ".part").c_str(), "wb");
    if (f == nullptr) {
        return;
    }
    fwrite(h.data(), 1, h.size(), f);
    fwrite(samples.data(), 2, samples.size(), f);
    fclose(f);
    rename((path + ".part").c_str(), path.c_str());
}

enum class State { Idle, Entering, InRoom, Gone };

class DoubleCloud final : public TRTCCloud {
   public:
    explicit DoubleCloud(TRTCCloudDelegate* d) : delegate_(d), worker_([this] { Run(); }) {
        g_live_instances++;
        g_created++;
    }

    ~DoubleCloud() override {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        worker_.join();
        std::this_thread::sleep_for(milliseconds(destroy_delay_ms_));
        WriteRecording();
        g_live_instances--;
    }

    int EnterRoom(const EnterRoomParams& params) override {
        std::lock_guard<std::mutex> lock(mu_);
        if (state_ != State::Idle) {
            return ERR_INVALID_OPERATION;
        }
        user_ = params.room.user_id.GetValue();
        destroy_delay_ms_ = env_num(user_, "DESTROY_DELAY_MS", 0);
        if (env_num(user_, "ENTER_THROW", 0) != 0) {
            throw std::runtime_error("liteav double: scripted exception in EnterRoom");
        }
        long ret = env_num(user_, "ENTER_RETURN", 0);
        if (ret != 0) {
            return static_cast<int>(ret);
        }
        if (params.room.sdk_app_id == 0 || user_.empty() ||
            (params.room.room_id == 0 && params.room.str_room_id.GetValue()[0] == '\0')) {
            return ERR_INVALID_PARAMETER;
        }
        const AudioObtainParams& a = params.audio_obtain_params;
        if (a.audio_obtain_method != AUDIO_OBTAIN_METHOD_CALLBACK || !a.enable_remote_audio_mix ||
            a.output_channels != 1 || a.output_frame_length_ms != 20 ||
            (a.output_sample_rate != 8000 && a.output_sample_rate != 16000 && a.output_sample_rate != 48000)) {
            return ERR_INVALID_PARAMETER;
        }
        out_rate_ = a.output_sample_rate;
        enter_error_ = static_cast<int>(env_num(user_, "ENTER_ERROR", 0));
        // As the real SDK refuses a bad signature: OnError(-3320) for this userSig.
        std::string reject_sig = env_str(user_, "REJECT_USER_SIG");
        if (!reject_sig.empty() && reject_sig == params.room.user_sig.GetValue()) {
            enter_error_ = -3320;
        }
        kick_after_ms_ = env_num(user_, "KICK_AFTER_MS", -1);
        kick_code_ = static_cast<int>(env_num(user_, "KICK_CODE", ERR_BANNED_BY_SERVER));
        dismiss_after_ms_ = env_num(user_, "DISMISS_AFTER_MS", -1);
        disconnect_after_ms_ = env_num(user_, "DISCONNECT_AFTER_MS", -1);
        frame_interval_ = std::chrono::microseconds(env_num(user_, "FRAME_INTERVAL_US", 20000));
        std::string hz = env_str(user_, "TONE_HZ");
        tone_hz_ = hz.empty() ? 440.0 : atof(hz.c_str());
        record_dir_ = env_str(user_, "RECORD_DIR");
        key_digits_ = env_str(user_, "KEY_DIGITS");
        key_cmd_id_ = static_cast<int>(env_num(user_, "KEY_CMD_ID", 1));
        key_after_ms_ = env_num(user_, "KEY_AFTER_MS", 3000);
        remote_enter_after_ms_ = env_num(user_, "REMOTE_ENTER_AFTER_MS", 0);
        deadline_ = Clock::now() + milliseconds(env_num(user_, "ENTER_DELAY_MS", 200));
        state_ = State::Entering;
        cv_.notify_all();
        return ERR_OK;
    }

    int ExitRoom() override {
        std::lock_guard<std::mutex> lock(mu_);
        exit_requested_ = true;
        cv_.notify_all();
        return ERR_OK;
    }

    int Subscribe(const char*, StreamType) override {
        return ERR_OK;
    }
    int Unsubscribe(const char*, StreamType) override {
        return ERR_OK;
    }
    int GetAudioFrame(AudioFrame*) override {
        return ERR_NOT_SUPPORTED;
    }

    int CreateLocalAudioChannel(const AudioEncodeParams& params) override {
        std::lock_guard<std::mutex> lock(mu_);
        if (state_ != State::InRoom) {
            return ERR_INVALID_OPERATION;
        }
        if (params.channels != 1 && params.channels != 2) {
            return ERR_INVALID_PARAMETER;
        }
        if (params.sample_rate != 16000 && params.sample_rate != 48000) {
            return ERR_INVALID_PARAMETER;
        }
        channel_requested_ = true;
        cv_.notify_all();
        return ERR_OK;
    }

    int SendAudioFrame(const AudioFrame& frame) override {
        std::lock_guard<std::mutex> lock(mu_);
        if (!channel_open_) {
            return ERR_INVALID_OPERATION;
        }
        if (frame.codec != AUDIO_CODEC_TYPE_PCM || frame.bits_per_sample != 16 || frame.channels != 1 ||
            frame.size() % 2 != 0) {
            return ERR_INVALID_PARAMETER;
        }
        if (record_rate_ == 0) {
            record_rate_ = frame.sample_rate;
        }
        if (frame.sample_rate != record_rate_) {
            return ERR_INVALID_PARAMETER;
        }
        const int16_t* pcm = reinterpret_cast<const int16_t*>(frame.data());
        recorded_.insert(recorded_.end(), pcm, pcm + frame.size() / 2);
        return ERR_OK;
    }

    int SendContinuousAudioFrame(const AudioFrame& frame, bool) override {
        return SendAudioFrame(frame);
    }
    int DestroyLocalAudioChannel() override {
        std::lock_guard<std::mutex> lock(mu_);
        channel_open_ = false;
        return ERR_OK;
    }
    int CreateLocalVideoChannel(StreamType) override {
        return ERR_NOT_SUPPORTED;
    }
    int SendVideoFrame(StreamType, const VideoFrame&) override {
        return ERR_NOT_SUPPORTED;
    }
    int SendVideoFrame(StreamType, const PixelFrame&) override {
        return ERR_NOT_SUPPORTED;
    }
    void SetVideoEncodeParam(StreamType, const VideoEncodeParams&) override {
    }
    int SendSeiMessage(int, const char[], size_t) override {
        return ERR_NOT_SUPPORTED;
    }
    bool SendCustomCmdMsg(uint32_t cmd_id, const char message[], size_t length, bool reliable,
                          bool ordered) override {
        std::lock_guard<std::mutex> lock(mu_);
        if (state_ != State::InRoom || message == nullptr || length > 1000) {
            return false;
        }
        if (!record_dir_.empty() && !user_.empty()) {
            FILE* f = fopen((record_dir_ + "/" + user_ + ".cmd").c_str(), "ab");
            if (f != nullptr) {
                fprintf(f, "%u %d%d ", cmd_id, reliable ? 1 : 0, ordered ? 1 : 0);
                fwrite(message, 1, length, f);
                fputc('\n', f);
                fclose(f);
            }
        }
        return true;
    }
    int DestroyLocalVideoChannel(StreamType) override {
        return ERR_NOT_SUPPORTED;
    }
    void EnableVoiceActivityDetection(const VADParams&) override {
    }
    void EnableAudioVolumeEvaluation(bool, const AudioVolumeEvaluateParams&) override {
    }
    void startAsrService(const AsrParams&) override {
    }
    void stopAsrService() override {
    }
    TrtcString CallExperimentalAPI(const char*) override {
        return TrtcString("{}");
    }

   private:
    // The SDK's own thread: all callbacks come from here, never under `mu_`.
    void Run() {
        double phase = 0;
        Clock::time_point next_frame = Clock::now();
        Clock::time_point entered_at;
        bool remote_present = false;
        bool connected = false;
        for (;;) {
            std::unique_lock<std::mutex> lock(mu_);
            Clock::time_point wake = Clock::now() + milliseconds(50);
            if (state_ == State::Entering) {
                wake = deadline_;
            } else if (state_ == State::InRoom && remote_present && connected) {
                wake = next_frame;
            }
            cv_.wait_until(lock, wake, [&] {
                return stop_ || exit_requested_ || channel_requested_ ||
                       (state_ == State::Entering && Clock::now() >= deadline_);
            });
            if (stop_) {
                return;
            }
            Clock::time_point now = Clock::now();
            if (exit_requested_) {
                exit_requested_ = false;
                bool was_in = state_ == State::InRoom || state_ == State::Entering;
                state_ = State::Gone;
                channel_open_ = false;
                lock.unlock();
                if (was_in) {
                    delegate_->OnExitRoom();
                }
                continue;
            }
            if (state_ == State::Entering && now >= deadline_) {
                if (enter_error_ != 0) {
                    state_ = State::Idle;
                    int code = enter_error_;
                    lock.unlock();
                    delegate_->OnError(static_cast<Error>(code));
                    continue;
                }
                state_ = State::InRoom;
                entered_at = now;
                next_frame = now + frame_interval_;
                lock.unlock();
                delegate_->OnConnectionStateChanged(CONNECTION_STATE_INIT, CONNECTION_STATE_CONNECTING);
                delegate_->OnConnectionStateChanged(CONNECTION_STATE_CONNECTING, CONNECTION_STATE_CONNECTED);
                connected = true;
                delegate_->OnEnterRoom();
                continue;
            }
            if (channel_requested_) {
                channel_requested_ = false;
                channel_open_ = true;
                lock.unlock();
                delegate_->OnLocalAudioChannelCreated();
                continue;
            }
            if (state_ != State::InRoom) {
                continue;
            }
            long in_room_ms = std::chrono::duration_cast<milliseconds>(now - entered_at).count();
            if (!remote_present && in_room_ms >= remote_enter_after_ms_) {
                remote_present = true;
                next_frame = now + frame_interval_;
                lock.unlock();
                UserInfo remote;
                remote.user_id = "double_remote";
                delegate_->OnRemoteUserEnterRoom(remote);
                delegate_->OnRemoteAudioAvailable("double_remote", true);
                continue;
            }
            if (kick_after_ms_ >= 0 && in_room_ms >= kick_after_ms_) {
                kick_after_ms_ = -1;
                state_ = State::Gone;
                channel_open_ = false;
                int code = kick_code_;
                lock.unlock();
                delegate_->OnError(static_cast<Error>(code));
                continue;
            }
            if (dismiss_after_ms_ >= 0 && in_room_ms >= dismiss_after_ms_) {
                dismiss_after_ms_ = -1;
                state_ = State::Gone;
                channel_open_ = false;
                lock.unlock();
                UserInfo remote;
                remote.user_id = "double_remote";
                delegate_->OnRemoteUserExitRoom(remote, 0);
                delegate_->OnExitRoom();
                continue;
            }
            if (disconnect_after_ms_ >= 0 && in_room_ms >= disconnect_after_ms_ && connected) {
                disconnect_after_ms_ = -1;
                connected = false;
                lock.unlock();
                delegate_->OnConnectionStateChanged(CONNECTION_STATE_CONNECTED, CONNECTION_STATE_DISCONNECTED);
                continue;
            }
            if (!key_digits_.empty() && in_room_ms >= key_after_ms_) {
                char digit = key_digits_[0];
                key_digits_.erase(0, 1);
                key_after_ms_ = in_room_ms + 500;
                int cmd_id = key_cmd_id_;
                lock.unlock();
                std::string body = std::string("{\"dtmf\":\"") + digit + "\"}";
                delegate_->OnReceiveCustomCmdMsg("double_remote", cmd_id, 0, body.data(), body.size());
                continue;
            }
            if (!connected || !remote_present || now < next_frame) {
                continue;
            }
            next_frame += frame_interval_;
            if (now > next_frame + milliseconds(200)) {
                next_frame = now + frame_interval_;  // fell far behind (stopped debugger): resync
            }
            int rate = out_rate_;
            double hz = tone_hz_;
            lock.unlock();
            size_t n = static_cast<size_t>(rate / 50);
            std::vector<int16_t> pcm(n);
            for (size_t i = 0; i < n; i++) {
                pcm[i] = static_cast<int16_t>(12000.0 * sin(phase));
                phase += 2.0 * M_PI * hz / rate;
                if (phase > 2.0 * M_PI) {
                    phase -= 2.0 * M_PI;
                }
            }
            AudioFrame frame;
            frame.SetData(reinterpret_cast<const uint8_t*>(pcm.data()), n * 2);
            frame.sample_rate = rate;
            frame.channels = 1;
            frame.bits_per_sample = 16;
            frame.codec = AUDIO_CODEC_TYPE_PCM;
            frame.has_voice = true;
            delegate_->OnRemoteMixedAudioReceived(frame);
        }
    }

    void WriteRecording() {
        std::lock_guard<std::mutex> lock(mu_);
        if (!record_dir_.empty() && !user_.empty()) {
            write_wav(record_dir_ + "/" + user_ + ".wav", record_rate_ ? record_rate_ : 16000, recorded_);
        }
    }

    TRTCCloudDelegate* delegate_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    State state_ = State::Idle;
    std::string user_;
    long remote_enter_after_ms_ = 0;
    int out_rate_ = 16000;
    int enter_error_ = 0;
    long kick_after_ms_ = -1;
    int kick_code_ = ERR_BANNED_BY_SERVER;
    long dismiss_after_ms_ = -1;
    long disconnect_after_ms_ = -1;
    double tone_hz_ = 440.0;
    std::chrono::microseconds frame_interval_{20000};
    std::string record_dir_;
    std::string key_digits_;
    int key_cmd_id_ = 1;
    long key_after_ms_ = 3000;
    long destroy_delay_ms_ = 0;
    Clock::time_point deadline_;
    bool exit_requested_ = false;
    bool channel_requested_ = false;
    bool channel_open_ = false;
    int record_rate_ = 0;
    std::vector<int16_t> recorded_;
    std::thread worker_;  // last: starts after every other member is initialised
};

}  // namespace

namespace liteav {
namespace trtc {
TRTCCloud* TRTCCloud::Create(TRTCCloudDelegate* delegate) {
    return delegate ? new DoubleCloud(delegate) : nullptr;
}
void TRTCCloud::Destroy(TRTCCloud* cloud) {
    delete static_cast<DoubleCloud*>(cloud);
}
extern "C" {
TRTC_API TRTCCloud* CreateTRTCCloud(TRTCCloudDelegate* delegate) {
    return TRTCCloud::Create(delegate);
}
TRTC_API void DestroyTRTCCloud(TRTCCloud* cloud) {
    TRTCCloud::Destroy(cloud);
}
}
}  // namespace trtc
}  // namespace liteav

// Introspection for tests (not part of the SDK).
extern "C" __attribute__((visibility("default"))) int liteav_double_live_instances(void) {
    return g_live_instances.load();
}
extern "C" __attribute__((visibility("default"))) int liteav_double_created_instances(void) {
    return g_created.load();
}
extern "C" __attribute__((visibility("default"))) int liteav_double_log_file_disabled(void) {
    return g_log_file_disabled.load() ? 1 : 0;
}
