//! The rules that propose alerts, one per kind, and the work-order title they share.
//!
//! - [`detractor`]: an explicit 0-6 score, or strongly negative feedback
//!   without a score (`inferred`);
//! - [`repeat`]: one customer negative on N occasions within a window;
//! - [`spike`]: a tag's volume far above its hour-of-week baseline;
//! - [`title`]: the Chinese work-order title.

pub mod detractor;
pub mod repeat;
pub mod spike;
pub mod title;
