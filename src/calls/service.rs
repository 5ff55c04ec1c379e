//! The gateway as the HTTP API sees it: starting, ending and describing calls.
//! Each `/trtc/startup` enters the room, binds media sockets, sends the INVITE and
//! hands the call to its own task; every failure on the way is written to the call log.

use super::call::CallTask;
use super::clock::MediaClock;
use super::core::{Action, CallConfig, CallCore};
use super::inbound::InboundLeg;
use super::registry::{Control, Registry};
use super::rtp_ports::RtpPorts;
use super::state::HangupCause;
use super::supervise::{supervised, Ending};
use super::webhook::{spawn_sender, Deliveries, WebhookPolicy};
use crate::callengine::client::{AppKey, CallEngine, Ringing};
use crate::config::inbound::rule_for;
use crate::config::Config;
use crate::essential::essential;
use crate::health::{Health, Unwell};
use crate::http::api::{Api, CallStateReply, StartupRequest};
use crate::http::call_error::CallError;
use crate::http::client::WebhookClient;
use crate::media::ringback::Ringback;
use crate::room::{RoomBackend, RoomParams};
use crate::sip::sdp::LocalMedia;
use crate::sip::uas::IncomingCall;
use crate::sip::{SipEvent, SipService};
use smol::channel::Receiver;
use smol::LocalExecutor;
use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Finished calls `GET /trtc/calls` lists after the live ones (the status page's history).
const RECENT_CALLS_LISTED: usize = 50;

/// How long a clean stop waits for each of its steps: the calls' DISCONNCTD lines, the
/// rooms' teardowns in the SDK, the last webhooks. Each is bounded so that a stuck peer,
/// SDK or receiver cannot hold the stop past systemd's `TimeoutStopSec=` (15 s in the
/// unit; the defaults add up to 10 s).
#[derive(Debug, Clone, Copy)]
pub struct StopBounds {
    /// For every call to hang up (BYE/CANCEL answered or timed out).
    pub calls: Duration,
    /// For every room to be left and its SDK instance destroyed.
    pub rooms: Duration,
    /// For every queued webhook to be delivered (or given up).
    pub webhooks: Duration,
}

impl Default for StopBounds {
    fn default() -> Self {
        StopBounds {
            calls: Duration::from_secs(3),
            rooms: Duration::from_secs(4),
            webhooks: Duration::from_secs(3),
        }
    }
}

/// The call side of the gateway, shared by the HTTP server and the signal handler.
pub struct Gateway {
    config: Config,
    executor: Rc<LocalExecutor<'static>>,
    registry: Rc<RefCell<Registry>>,
    sip: SipService,
    rooms: Rc<dyn RoomBackend>,
    ports: RtpPorts,
    media_ip: IpAddr,
    webhooks: WebhookClient,
    stopping: Cell<bool>,
    /// One 20 ms clock for the media of every call (see `clock.rs` for why).
    clock: MediaClock,
    /// The clock's driver, until `main` takes it to watch for its end.
    clock_task: RefCell<Option<smol::Task<Unwell>>>,
    /// Whether the gateway serves calls (shared with `main` and the systemd watchdog).
    health: Rc<Health>,
    /// Webhook delivery tasks still running (a clean stop waits for them).
    deliveries: Deliveries,
    /// When the gateway started (the status page's uptime).
    started: Instant,
    /// The API's bound address, once `main` knows it (the status page's listeners).
    http_addr: Cell<Option<std::net::SocketAddr>>,
    /// Sound-device lines in use (one call per line).
    lines: super::line_claim::BusyLines,
    /// The Call Engine that rings app users for inbound calls (`[callengine]`).
    engine: Option<Rc<CallEngine>>,
    /// Most calls at once (`[calls] max_calls`, worked out once for `"auto"`).
    max_calls: usize,
}

impl Gateway {
    /// Wires the call side together; `media_ip` is what SDP advertises.
    pub fn new(
        config: Config,
        executor: Rc<LocalExecutor<'static>>,
        registry: Rc<RefCell<Registry>>,
        sip: SipService,
        rooms: Rc<dyn RoomBackend>,
        media_ip: IpAddr,
        webhooks: WebhookClient,
    ) -> Self {
        let [low, high] = config.rtp.ports;
        let bind_ip = config.rtp.ip.unwrap_or(media_ip);
        let (clock, drive_clock) =
            MediaClock::new(Duration::from_millis(crate::media::FRAME_MS as u64));
        let clock_task = executor.spawn(essential("media_clock", "the media clock", drive_clock));
        let health = Rc::new(Health::new());
        let (max_calls, why) = super::admission::max_calls(&config);
        log::info!("calls: at most {why} at once");
        let watched = clock.clone();
        health.watch("media_clock", move |now| watched.late(now));
        let watched = sip.clone();
        health.watch("sip", move |now| watched.stalled(now));
        // Calls to numbers leave through these (`[[sip.trunks]]`, or `[sip.outbound]`),
        // unless the caller has set them already (`main` does, to resolve them early).
        if sip.trunk_health().is_empty() {
            sip.set_trunks(crate::sip::trunks::from_config(&config.sip.trunk_list()));
        }
        let watched = rooms.clone();
        health.watch("room", move |now| watched.unwell(now));
        Gateway {
            clock,
            clock_task: RefCell::new(Some(clock_task)),
            health,
            deliveries: Deliveries::default(),
            ports: RtpPorts::new(bind_ip, low, high),
            config,
            executor,
            registry,
            sip,
            rooms,
            media_ip,
            webhooks,
            stopping: Cell::new(false),
            started: Instant::now(),
            http_addr: Cell::new(None),
            lines: Default::default(),
            engine: None,
            max_calls,
        }
    }

    /// Where the API really listens (port 0 in the config means "any"): shown on the
    /// status page.
    pub fn set_http_addr(&self, addr: std::net::SocketAddr) {
        self.http_addr.set(Some(addr));
    }

    /// The gateway's health, which it keeps watching (media clock, SIP loop, room
    /// backend); `main` reports failures of the essential parts into it.
    pub fn health_state(&self) -> Rc<Health> {
        self.health.clone()
    }

    /// The media clock's driver task, once: it resolves only if the clock ended or
    /// panicked, which `main` turns into a non-zero exit.
    pub fn take_clock_task(&self) -> Option<smol::Task<Unwell>> {
        self.clock_task.borrow_mut().take()
    }

    /// The clean stop: refuses new calls, hangs up the running ones ("gateway
    /// stopping"), then waits for every DISCONNCTD line, every room teardown in the SDK
    /// (so the process never exits inside `DestroyTRTCCloud`) and the last webhooks,
    /// each step for at most its bound. Returns what was still pending when a bound ran
    /// out, in words for the log (empty when everything finished).
    pub async fn stop(&self, bounds: StopBounds) -> Vec<String> {
        self.stopping.set(true);
        let running = self.registry.borrow().running();
        for id in running {
            if let Some(control) = self.registry.borrow().control(&id) {
                let _ = control.try_send(Control::Hangup(HangupCause::GatewayStopping));
            }
        }
        let steps: [(&str, Duration, &dyn Fn() -> usize); 3] = [
            ("calls", bounds.calls, &|| self.registry.borrow().active()),
            ("room teardowns", bounds.rooms, &|| {
                self.rooms.teardowns_pending()
            }),
            ("webhook queues", bounds.webhooks, &|| {
                self.deliveries.pending()
            }),
        ];
        let mut left = Vec::new();
        for (what, bound, pending) in steps {
            let until = Instant::now() + bound;
            while pending() > 0 && Instant::now() < until {
                async_io::Timer::after(Duration::from_millis(20)).await;
            }
            if pending() > 0 {
                left.push(format!("{} {what}", pending()));
            }
        }
        left
    }

    /// The request's userSig, or one the gateway signs with the application's configured
    /// secret key (SPEC section 5) when the client left it out.
    fn user_sig_for(&self, req: &StartupRequest) -> Result<String, CallError> {
        if let Some(sig) = &req.trtc.user_sig {
            return Ok(sig.clone());
        }
        let app = self.config.trtc.apps.get(&req.trtc.sdk_app_id.to_string());
        let Some(app) = app else {
            return Err(CallError::MissingField("trtcParams.userSig"));
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(crate::usersig::gen_user_sig(
            &app.secret_key,
            &req.trtc.user_id,
            req.trtc.sdk_app_id,
            now,
            app.user_sig_expire_s,
        ))
    }

    /// The core of a call with a SIP phone leg, the codecs we offer (or accept) and the
    /// room's rate: that of the codec we prefer most (the bridge resamples when the
    /// phone picks another).
    fn sip_call_core(
        &self,
        id: &str,
        started_at: Instant,
        ttl: Duration,
    ) -> (CallCore, Vec<crate::media::Codec>, u32) {
        let codecs = self.config.offered_codecs();
        let room_rate = codecs.first().map_or(8000, |c| c.sample_rate());
        let core = CallCore::new(
            started_at,
            CallConfig {
                id: id.to_string(),
                started_at,
                ttl,
                no_rtp_timeout: Duration::from_secs(self.config.rtp.no_rtp_timeout_s as u64),
                jitter_frames: self.config.rtp.jitter_frames,
                g722_level: self.config.sip.g722_level,
                room_rate,
                seed: rand::random(),
            },
        );
        (core, codecs, room_rate)
    }

    /// What we receive on `sockets` with `codecs`, for our SDP.
    fn local_media(
        &self,
        sockets: &super::rtp_ports::RtpSockets,
        codecs: Vec<crate::media::Codec>,
    ) -> LocalMedia {
        LocalMedia {
            ip: self.media_ip,
            rtp_port: sockets.addr.port(),
            codecs,
            telephone_event: true,
            session_id: rand::random::<u32>() as u64,
            session_version: 1,
        }
    }

    /// Registers a new call (its control channel, its webhook queue, the URL a restart
    /// owes a webhook to): what every kind of call does first.
    fn begin_call(
        &self,
        id: &str,
        req: &StartupRequest,
    ) -> (
        smol::channel::Receiver<Control>,
        super::registry::SharedStats,
    ) {
        self.begin_call_to(id, &req.phonenumber, req.notify_url.as_deref())
    }

    /// As [`Gateway::begin_call`], from its parts (an inbound call has no request).
    fn begin_call_to(
        &self,
        id: &str,
        number: &str,
        notify_url: Option<&str>,
    ) -> (
        smol::channel::Receiver<Control>,
        super::registry::SharedStats,
    ) {
        let (control_tx, control_rx) = smol::channel::bounded(4);
        let webhook = notify_url.map(|url| self.webhook_sender(id.to_string(), url.to_string()));
        let stats = self
            .registry
            .borrow_mut()
            .begin(id, number, control_tx, webhook);
        if let Some(url) = notify_url {
            self.registry.borrow_mut().remember_notify_url(id, url);
        }
        (control_rx, stats)
    }

    /// Carries out what a call's core asks while the startup request is still setting it
    /// up: state lines, and leaving the room when set-up fails after entering it. (The
    /// call's task takes over once the INVITE is out.)
    fn apply_setup_actions(
        &self,
        id: &str,
        core: &mut CallCore,
        mut room: Option<&mut Box<dyn crate::room::Room>>,
    ) {
        while let Some(action) = core.poll_action() {
            self.apply_setup_action(id, action, room.as_deref_mut());
        }
    }

    /// One action asked of a call during set-up.
    fn apply_setup_action(
        &self,
        id: &str,
        action: Action,
        room: Option<&mut Box<dyn crate::room::Room>>,
    ) {
        match action {
            Action::Record(change) => self.registry.borrow_mut().record(id, &change),
            Action::LeaveRoom => {
                if let Some(room) = room {
                    room.leave();
                }
            }
            other => log::warn!("call={id} {other:?} asked during set-up, ignored"),
        }
    }

    /// Starts the delivery task of one call's webhooks (the `[webhook]` timeout and
    /// retries) and returns its queue.
    fn webhook_sender(&self, id: String, url: String) -> smol::channel::Sender<Vec<u8>> {
        let policy = WebhookPolicy {
            client: self.webhooks.clone(),
            timeout: Duration::from_millis(self.config.webhook.timeout_ms),
            retries: self.config.webhook.retries,
        };
        spawn_sender(&self.executor, &self.deliveries, id, url, policy)
    }

    /// Sends the DISCONNCTD webhooks of the calls a crash cut (read back from the call
    /// log at start), each through the same delivery as a live call's webhooks.
    pub fn send_owed_webhooks(&self) {
        let owed = self.registry.borrow_mut().take_owed_webhooks();
        for hook in owed {
            log::info!(
                "call={} sending the webhook owed since the restart",
                hook.id
            );
            let queue = self.webhook_sender(hook.id, hook.url);
            // A fresh queue has room; dropping it lets the task deliver and end.
            let _ = queue.try_send(hook.body);
        }
    }

    /// Enters a call's room within `[room] entry_timeout_s`; the error is the reason its
    /// DISCONNCTD line gives (and is counted in the metrics by code).
    async fn enter_room(&self, params: RoomParams) -> Result<Box<dyn crate::room::Room>, String> {
        let entry_timeout = Duration::from_secs(self.config.room.entry_timeout_s as u64);
        match or_timeout(self.rooms.enter(params), entry_timeout).await {
            Some(Ok(room)) => Ok(room),
            Some(Err(e)) => {
                if let Some(m) = crate::metrics::metrics() {
                    let code = e.code.to_string();
                    m.room_errors.with_label_values(&[&code]).inc();
                }
                Err(format!("room entry failed: {e}"))
            }
            None => {
                if let Some(m) = crate::metrics::metrics() {
                    m.room_errors.with_label_values(&["timeout"]).inc();
                }
                Err("room entry timed out".to_string())
            }
        }
    }

    /// The call ends before its INVITE: record why, leave the room if it was entered.
    fn fail_setup(
        &self,
        id: &str,
        core: &mut CallCore,
        room: Option<&mut Box<dyn crate::room::Room>>,
        reason: String,
    ) {
        core.setup_failed(Instant::now(), 0, reason);
        self.apply_setup_actions(id, core, room);
    }
}

#[cfg(feature = "alsa")]
impl Gateway {
    /// `/trtc/startup` to `alsa:<line>`: the room, then the line's devices; no SIP.
    /// Refused at once (409) when the line carries a call; a device that cannot be
    /// opened ends the call `503` with the device's error and answers 503.
    async fn startup_line(
        &self,
        req: StartupRequest,
        user_sig: String,
        name: &str,
        line: crate::alsa::LineConfig,
    ) -> Result<String, CallError> {
        use super::line_call::LineCallTask;
        use super::line_claim::LineClaim;
        use super::line_core::{LineCallConfig, LineCore};

        let id = new_call_id(self.config.calls.node);
        let claim = LineClaim::claim(&self.lines, name, &id).map_err(|holder| {
            CallError::Conflict(format!("line busy: alsa:{name} carries call {holder}"))
        })?;
        let (control_rx, stats) = self.begin_call(&id, &req);
        let started_at = Instant::now();
        log::info!("call={id} startup to line {name} ttl {} s", req.ttl_s);
        let mut core = LineCore::new(
            started_at,
            LineCallConfig {
                id: id.clone(),
                line: name.to_string(),
                started_at,
                ttl: Duration::from_secs(req.ttl_s as u64),
                rate: line.rate,
                period_ms: line.period_ms,
                // The room runs at the line's rate: nothing to resample.
                room_rate: line.rate,
            },
        );
        let params = room_params(&id, &req, user_sig, line.rate);
        let mut room = match self.enter_room(params).await {
            Ok(room) => room,
            Err(reason) => {
                core.setup_failed(Instant::now(), 0, reason.clone());
                self.apply_line_actions(&id, &mut core, None);
                return Err(CallError::RoomFailed(reason));
            }
        };
        core.room_entered(Instant::now());
        let mut device = match crate::alsa::device::LineDevice::open(&line) {
            Ok(device) => device,
            Err(why) => {
                let reason = format!("line {name}: {why}");
                log::warn!("call={id} {reason}");
                core.setup_failed(Instant::now(), 503, reason.clone());
                self.apply_line_actions(&id, &mut core, Some(&mut room));
                return Err(CallError::Unavailable(reason));
            }
        };
        // A cushion of silence, so the card does not underrun before the first tick.
        let cushion = core.playback_cushion();
        if let Err(gone) = device.write_playback(&cushion) {
            core.setup_failed(Instant::now(), 503, gone.0.clone());
            self.apply_line_actions(&id, &mut core, Some(&mut room));
            return Err(CallError::Unavailable(gone.0));
        }
        core.devices_open(Instant::now());
        let ending = Ending {
            id: id.clone(),
            registry: self.registry.clone(),
            sip: None,
        };
        let task = LineCallTask {
            id: id.clone(),
            line: name.to_string(),
            registry: self.registry.clone(),
            control: control_rx,
            room,
            device,
            claim,
            core,
            clock: self.clock.clone(),
            stats,
        };
        self.executor.spawn(supervised(task.run(), ending)).detach();
        Ok(id)
    }

    /// As [`Gateway::apply_setup_actions`], for a line call being set up.
    fn apply_line_actions(
        &self,
        id: &str,
        core: &mut super::line_core::LineCore,
        mut room: Option<&mut Box<dyn crate::room::Room>>,
    ) {
        while let Some(action) = core.poll_action() {
            self.apply_setup_action(id, action, room.as_deref_mut());
        }
    }
}

impl Gateway {
    /// Rings app users for inbound calls through `engine` (main builds it from
    /// `[callengine]`; without one, only a callee entering the room answers).
    pub fn set_call_engine(&mut self, engine: CallEngine) {
        self.engine = Some(Rc::new(engine));
    }

    /// Takes calls into the box from now on (when `[[inbound]]` has rules): each
    /// caller's INVITE is dispatched by its called number in a task of its own.
    pub fn take_calls(self: &Rc<Self>) {
        if self.config.inbound.is_empty() {
            return;
        }
        let incoming = self.sip.take_incoming(16);
        let gateway = self.clone();
        self.executor
            .spawn(async move {
                while let Ok((call, events)) = incoming.recv().await {
                    let task = gateway.clone().start_inbound(call, events);
                    gateway.executor.spawn(task).detach();
                }
            })
            .detach();
    }

    /// One call into the box: INCOMING, 180, the robot enters the rule's room, 183 with
    /// ringback, then the call's task rings until a callee answers or the rule's
    /// timeout. Every refusal on the way is the caller's final response and the call's
    /// DISCONNCTD line.
    async fn start_inbound(self: Rc<Self>, incoming: IncomingCall, sip_events: Receiver<SipEvent>) {
        let call = incoming.call;
        let refuse = |code: u16, why: &str| self.sip.hangup_with(call, Some((code, why.into())));
        let Some(rule) = rule_for(&self.config.inbound, &incoming.called).cloned() else {
            log::info!(
                "inbound: no [[inbound]] rule for {} (from {}): 404",
                incoming.called,
                incoming.source
            );
            return refuse(404, "Not Found");
        };
        if self.stopping.get() {
            return refuse(503, "Service Unavailable (the gateway is stopping)");
        }
        if self.registry.borrow().active() >= self.max_calls {
            return refuse(503, "Service Unavailable (at capacity)");
        }
        let Some(app) = self.config.trtc.apps.get(&rule.sdk_app_id.to_string()) else {
            return refuse(
                503,
                "Service Unavailable (no secret key for the rule's app)",
            );
        };
        let id = new_call_id(self.config.calls.node);
        let caller = if incoming.caller.is_empty() {
            incoming.called.clone()
        } else {
            incoming.caller.clone()
        };
        let (control_rx, stats) = self.begin_call_to(&id, &caller, rule.notify_url.as_deref());
        let started_at = Instant::now();
        log::info!(
            "call={id} inbound from {caller} to {} ({}), ringing {:?}",
            incoming.called,
            incoming.source,
            rule.callees
        );
        let (mut core, codecs, room_rate) = self.sip_call_core(
            &id,
            started_at,
            Duration::from_secs(u64::from(crate::http::api::DEFAULT_TTL_S)),
        );
        core.incoming(started_at, Some(incoming.source.ip()));
        self.apply_setup_actions(&id, &mut core, None);
        self.sip.ring(call);

        // The robot enters the room.
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let params = RoomParams {
            call_id: id.clone(),
            sdk_app_id: rule.sdk_app_id,
            user_id: rule.robot.clone(),
            user_sig: crate::usersig::gen_user_sig(
                &app.secret_key,
                &rule.robot,
                rule.sdk_app_id,
                unix,
                app.user_sig_expire_s,
            ),
            room: rule.room(&id),
            sample_rate: room_rate,
        };
        let fail =
            |core: &mut CallCore, room: Option<&mut Box<dyn crate::room::Room>>, why: String| {
                refuse(503, &format!("Service Unavailable ({why})"));
                core.setup_failed(Instant::now(), 503, why);
                self.apply_setup_actions(&id, core, room);
            };
        let mut room = match self.enter_room(params).await {
            Ok(room) => room,
            Err(reason) => return fail(&mut core, None, reason),
        };
        core.room_entered(Instant::now());
        let sockets = match self.ports.allocate() {
            Ok(s) => s,
            Err(e) => return fail(&mut core, Some(&mut room), format!("no media port: {e}")),
        };
        let local_media = self.local_media(&sockets, codecs);
        // Early media: the caller hears ringback (or the room) from now on.
        self.sip.early_media(call, local_media.clone());
        // The Call Engine rings the app users; its word comes to the call's task, and
        // `_call_over` closing (when this function returns) tells it the call ended.
        let (engine_news, _call_over) = match &self.engine {
            Some(engine) => {
                let (news_tx, news_rx) = smol::channel::unbounded();
                let (over_tx, over_rx) = smol::channel::bounded::<()>(1);
                let ringing = Ringing {
                    id: id.clone(),
                    app: AppKey {
                        sdk_app_id: rule.sdk_app_id,
                        secret_key: app.secret_key.clone(),
                    },
                    robot: rule.robot.clone(),
                    callees: rule.callees.clone(),
                    room: rule.room(&id),
                    timeout_s: rule.timeout_s,
                };
                let ring =
                    crate::callengine::client::ring(engine.clone(), ringing, news_tx, over_rx);
                self.executor.spawn(ring).detach();
                (Some(news_rx), Some(over_tx))
            }
            None => (None, None),
        };
        let answer_by = started_at + Duration::from_secs(u64::from(rule.timeout_s));
        let inbound = InboundLeg::new(
            local_media,
            Ringback::new(self.config.calls.ringback(), room_rate),
            answer_by,
            rule.timeout_s,
            engine_news,
        );
        let ending = Ending {
            id: id.clone(),
            registry: self.registry.clone(),
            sip: Some((self.sip.clone(), call)),
        };
        let task = CallTask {
            id,
            registry: self.registry.clone(),
            sip: self.sip.clone(),
            sip_call: call,
            sip_events,
            control: control_rx,
            room,
            sockets,
            core,
            stats,
            clock: self.clock.clone(),
            executor: self.executor.clone(),
            inbound: Some(inbound),
        };
        supervised(task.run(), ending).await;
    }
}

/// The room a startup request asks for, entered as its user at `sample_rate`.
fn room_params(id: &str, req: &StartupRequest, user_sig: String, sample_rate: u32) -> RoomParams {
    RoomParams {
        call_id: id.to_string(),
        sdk_app_id: req.trtc.sdk_app_id,
        user_id: req.trtc.user_id.clone(),
        user_sig,
        room: req.trtc.room.clone(),
        sample_rate,
    }
}

/// An unguessable call id: 64 random bits from the thread's CSPRNG, lowercase hex, led
/// by the node number's two digits when `[calls] node` is set, so that a front (HAProxy,
/// deploy/) can route every later request about the call by the id alone.
fn new_call_id(node: Option<u8>) -> String {
    match node {
        Some(n) => format!("{n:02}{:016x}", rand::random::<u64>()),
        None => format!("{:016x}", rand::random::<u64>()),
    }
}

impl Api for Gateway {
    async fn startup(&self, req: StartupRequest) -> Result<String, CallError> {
        if self.stopping.get() {
            return Err(CallError::Unavailable("the gateway is stopping".into()));
        }
        if self.registry.borrow().active() >= self.max_calls {
            return Err(CallError::Unavailable(format!(
                "at capacity: {} calls in progress",
                self.max_calls
            )));
        }
        if let Some(url) = &req.notify_url {
            self.webhooks
                .check_url(url)
                .map_err(|why| CallError::BadField("callStateNotifyUrl", why))?;
        }
        let line = self
            .config
            .alsa
            .line_for_number(&req.phonenumber, cfg!(feature = "alsa"))
            .map_err(|why| CallError::BadField("phonenumber", why))?;
        let user_sig = self.user_sig_for(&req)?;
        #[cfg(feature = "alsa")]
        if let Some((name, line)) = line {
            return self.startup_line(req, user_sig, name, line.clone()).await;
        }
        #[cfg(not(feature = "alsa"))]
        debug_assert!(
            line.is_none(),
            "line_for_number refuses lines without the feature"
        );

        let id = new_call_id(self.config.calls.node);
        let (control_rx, stats) = self.begin_call(&id, &req);
        let started_at = Instant::now();
        log::info!(
            "call={id} startup to {} ttl {} s",
            req.phonenumber,
            req.ttl_s
        );

        // 1. The room, at the rate of the codec we prefer most (the bridge resamples
        // when the phone picks another).
        let (mut core, codecs, room_rate) =
            self.sip_call_core(&id, started_at, Duration::from_secs(req.ttl_s as u64));
        let params = room_params(&id, &req, user_sig, room_rate);
        let mut room = match self.enter_room(params).await {
            Ok(room) => room,
            Err(reason) => {
                self.fail_setup(&id, &mut core, None, reason.clone());
                return Err(CallError::RoomFailed(reason));
            }
        };
        core.room_entered(Instant::now());

        // 2. Media sockets.
        let sockets = match self.ports.allocate() {
            Ok(s) => s,
            Err(e) => {
                self.fail_setup(
                    &id,
                    &mut core,
                    Some(&mut room),
                    format!("no media port: {e}"),
                );
                return Err(CallError::Unavailable(format!("no free RTP port: {e}")));
            }
        };
        let local_media = self.local_media(&sockets, codecs);

        // 3. The INVITE: to the device when the number is a user registered to the box
        // (its newest contact), else through the trunk.
        let mut registered = self.sip.registered_contacts(&req.phonenumber);
        let (uri, invited) = match registered.pop() {
            Some((contact, dest)) if !registered.is_empty() => {
                registered.push((contact.clone(), dest));
                log::info!(
                    "call={id} {} is registered at {} contacts: calling them all",
                    req.phonenumber,
                    registered.len()
                );
                (contact, self.sip.invite_forked(&registered, local_media))
            }
            Some((contact, dest)) => {
                log::info!(
                    "call={id} {} is registered: calling {contact} at {dest}",
                    req.phonenumber
                );
                (
                    contact.clone(),
                    self.sip.invite_at(&contact, dest, local_media),
                )
            }
            None => {
                let invited = self.sip.invite_number(&req.phonenumber, local_media).await;
                (req.phonenumber.clone(), invited)
            }
        };
        let (sip_call, sip_events) = match invited {
            Ok(v) => v,
            Err(e) => {
                let reason = format!("cannot call {uri}: {e}");
                self.fail_setup(&id, &mut core, Some(&mut room), reason.clone());
                return Err(CallError::SipFailed(reason));
            }
        };
        let signalling_ip = self.sip.signalling_peer(sip_call).map(|a| a.ip());
        // The CALLING line names the trunk when the box has a list of them.
        let route = match self.sip.trunk_of(sip_call) {
            Some(name) if !self.config.sip.trunks.is_empty() => format!("trunk {name}"),
            _ => String::new(),
        };
        core.invite_sent_via(Instant::now(), signalling_ip, &route);
        self.apply_setup_actions(&id, &mut core, Some(&mut room));

        let ending = Ending {
            id: id.clone(),
            registry: self.registry.clone(),
            sip: Some((self.sip.clone(), sip_call)),
        };
        let task = CallTask {
            id: id.clone(),
            registry: self.registry.clone(),
            sip: self.sip.clone(),
            sip_call,
            sip_events,
            control: control_rx,
            room,
            sockets,
            core,
            stats,
            clock: self.clock.clone(),
            executor: self.executor.clone(),
            inbound: None,
        };
        let call = task.run();
        #[cfg(feature = "fault-injection")]
        let call = super::fault::inject(&req.phonenumber, &self.sip, call);
        self.executor.spawn(supervised(call, ending)).detach();
        Ok(id)
    }

    fn shutdown(&self, id: &str) -> Result<(), CallError> {
        let control = self.registry.borrow().control(id);
        match control {
            Some(control) => {
                let _ = control.try_send(Control::Hangup(HangupCause::Shutdown));
                Ok(())
            }
            None => Err(CallError::NotFound(format!("no running call with id {id}"))),
        }
    }

    fn dtmf(&self, id: &str, digits: &str) -> Result<(), CallError> {
        if super::line_claim::is_line_call(&self.lines, id) {
            return Err(CallError::Conflict(format!(
                "call {id} is on a sound-device line: touch tones have no meaning there"
            )));
        }
        let control = self.registry.borrow().control(id);
        match control {
            Some(control) => control
                .try_send(Control::Dtmf(digits.to_string()))
                .map_err(|_| CallError::Unavailable("the call is busy; try again".into())),
            None => Err(CallError::NotFound(format!("no running call with id {id}"))),
        }
    }

    fn health(&self) -> Vec<Unwell> {
        self.health.check(Instant::now())
    }

    fn status(&self) -> serde_json::Value {
        let [low, high] = self.config.rtp.ports;
        let http = self.http_addr.get().unwrap_or(self.config.http.listen);
        let rtp_ip = self.config.rtp.ip.unwrap_or(self.media_ip);
        serde_json::json!({
            "box": {
                "version": env!("CARGO_PKG_VERSION"),
                "uptime_s": self.started.elapsed().as_secs(),
                "listeners": {
                    "HTTP API": format!("tcp {http}"),
                    "SIP": format!("udp {}", self.sip.local_addr()),
                    "RTP": format!("udp {rtp_ip} ports {low}-{high}"),
                },
                "trunks": self
                    .sip
                    .trunk_health()
                    .into_iter()
                    .map(|(name, up)| serde_json::json!({"name": name, "up": up}))
                    .collect::<Vec<_>>(),
                "max_calls": self.max_calls,
                "node": self.config.calls.node,
            },
            "calls": self.registry.borrow().summaries(RECENT_CALLS_LISTED),
        })
    }

    fn metrics(&self) -> Vec<u8> {
        let Some(m) = crate::metrics::metrics() else {
            return Vec::new();
        };
        self.registry.borrow().export_metrics(m);
        m.export_sip(&self.sip.stats());
        m.export_trunks(&self.sip.trunk_health());
        m.encode()
    }

    fn calls(&self) -> Vec<crate::http::CallSummary> {
        self.registry.borrow().summaries(RECENT_CALLS_LISTED)
    }

    fn callstats(&self, id: &str) -> Result<crate::media::MediaSnapshot, CallError> {
        match self.registry.borrow().stats(id) {
            Some(Some(stats)) => Ok(stats),
            Some(None) => Err(CallError::NotFound(format!(
                "call {id} has no media statistics (no media yet, or from before a restart)"
            ))),
            None => Err(CallError::NotFound(format!("no call with id {id}"))),
        }
    }

    fn callstate(&self, id: &str) -> Result<CallStateReply, CallError> {
        match self.registry.borrow().callstate(id) {
            Some((data, done)) => Ok(CallStateReply { data, done }),
            None => Err(CallError::NotFound(format!(
                "no call with id {id} (never seen here, or dropped from the call log: past retention_h or its log_max_mb cap)"
            ))),
        }
    }
}

/// Runs `fut` for at most `limit`; None when the time ran out.
async fn or_timeout<T>(fut: impl std::future::Future<Output = T>, limit: Duration) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        async_io::Timer::after(limit).await;
        None
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::new_call_id;

    #[test]
    fn call_ids_are_16_lowercase_hex_and_differ() {
        let a = new_call_id(None);
        let b = new_call_id(None);
        assert_eq!(a.len(), 16);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn a_node_leads_its_call_ids_with_two_digits() {
        for (node, lead) in [(1, "01"), (7, "07"), (42, "42"), (99, "99")] {
            let id = new_call_id(Some(node));
            assert_eq!(id.len(), 18, "{id}");
            assert!(id.starts_with(lead), "node {node}: {id}");
            assert!(id
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
        assert_ne!(new_call_id(Some(3)), new_call_id(Some(3)));
    }
}
