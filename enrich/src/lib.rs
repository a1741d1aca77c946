//! voc-enrich: understanding one feedback item.
//!
//! Pipeline order (each a module): [`normalize`] -> PII masking (`voc_core::pii`) -> [`segment`] ->
//! [`features`] -> [`model`] (ONNX via ort; with `enrich.encoder_path`, the
//! [`encoder`]'s sentiment is blended into it) -> [`derive`] (sentiment, tags,
//! pain/itch/delight, departments, NPS) -> [`clause`] (aspect-level sentiment
//! per tag for mixed feedback). [`enricher::Enricher`] runs them over
//! a batch of `voc_core::Feedback` and returns `voc_core::EnrichedEvent`s.

pub mod clause;
pub mod derive;
pub mod encoder;
pub mod enricher;
pub mod features;
pub mod idf;
pub mod model;
pub mod normalize;
pub mod segment;

pub use enricher::{
    resolve_onnxruntime, EnrichConfig, EnrichError, Enricher, Prepared, TextPipeline,
};
pub use model::ModelError;
