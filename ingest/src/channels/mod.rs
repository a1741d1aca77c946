//! One decoder per source channel; each reads its channel's contract
//! (ingest/schemas/<channel>.schema.json) into the shared decoded shape.

pub mod app;
pub mod branch;
pub mod call_center;
pub mod community;
