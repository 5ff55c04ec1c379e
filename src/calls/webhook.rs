//! Delivery of state webhooks: one ordered queue per call, drained by its own task, so
//! a slow or dead receiver delays nothing but its own later notifications.

use crate::http::client::{ClientError, WebhookClient};
use smol::channel::{Receiver, Sender};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Most notifications waiting for one call (state lines and touch tones); hitting
/// this means the receiver is hopeless and later ones are dropped (and logged).
const QUEUE_DEPTH: usize = 256;

/// How to deliver.
#[derive(Debug, Clone)]
pub struct WebhookPolicy {
    /// The HTTP(S) client, with its TLS trust built once at start-up.
    pub client: WebhookClient,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Extra attempts after a failure (connection error, timeout, 5xx).
    pub retries: u32,
}

/// How many calls' delivery tasks still run (each until its queue is closed and
/// drained), so a clean stop can wait for the last webhooks before the process exits.
#[derive(Debug, Clone, Default)]
pub struct Deliveries(Rc<Cell<usize>>);

impl Deliveries {
    /// Delivery tasks still running.
    pub fn pending(&self) -> usize {
        self.0.get()
    }
}

/// One running delivery task, counted in [`Deliveries`] until dropped (also when the
/// task is cancelled).
struct Running(Deliveries);

impl Drop for Running {
    fn drop(&mut self) {
        let count = &(self.0).0;
        count.set(count.get().saturating_sub(1));
    }
}

/// Starts the delivery task of one call's webhooks and returns its queue. Dropping
/// the sender lets the task finish what is queued and end.
pub fn spawn_sender(
    executor: &smol::LocalExecutor<'static>,
    deliveries: &Deliveries,
    call_id: String,
    url: String,
    policy: WebhookPolicy,
) -> Sender<Vec<u8>> {
    let (tx, rx) = smol::channel::bounded(QUEUE_DEPTH);
    deliveries.0.set(deliveries.0.get() + 1);
    let running = Running(deliveries.clone());
    executor
        .spawn(async move {
            let _running = running;
            deliver_all(call_id, url, policy, rx).await
        })
        .detach();
    tx
}

async fn deliver_all(call_id: String, url: String, policy: WebhookPolicy, rx: Receiver<Vec<u8>>) {
    while let Ok(body) = rx.recv().await {
        deliver_one(&call_id, &url, &policy, &body).await;
    }
}

/// Counts one webhook outcome (`delivered`, `retried`, `failed`) in the metrics.
fn count(result: &str) {
    if let Some(m) = crate::metrics::metrics() {
        m.webhooks.with_label_values(&[result]).inc();
    }
}

async fn deliver_one(call_id: &str, url: &str, policy: &WebhookPolicy, body: &[u8]) {
    let mut backoff = Duration::from_millis(250);
    for attempt in 0..=policy.retries {
        match policy.client.post_json(url, body, policy.timeout).await {
            Ok(status) if status < 500 => {
                if status >= 300 {
                    log::warn!("call={call_id} webhook answered {status}; not retried");
                    count("failed");
                } else {
                    count("delivered");
                }
                return;
            }
            Ok(status) => log::warn!(
                "call={call_id} webhook answered {status} (attempt {})",
                attempt + 1
            ),
            Err(
                e @ (ClientError::Tls(_)
                | ClientError::InvalidUrl(_)
                | ClientError::TlsSetup(_)
                | ClientError::Refused(_)),
            ) => {
                log::warn!("call={call_id} webhook cannot be delivered: {e}; not retried");
                count("failed");
                return;
            }
            Err(e) => log::warn!(
                "call={call_id} webhook delivery failed (attempt {}): {e}",
                attempt + 1
            ),
        }
        if attempt < policy.retries {
            count("retried");
            async_io::Timer::after(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(4));
        }
    }
    log::warn!(
        "call={call_id} webhook given up after {} attempts",
        policy.retries + 1
    );
    count("failed");
}
