//! `trtc-sipgw`: wires the modules together and runs them on one `smol::LocalExecutor`.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::StreamExt;
use smol::LocalExecutor;
use trtc_sipgw::calls::registry::Registry;
use trtc_sipgw::calls::service::{Gateway, StopBounds};
use trtc_sipgw::config::Config;
use trtc_sipgw::essential::essential;
use trtc_sipgw::health::Unwell;
use trtc_sipgw::http::client::WebhookClient;
use trtc_sipgw::http::server::{serve_with_guard, HttpLimits};
use trtc_sipgw::http::webhook_target::WebhookTargets;
use trtc_sipgw::notify;
use trtc_sipgw::room::sim::SimBackend;
use trtc_sipgw::room::trtc::TrtcBackend;
use trtc_sipgw::room::RoomBackend;
use trtc_sipgw::sip::target::Target;
use trtc_sipgw::sip::{SipConfig, SipService};

const USAGE: &str = "usage: trtc-sipgw [--config FILE]
       trtc-sipgw --check-config FILE

Dials SIP phones into Tencent TRTC rooms; SIPx-compatible HTTP API.
Without --config it runs on built-in defaults (HTTP on 127.0.0.1:8080, SIP on 5060,
simulated room). --check-config validates FILE, prints what the gateway would do with it
(secrets masked) and exits 0, or 1 naming the key at fault.";

