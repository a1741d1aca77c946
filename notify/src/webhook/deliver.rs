//! One alert to one webhook. The client follows no redirect, waits at most
//! `notify.connect_timeout_ms` for a connection and `notify.timeout_ms` for
//! the whole exchange, and reads at most [`MAX_RESPONSE_BYTES`] of a
//! response. Network errors, timeouts, HTTP 429/5xx and robot error codes are
//! retried with exponential backoff; a redirect, an oversized response or a
//! 4xx other than 429 is final at once (retrying cannot fix it).
//!
//! Every error names the webhook by its redacted URL ([`WebhookUrl`]): the
//! token never reaches a log line or `alert_deliveries`.

use super::format::{self, Request};
use super::url::WebhookUrl;
use super::{NotifyConfig, WebhookConfig};
use chrono::Utc;
use clickhouse::Row;
use serde::Serialize;
use std::time::Duration;
use voc_alert::Alert;
use voc_sink::Backoff;

/// Most bytes of a response read: robots answer with a few dozen; a larger
/// answer is not a robot's and fails the attempt.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryOutcome {
    pub delivered: bool,
    pub attempts: u32,
    pub http_status: u16,
    /// The last attempt's error, URL redacted; empty when delivered.
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
            error: hook.url.scrub(&o.error),
            at: Utc::now().timestamp().max(0) as u32,
        }
    }
}

/// Why one attempt failed before the receiver's answer could be judged.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(
        "redirect refused: HTTP {status} to {location} (configure the URL that answers itself)"
    )]
    Redirect { status: u16, location: String },
    #[error("response larger than {limit} bytes (HTTP {status}): not read")]
    TooLarge { status: u16, limit: usize },
    #[error("no connection within {ms} ms (notify.connect_timeout_ms)")]
    ConnectTimeout { ms: u64 },
    #[error("no complete response within {ms} ms (notify.timeout_ms)")]
    Timeout { ms: u64 },
    #[error("{0}")]
    Transport(String),
}

impl SendError {
    /// Could the same request succeed later?
    pub fn retriable(&self) -> bool {
        !matches!(
            self,
            SendError::Redirect { .. } | SendError::TooLarge { .. }
        )
    }

    pub fn http_status(&self) -> u16 {
        match self {
            SendError::Redirect { status, .. } | SendError::TooLarge { status, .. } => *status,
            _ => 0,
        }
    }

    /// A reqwest error without its URL (which holds the token), with its causes.
    fn of(e: reqwest::Error, cfg: &NotifyConfig) -> SendError {
        if e.is_timeout() && e.is_connect() {
            return SendError::ConnectTimeout {
                ms: cfg.connect_timeout_ms,
            };
        }
        if e.is_timeout() {
            return SendError::Timeout { ms: cfg.timeout_ms };
        }
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        SendError::Transport(text)
    }
}

/// The HTTP client `deliver` uses: rustls, no redirects, the configured
/// connect and total timeouts (no proxy or TLS settings needed for the
/// robots' public endpoints).
pub fn http_client(cfg: &NotifyConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .build()
}

async fn send(
    client: &reqwest::Client,
    cfg: &NotifyConfig,
    r: &Request,
) -> Result<(u16, String), SendError> {
    let mut req = client.post(&r.url).body(r.body.clone());
    for (k, v) in &r.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let mut resp = req.send().await.map_err(|e| SendError::of(e, cfg))?;
    let status = resp.status().as_u16();
    if resp.status().is_redirection() {
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| resp.url().join(l).ok())
            .and_then(|u| WebhookUrl::parse(u.as_str()).ok())
            .map_or_else(|| "no valid Location".to_string(), |u| u.redacted());
        return Err(SendError::Redirect { status, location });
    }
    let too_large = SendError::TooLarge {
        status,
        limit: MAX_RESPONSE_BYTES,
    };
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| SendError::of(e, cfg))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The `Idempotency-Key` header of every attempt of one delivery:
/// `<alert_id>:<revision>:<webhook name>`, the same across attempts, retries
/// and restarts, so a receiver can drop a second copy.
pub fn idempotency_key(alert: &Alert, hook: &WebhookConfig) -> String {
    format!("{}:{}:{}", alert.alert_id, alert.revision, hook.name)
}

