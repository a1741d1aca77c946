//! Net Promoter Score: a validated 0-10 score and the segment derived from it.

use serde::{Deserialize, Serialize};

/// A 0-10 likelihood-to-recommend answer. Construction validates the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct NpsScore(u8);

impl NpsScore {
    pub fn new(v: u8) -> Option<Self> {
        (v <= 10).then_some(NpsScore(v))
    }
    pub fn get(self) -> u8 {
        self.0
    }
    pub fn segment(self) -> NpsSegment {
        match self.0 {
            9..=10 => NpsSegment::Promoter,
            7..=8 => NpsSegment::Passive,
            _ => NpsSegment::Detractor,
        }
    }
}

impl TryFrom<u8> for NpsScore {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        NpsScore::new(v).ok_or_else(|| format!("NPS score {v} is outside 0-10"))
    }
}

impl From<NpsScore> for u8 {
    fn from(s: NpsScore) -> u8 {
        s.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NpsSegment {
    Promoter,
    Passive,
    Detractor,
}

impl NpsSegment {
    pub fn as_str(self) -> &'static str {
        match self {
            NpsSegment::Promoter => "promoter",
            NpsSegment::Passive => "passive",
            NpsSegment::Detractor => "detractor",
        }
    }
}

/// The NPS view of one item: the explicit score when the customer gave one,
/// otherwise a segment inferred from sentiment (`inferred = true`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Nps {
    pub score: Option<NpsScore>,
    pub segment: NpsSegment,
    pub inferred: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_follow_the_standard_cut_points() {
        let seg = |v| NpsScore::new(v).unwrap().segment();
        assert_eq!(seg(0), NpsSegment::Detractor);
        assert_eq!(seg(6), NpsSegment::Detractor);
        assert_eq!(seg(7), NpsSegment::Passive);
        assert_eq!(seg(8), NpsSegment::Passive);
        assert_eq!(seg(9), NpsSegment::Promoter);
        assert_eq!(seg(10), NpsSegment::Promoter);
        assert!(NpsScore::new(11).is_none());
    }
}