fn main() -> ExitCode {
    let mut config_path: Option<PathBuf> = None;
    let mut check_path: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" | "--config" => match args.next() {
                Some(path) => config_path = Some(PathBuf::from(path)),
                None => return fail("--config needs a file name"),
            },
            "--check-config" => match args.next() {
                Some(path) => check_path = Some(PathBuf::from(path)),
                None => return fail("--check-config needs a file name"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "-V" | "--version" => {
                println!("trtc-sipgw {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => return fail(&format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if let Some(path) = check_path {
        return check_config(&path);
    }
    let config = match &config_path {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => return fail(&format!("bad configuration: {e}")),
        },
        None => Config::default(),
    };
    trtc_sipgw::logger::init(&config.log.level);

    let executor = Rc::new(LocalExecutor::new());
    let result = smol::block_on(executor.run(run(config, executor.clone())));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// `--check-config FILE`: the report on stdout and exit 0, or the error and exit 1.
fn check_config(path: &std::path::Path) -> ExitCode {
    match trtc_sipgw::check_config::load_checked(path) {
        Ok(config) => {
            let report = trtc_sipgw::check_config::report(path, &config, advertised_ip(&config));
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("bad configuration: {e}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("trtc-sipgw: {message}");
    ExitCode::FAILURE
}

async fn run(config: Config, executor: Rc<LocalExecutor<'static>>) -> Result<(), String> {
    let retention = Duration::from_secs(config.calls.retention_h as u64 * 3600);
    let log_max_bytes = u64::from(config.calls.log_max_mb) << 20;
    let registry = match config.state_dir() {
        Some(dir) => match Registry::persistent(&dir, retention, log_max_bytes) {
            Ok(r) => r,
            Err(e) => {
                log::warn!(
                    "call log in {} unavailable ({e}); history kept in memory only",
                    dir.display()
                );
                Registry::in_memory(retention)
            }
        },
        None => Registry::in_memory(retention),
    };
    let registry = registry.with_history_max(config.calls.history_max);
    let registry = Rc::new(RefCell::new(registry));

    // The room backend first: a missing SDK stops the gateway before it listens.
    let rooms: Rc<dyn RoomBackend> = match config.room.backend.as_str() {
        "trtc" => Rc::new(TrtcBackend::new(&config.room.trtc).map_err(|e| e.to_string())?),
        _ => Rc::new(SimBackend::new(config.room.sim.clone())),
    };
    let http = smol::net::TcpListener::bind(config.http.listen)
        .await
        .map_err(|e| format!("cannot listen for HTTP on {}: {e}", config.http.listen))?;

    let advertise_ip = advertised_ip(&config);
    let outbound = &config.sip.outbound;
    let mut sip_config = SipConfig::new(SocketAddr::new(advertise_ip, config.sip.listen.port()));
    sip_config.from = outbound.from.clone();
    sip_config.username = outbound.username.clone();
    sip_config.password = outbound.password.clone();
    sip_config.realm = outbound.realm.clone();
    sip_config.follow_redirects = outbound.follow_redirects;
    sip_config.timers.t1 = Duration::from_millis(config.sip.t1_ms);
    // Validated at load; the error would name `sip.trusted`.
    sip_config.trusted = config.sip.trusted_nets().map_err(|e| e.to_string())?;
    sip_config.registrar = config.registrar.as_ref().map(|r| r.core_config());
    sip_config.registrar_secret = rand::random::<[u8; 32]>().to_vec();
    sip_config.inbound = !config.inbound.is_empty();
    let (sip, sip_loop) = SipService::bind(config.sip.listen, Some(advertise_ip), sip_config)
        .await
        .map_err(|e| {
            format!(
                "cannot listen for SIP on udp and tcp {}: {e}",
                config.sip.listen
            )
        })?;
    // SIP over TLS: the contexts always (a TLS trunk needs the client side), the
    // listener with `[sip] tls_listen`. A bad file stops the start, naming its key.
    let sip_tls = trtc_sipgw::sip::tls::SipTls::load(&config.sip.tls)?;
    let sip_tls_addr = sip
        .start_tls(sip_tls, config.sip.tls_listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen for SIP over TLS on {}: {e}",
                config.sip.tls_listen.map_or("-".into(), |a| a.to_string())
            )
        })?;
    if let (Some(_), Some(dir)) = (&config.registrar, config.state_dir()) {
        sip.keep_bindings_in(&dir);
    }
    // Host names of trunks: RFC 3263 through hickory on this executor (SRV, then A/AAAA).
    trtc_sipgw::sip::dns::set_local_executor(executor.clone());
    let dns_servers = config.sip.dns_server_addrs().map_err(|e| e.to_string())?;
    match trtc_sipgw::sip::dns::Dns::new(&dns_servers) {
        Ok(dns) => sip.set_dns(dns),
        Err(e) => log::warn!("SIP: no DNS SRV lookups ({e}); host names go to the system resolver"),
    }
    // The trunks: resolved in the background now and every minute, always trusted.
    sip.set_trunks(trtc_sipgw::sip::trunks::from_config(
        &config.sip.trunk_list(),
    ));
    {
        // In the background: a slow or dead DNS server must not delay the start.
        let sip = sip.clone();
        executor
            .spawn(async move {
                let mut first = true;
                loop {
                    for failed in sip.resolve_trunks().await {
                        if first {
                            log::warn!(
                                "SIP: cannot resolve trunk {failed}: its requests are handled \
                                 only during calls or from [sip] trusted"
                            );
                        } else {
                            log::debug!("SIP: cannot resolve trunk {failed}");
                        }
                    }
                    first = false;
                    async_io::Timer::after(Duration::from_secs(60)).await;
                }
            })
            .detach();
    }
    let sip_task = executor.spawn(essential("sip", "the SIP loop", sip_loop));

    let webhooks = WebhookClient::new(config.webhook.ca_file.as_deref())
        .map_err(|e| format!("bad configuration: key `webhook.ca_file`: {e}"))?
        .with_targets(
            WebhookTargets::parse(&config.webhook.allow)
                .map_err(|e| format!("bad configuration: key `webhook.allow`: {e}"))?,
        )
        .with_secret(config.webhook.secret.as_deref());
    let media_ip = config.rtp.ip.unwrap_or(advertise_ip);
    let limits = HttpLimits {
        max_body: config.http.max_body_bytes,
        max_connections: config.http.max_connections,
        max_connections_per_client: config.http.max_connections_per_client,
        ..HttpLimits::default()
    };
    let keys = config.http.signature_keys();
    // Validated at load; the error would name `policy.deny` / `policy.allow`.
    let guard = config.guard().map_err(|e| e.to_string())?;
    if keys.is_empty() && !config.http.listen.ip().is_loopback() {
        log::warn!(
            "http: no [http.api_keys]: API requests are not authenticated (listening on {})",
            config.http.listen
        );
    }
    // A missing sound card fails only the calls to its line, not the box: say so now.
    for (key, why) in trtc_sipgw::alsa::probe_lines(&config.alsa) {
        log::error!("{key}: {why}; calls to this line will fail until it is there");
    }
    let callengine = config.callengine.clone();
    let mut gateway = Gateway::new(
        config,
        executor.clone(),
        registry.clone(),
        sip.clone(),
        rooms,
        media_ip,
        webhooks,
    );
    if let Some(ce) = callengine {
        let http = WebhookClient::new(None)
            .map_err(|e| format!("cannot set up TLS for the Call Engine: {e}"))?;
        gateway.set_call_engine(trtc_sipgw::callengine::client::CallEngine::new(ce, http));
    }
    let gateway = Rc::new(gateway);

    gateway.send_owed_webhooks();
    gateway.take_calls();
    let health = gateway.health_state();
    let clock_task = gateway
        .take_clock_task()
        .ok_or("the media clock was already taken")?;
    let http_addr = http.local_addr().map_err(|e| e.to_string())?;
    gateway.set_http_addr(http_addr);
    eprintln!("trtc-sipgw: HTTP API on http://{http_addr}");
    eprintln!(
        "trtc-sipgw: SIP on udp {} and tcp (same port){}",
        sip.local_addr(),
        sip_tls_addr.map_or(String::new(), |a| format!(", tls {a}"))
    );

    let server = serve_with_guard(http, gateway.clone(), executor.clone(), limits, keys, guard);
    let http_task = executor.spawn(essential("http", "the HTTP server", server));
    health.set_ready();
    notify::ready(&notify::status_line(&health.healthy(), 0));
    let calls = registry.clone();
    executor
        .spawn(notify::supervise(health.clone(), move || {
            calls.borrow().active()
        }))
        .detach();
    executor
        .spawn(async move {
            // Call-log lines reach the disk within one tick; retention each minute.
            let mut ticks = 0u32;
            loop {
                async_io::Timer::after(Duration::from_millis(20)).await;
                registry.borrow_mut().flush();
                ticks = (ticks + 1) % 3000;
                if ticks == 0 {
                    registry.borrow_mut().prune(std::time::SystemTime::now());
                }
            }
        })
        .detach();

    let mut signals =
        async_signal::Signals::new([async_signal::Signal::Term, async_signal::Signal::Int])
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    // Whichever comes first: a stop signal, or an essential part ending or panicking.
    let signal = async {
        if let Some(Ok(signal)) = signals.next().await {
            log::info!("{signal:?} received: hanging up calls and stopping");
        }
        None
    };
    // By reference: dropping a task cancels it, and the parts must keep running through
    // the clean stop (the SIP loop sends the BYEs).
    let (mut sip_task, mut clock_task, mut http_task) = (sip_task, clock_task, http_task);
    let part_failed = async { Some::<Unwell>((&mut sip_task).await) };
    let part_failed =
        futures_lite::future::or(part_failed, async { Some((&mut clock_task).await) });
    let part_failed = futures_lite::future::or(part_failed, async { Some((&mut http_task).await) });
    if let Some(failed) = futures_lite::future::or(signal, part_failed).await {
        // Calls cannot be carried on without it: exit non-zero so systemd restarts the
        // box; the next start closes the calls that were live.
        health.fail(failed.part, failed.reason.clone());
        log::error!("{failed}: exiting so that the service is restarted");
        notify::stopping(&notify::status_line(&health.healthy(), 0));
        return Err(failed.to_string());
    }
    health.set_stopping();
    notify::stopping("stopping: hanging up calls");
    let left = gateway.stop(StopBounds::default()).await;
    if left.is_empty() {
        log::info!("stopped cleanly: every call ended, room left and webhook sent");
    } else {
        log::warn!("stopped with {} still pending", left.join(", "));
    }
    Ok(())
}

/// The address peers must send SIP and RTP to: the configured one, the listen address
/// when it is specific, otherwise the local address of the route towards the outbound
/// target (found by connecting a UDP socket, which sends nothing), else loopback.
fn advertised_ip(config: &Config) -> IpAddr {
    if let Some(ip) = config.sip.advertise_ip {
        return ip;
    }
    let listen = config.sip.listen.ip();
    if !listen.is_unspecified() {
        return listen;
    }
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // Any number reaches the same host; the first trunk stands for all.
    let first = config.sip.trunk_list().into_iter().next();
    let Some(target) = first.and_then(|t| Target::parse(&t.uri.replace("{number}", "0"))) else {
        return loopback;
    };
    let found = (target.host_text().as_str(), target.port).to_socket_addrs();
    let Some(addr) = found.ok().and_then(|mut a| a.next()) else {
        return loopback;
    };
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect(addr).and_then(|_| s.local_addr()))
        .map(|a| a.ip())
        .unwrap_or(loopback)
}
