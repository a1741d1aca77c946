//! `[notify]`: the webhook notifier's options (deploy/voc.example.toml).

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
    pub url: String,
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
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// Attempts per alert and webhook before a final failure is recorded.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to retry_max_ms.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            group_id: "voc-notify".into(),
            timeout_ms: 5000,
            max_attempts: 5,
            retry_initial_ms: 500,
            retry_max_ms: 30_000,
            webhooks: Vec::new(),
        }
    }
}
