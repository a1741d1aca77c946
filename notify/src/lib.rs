//! voc-notify: what happens after an alert is on its topic, outside the
//! worker, so a slow webhook or case system never holds the pipeline.
//!
//! - [`notifier`] (`voc notify`): alerts from the alert topic to the
//!   [`webhook`]s (generic JSON, WeCom, DingTalk, Feishu), outcomes stored
//!   in ClickHouse `alert_deliveries`;
//! - [`intake`] (`voc workorders`): the case system's [`workorder`] status
//!   updates into ClickHouse `work_order_updates`, invalid ones dead-lettered;
//! - [`consumer`]: the loop both share (batch, handle with retries, commit);
//! - [`metrics`]: what `voc notify` reports at /metrics (webhook outcomes).
//!
//! Fed by `voc-alert`'s records on Kafka; writes through `voc-sink`.

pub mod consumer;
pub mod intake;
pub mod metrics;
pub mod notifier;
pub mod webhook;
pub mod workorder;

pub use intake::WorkOrdersConfig;
pub use webhook::NotifyConfig;