pub async fn deliver(
    client: &reqwest::Client,
    cfg: &NotifyConfig,
    hook: &WebhookConfig,
    alert: &Alert,
) -> DeliveryOutcome {
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
        let mut req = format::request(hook, alert, Utc::now());
        req.headers
            .push(("Idempotency-Key".into(), idempotency_key(alert, hook)));
        let (error, retry) = match send(client, cfg, &req).await {
            Ok((status, body)) => {
                out.http_status = status;
                match format::accepted(hook.kind, status, &body) {
                    Ok(()) => {
                        out.delivered = true;
                        out.error.clear();
                        return out;
                    }
                    Err(e) => (e, !(400..500).contains(&status) || status == 429),
                }
            }
            Err(e) => {
                out.http_status = e.http_status();
                (e.to_string(), e.retriable())
            }
        };
        out.error = hook.url.scrub(&format!("POST {}: {error}", hook.url));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::{WebhookKind, WebhookUrl};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const TOKEN: &str = "tok-3f9a2c7d5e1b";

    /// An HTTP server on 127.0.0.1 that reads each request and answers with
    /// `reply`, or never answers (`None`).
    async fn server(reply: Option<Vec<u8>>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Headers, then the body by its content-length.
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        req.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&req).to_lowercase();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len: usize = text
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if req.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    match reply {
                        Some(r) => {
                            let _ = s.write_all(&r).await;
                            let _ = s.shutdown().await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        port
    }

    fn setup(port: u16) -> (NotifyConfig, WebhookConfig) {
        let cfg = NotifyConfig {
            connect_timeout_ms: 500,
            timeout_ms: 400,
            max_attempts: 2,
            retry_initial_ms: 10,
            retry_max_ms: 10,
            ..NotifyConfig::default()
        };
        let hook = WebhookConfig {
            name: "t".into(),
            kind: WebhookKind::Wecom,
            url: WebhookUrl::parse(&format!(
                "http://127.0.0.1:{port}/cgi-bin/webhook/send?key={TOKEN}"
            ))
            .unwrap(),
            allow_http: false,
            secret: Default::default(),
            min_severity: voc_alert::Severity::Medium,
            kinds: vec![],
            departments: vec![],
        };
        (cfg, hook)
    }

    fn spike_alert() -> Alert {
        Alert::new(
            voc_alert::AlertKind::Spike,
            voc_alert::Severity::High,
            "k".into(),
            Utc::now(),
            chrono::Duration::hours(1),
            chrono::Duration::hours(1),
        )
    }

    async fn outcome(reply: Option<Vec<u8>>) -> DeliveryOutcome {
        let port = server(reply).await;
        let (cfg, hook) = setup(port);
        let a = spike_alert();
        let o = deliver(&http_client(&cfg).unwrap(), &cfg, &hook, &a).await;
        assert!(!o.error.contains(TOKEN), "{}", o.error);
        let row = DeliveryRow::of(&a, &hook, &o);
        assert!(!row.error.contains(TOKEN), "{}", row.error);
        o
    }

    const OK: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-length: 27\r\n\r\n{\"errcode\":0,\"errmsg\":\"ok\"}";

    #[tokio::test]
    async fn a_plain_answer_is_delivered() {
        let o = outcome(Some(OK.to_vec())).await;
        assert!(o.delivered, "{o:?}");
        assert_eq!((o.attempts, o.http_status), (1, 200));
    }

    #[tokio::test]
    async fn a_redirect_is_refused_at_once() {
        let reply = format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere?key={TOKEN}\r\ncontent-length: 0\r\n\r\n"
        );
        let o = outcome(Some(reply.into_bytes())).await;
        assert!(!o.delivered);
        assert_eq!((o.attempts, o.http_status), (1, 302));
        assert!(
            o.error
                .contains("redirect refused: HTTP 302 to http://127.0.0.1:9/elsewhere?key=***"),
            "{}",
            o.error
        );
        assert!(
            o.error.contains("/cgi-bin/webhook/send?key=***"),
            "{}",
            o.error
        );
    }

    #[tokio::test]
    async fn a_huge_answer_is_not_read() {
        let big = MAX_RESPONSE_BYTES + 1;
        let mut declared = format!("HTTP/1.1 200 OK\r\ncontent-length: {big}\r\n\r\n").into_bytes();
        declared.resize(declared.len() + big, b'x');
        let mut chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..9 {
            chunked.extend_from_slice(b"2000\r\n");
            chunked.extend(std::iter::repeat_n(b'x', 0x2000));
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        for reply in [declared, chunked] {
            let o = outcome(Some(reply)).await;
            assert!(!o.delivered);
            assert_eq!((o.attempts, o.http_status), (1, 200));
            assert!(
                o.error.contains("response larger than 65536 bytes"),
                "{}",
                o.error
            );
        }
    }

    #[tokio::test]
    async fn a_hanging_receiver_times_out_and_is_retried() {
        let t = std::time::Instant::now();
        let o = outcome(None).await;
        assert!(!o.delivered);
        assert_eq!(o.attempts, 2);
        assert!(
            o.error
                .contains("no complete response within 400 ms (notify.timeout_ms)"),
            "{}",
            o.error
        );
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[tokio::test]
    async fn network_errors_name_the_redacted_url() {
        // Nothing listens on a port just released.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (cfg, hook) = setup(port);
        let a = spike_alert();
        let o = deliver(&http_client(&cfg).unwrap(), &cfg, &hook, &a).await;
        assert_eq!(o.attempts, 2, "{o:?}");
        assert!(!o.error.contains(TOKEN), "{}", o.error);
        assert!(
            o.error.starts_with(&format!(
                "POST http://127.0.0.1:{port}/cgi-bin/webhook/send?key=***: "
            )),
            "{}",
            o.error
        );
    }
}
