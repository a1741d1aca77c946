//! Webhooks: alerts from the alert topic to chat robots and case systems
//! ([`crate::alerts`] is the consumer that drives this).
//!
//! - [`config`]: `[notify]` options and one `[[notify.webhooks]]` per target;
//! - [`format`]: the request body per target kind: generic JSON (the alert
//!   itself), WeCom group robot (企业微信群机器人, markdown), DingTalk custom
//!   robot (钉钉自定义机器人, markdown) and Feishu custom bot (飞书自定义机器人, text);
//! - [`escape`]: raw values (customer text, names, series values) made inert
//!   per target: no links, mentions, tags or markup from outside;
//! - [`sign`]: DingTalk and Feishu request signing, and an HMAC header for
//!   generic receivers;
//! - [`url`]: the webhook URL, a credential: shown everywhere redacted;
//! - [`deliver`]: one alert to one webhook with timeouts, no redirects, a
//!   capped response, retries and exponential backoff; it reports an outcome and never panics or blocks
//!   forever, so a dead webhook delays only the notifier, never the pipeline,
//!   and the alert stays on the topic either way.

pub mod config;
pub mod deliver;
pub mod escape;
pub mod format;
pub mod sign;
pub mod url;

pub use config::{ConfigError, NotifyConfig, WebhookConfig, WebhookKind};
pub use deliver::{
    deliver, http_client, idempotency_key, DeliveryOutcome, DeliveryRow, MAX_RESPONSE_BYTES,
};
pub use url::WebhookUrl;
