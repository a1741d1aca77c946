//! voc-core: the vocabulary every stage of the voc pipeline shares.
//!
//! One feedback item travels `ingest` -> `enrich` -> `sink` / `alert`. At the crate
//! boundaries it is always one of two canonical types defined here:
//! [`Feedback`] (decoded from a channel's raw JSON, not yet understood) and
//! [`EnrichedEvent`] (normalized, PII-masked, classified; what ClickHouse stores
//! and what alerts carry). Channel specifics stay inside their decoder.
//!
//! Privacy primitives every stage applies: [`pii`] masks personal data in
//! text (before anything is stored, logged, published or alerted) and
//! [`pseudonym`] is the one keyed hash (HMAC-SHA256) standing in for identifiers.
//!
//! The [`taxonomy`] module loads the product's tag taxonomy (tag id -> category,
//! owning department, journey stage, pain/itch/delight class).

pub mod channel;
pub mod event;
pub mod feedback;
pub mod nps;
pub mod pii;
pub mod pseudonym;
pub mod secret;
pub mod taxonomy;
pub mod test_hook;
pub mod tokens;

pub use channel::Channel;
pub use event::{EnrichedEvent, Experience, Sentiment, SentimentLabel, SentimentSource, TagScore};
pub use feedback::{event_id, Feedback, Keys, Lineage, TimeSource};
pub use nps::{Nps, NpsScore, NpsSegment};
pub use taxonomy::{Polarity, TagDef, Taxonomy, TaxonomyError};
pub use tokens::Tokens;
