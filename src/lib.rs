//! voc: the thin binary. It reads the configuration (a TOML file plus
//! `VOC_<SECTION>__<KEY>` environment overrides), parses the command line and
//! hands each command to the crate that does the work: the worker is
//! `voc-pipeline`, `voc notify` and `voc workorders` are `voc-notify`. What
//! is its own: the saved analyst queries ([`analytics`]) and the HTML report
//! ([`report`]). Each command lives in its own module under `commands`.

pub mod analytics;
pub mod commands;
pub mod config;
pub mod report;

pub use config::Config;
