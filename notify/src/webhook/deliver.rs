//! One alert to one webhook: per-request timeout, retries with exponential
//! backoff on network errors, timeouts, HTTP 429/5xx and robot error codes;
//! a 4xx other than 429 is final at once (retrying cannot fix it).

use super::format::{self, Request};
use super::{NotifyConfig, WebhookConfig};
use chrono::Utc;
use clickhouse::Row;
use serde::Serialize;
use std::time::Duration;
use voc_alert::Alert;
use voc_sink::Backoff;

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryOutcome {
    pub delivered: bool,
    pub attempts: u32,
    pub http_status: u16,
    pub error: String,
}

/// One row of `alert_deliveries`.
#[derive(Debug, Clone, Row, Serialize)]
pub struct DeliveryRow {
    pub alert_id: String,
    pub revision: u8,
    pub webhook: String,
    pub outcome: String,
    pub attempts: u16,
    pub http_status: u16,
    pub error: String,
    pub at: u32,
}

impl DeliveryRow {
    pub fn of(a: &Alert, hook: &WebhookConfig, o: &DeliveryOutcome) -> Self {
        DeliveryRow {
            alert_id: a.alert_id.clone(),
            revision: a.revision,
            webhook: hook.name.clone(),
            outcome: if o.delivered { "delivered" } else { "failed" }.into(),
            attempts: o.attempts.min(u16::MAX as u32) as u16,
            http_status: o.http_status,
            error: o.error.clone(),
            at: Utc::now().timestamp().max(0) as u32,
        }
    }
}

/// The HTTP client `deliver` uses (rustls; no proxy or TLS settings needed for
/// the robots' public endpoints).
pub fn http_client(cfg: &NotifyConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .build()
}

async fn send(
    client: &reqwest::Client,
    r: &Request,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let mut req = client.post(&r.url).timeout(timeout).body(r.body.clone());
    for (k, v) in &r.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    Ok((status, body))
}

pub async fn deliver(
    client: &reqwest::Client,
    cfg: &NotifyConfig,
    hook: &WebhookConfig,
    alert: &Alert,
) -> DeliveryOutcome {
    let timeout = Duration::from_millis(cfg.timeout_ms);
    let mut backoff = Backoff::new(
        Duration::from_millis(cfg.retry_initial_ms),
        Duration::from_millis(cfg.retry_max_ms),
    );
    let mut out = DeliveryOutcome {
        delivered: false,
        attempts: 0,
        http_status: 0,
        error: String::new(),
    };
    while out.attempts < cfg.max_attempts.max(1) {
        out.attempts += 1;
        // Signed again per attempt: signatures carry a timestamp.
        let req = format::request(hook, alert, Utc::now());
        let retry = match send(client, &req, timeout).await {
            Ok((status, body)) => {
                out.http_status = status;
                match format::accepted(hook.kind, status, &body) {
                    Ok(()) => {
                        out.delivered = true;
                        out.error.clear();
                        return out;
                    }
                    Err(e) => {
                        out.error = e;
                        !(400..500).contains(&status) || status == 429
                    }
                }
            }
            Err(e) => {
                out.error = e;
                true
            }
        };
        tracing::warn!(webhook = %hook.name, alert = %alert.alert_id, attempt = out.attempts, error = %out.error, "webhook delivery failed");
        if !retry {
            break;
        }
        if out.attempts < cfg.max_attempts {
            tokio::time::sleep(backoff.delay()).await;
        }
    }
    out
}
