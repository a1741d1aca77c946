//! voc-ingest: Kafka in, channel decoders out.
//!
//! Each source channel has a raw topic carrying JSON exactly as the source
//! system emits it. [`decode`] turns one message payload into a channel-neutral
//! [`voc_core::Feedback`], or a [`DecodeError`] whose machine-readable
//! [`DeadLetterReason`] sends the message to the dead-letter topic as a
//! [`DeadLetter`] record (payload PII-masked, source position, reason). Decoders are
//! lenient where real feeds are messy (numbers as strings, many time formats,
//! GBK bytes, field aliases) and strict where the data would be wrong (an NPS of
//! 11, a time in 1970, no id to deduplicate by).
//!
//! [`consumer`] holds the Kafka client settings and the offsets to commit;
//! [`security`] turns `[kafka.tls]` / `[kafka.sasl]` into client properties
//! for every Kafka client of voc; [`connect`] checks them against the brokers
//! at start; [`batch`] collects a batch from a consumer.
//!
//! The JSON Schema of each channel's input contract is in `ingest/schemas/`.
//! Depends on `voc-core` only; feeds `voc-enrich` (Feedback) and, through the
//! worker, the dead-letter topic.

pub mod batch;
pub mod channels;
pub mod connect;
pub mod consumer;
pub mod dead_letter;
pub mod decode;
pub mod fields;
pub mod payload;
pub mod reason;
pub mod security;
pub mod time;

pub use batch::{collect, BatchEnd, BatchLimits};
pub use connect::ConnectError;
pub use consumer::{KafkaSourceConfig, TopicMap};
pub use dead_letter::{DeadLetter, SourcePosition, DEAD_LETTER_SCHEMA};
pub use decode::{decode, decode_limited, DecodeContext};
pub use payload::Limits;
pub use reason::{DeadLetterReason, DecodeError};
pub use security::{KafkaSasl, KafkaSecurity, KafkaTls, SaslMechanism, SecurityError};
