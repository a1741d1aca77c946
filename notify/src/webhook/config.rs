//! `[notify]`: the webhook notifier's options (deploy/voc.example.toml).

use super::url::{UrlError, WebhookUrl};
use serde::{Deserialize, Serialize};
use voc_alert::{Alert, AlertKind, Severity};
use voc_core::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    /// POST the alert JSON as is (X-Voc-Signature when a secret is set).
    Generic,
    /// 企业微信群机器人: markdown message; the key is part of the URL.
    Wecom,
    /// 钉钉自定义机器人: markdown message; `timestamp` and `sign` query
    /// parameters when a secret (加签) is set.
    Dingtalk,
    /// 飞书自定义机器人: text message; `timestamp` and `sign` in the body when
    /// a secret (签名校验) is set.
    Feishu,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name in logs and in the alert_deliveries table.
    pub name: String,
    pub kind: WebhookKind,
    /// The robot's address; it holds the token (WeCom `key=`, DingTalk
    /// `access_token=`, the Feishu hook id), so it is shown redacted. A
    /// string, `{ env = "NAME" }` or `{ file = "/path" }`, like `secret`.
    pub url: WebhookUrl,
    /// Allow plain http to a host other than loopback (a trusted internal
    /// receiver); otherwise such a URL is refused at start.
    #[serde(default)]
    pub allow_http: bool,
    /// Signing secret (DingTalk "SEC...", Feishu, or the generic HMAC key); empty: unsigned.
    /// A string, `{ env = "NAME" }` or `{ file = "/path" }`; never printed.
    #[serde(default)]
    pub secret: Secret,
    /// Send only alerts at or above this severity.
    #[serde(default = "medium")]
    pub min_severity: Severity,
    /// Send only these kinds (detractor, repeat_complainer, spike); empty: all.
    #[serde(default)]
    pub kinds: Vec<AlertKind>,
    /// Send only alerts routed to one of these departments; empty: all.
    #[serde(default)]
    pub departments: Vec<String>,
}

fn medium() -> Severity {
    Severity::Medium
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("notify.webhooks {name:?}: {source}")]
    Url { name: String, source: UrlError },
    #[error("notify.webhooks: a webhook has an empty name")]
    NoName,
    #[error("notify.{0} must be positive")]
    Zero(&'static str),
}

impl WebhookConfig {
    pub fn wants(&self, a: &Alert) -> bool {
        a.severity >= self.min_severity
            && (self.kinds.is_empty() || self.kinds.contains(&a.kind))
            && (self.departments.is_empty()
                || a.departments.iter().any(|d| self.departments.contains(d)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Consumer group of `voc notify` on the alert topic.
    pub group_id: String,
    /// Longest wait for a webhook's connection (TCP and TLS).
    pub connect_timeout_ms: u64,
    /// Longest time for one request, from connecting to the end of the
    /// response.
    pub timeout_ms: u64,
    /// Attempts per alert and webhook before a final failure is recorded.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to retry_max_ms.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Address of `voc notify`'s /metrics and /healthz (webhook outcomes);
    /// empty disables it. Loopback by default (no authentication); in
    /// Kubernetes `0.0.0.0:9465`.
    pub metrics_listen: String,
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            group_id: "voc-notify".into(),
            connect_timeout_ms: 3000,
            timeout_ms: 5000,
            max_attempts: 5,
            retry_initial_ms: 500,
            retry_max_ms: 30_000,
            metrics_listen: "127.0.0.1:9465".into(),
            webhooks: Vec::new(),
        }
    }
}

impl NotifyConfig {
    /// Checks that need no network: timeouts, and every webhook's URL is
    /// https unless its host is loopback or it sets `allow_http`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (v, name) in [
            (self.connect_timeout_ms, "connect_timeout_ms"),
            (self.timeout_ms, "timeout_ms"),
            (self.retry_initial_ms, "retry_initial_ms"),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        for h in &self.webhooks {
            if h.name.trim().is_empty() {
                return Err(ConfigError::NoName);
            }
            h.url
                .check_transport(h.allow_http)
                .map_err(|source| ConfigError::Url {
                    name: h.name.clone(),
                    source,
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_hook(url: &str, allow_http: bool) -> NotifyConfig {
        NotifyConfig {
            webhooks: vec![WebhookConfig {
                name: "ops".into(),
                kind: WebhookKind::Wecom,
                url: WebhookUrl::parse(url).unwrap(),
                allow_http,
                secret: Secret::default(),
                min_severity: Severity::Medium,
                kinds: vec![],
                departments: vec![],
            }],
            ..NotifyConfig::default()
        }
    }

    #[test]
    fn https_is_required_outside_loopback() {
        let remote = "http://10.0.0.8/cgi-bin/webhook/send?key=0123456789abcdef";
        let e = with_hook(remote, false).validate().unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains("\"ops\"") && shown.contains("allow_http"),
            "{shown}"
        );
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(with_hook(remote, true).validate().is_ok());
        assert!(with_hook("https://qyapi.weixin.qq.com/x?key=k", false)
            .validate()
            .is_ok());
        assert!(with_hook("http://127.0.0.1:8080/x?key=k", false)
            .validate()
            .is_ok());
        let zero = NotifyConfig {
            connect_timeout_ms: 0,
            ..NotifyConfig::default()
        };
        assert_eq!(
            zero.validate(),
            Err(ConfigError::Zero("connect_timeout_ms"))
        );
    }
}
