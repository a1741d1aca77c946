//! The phrase bank the generator composes from (gen/data/phrasebank.json).

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
pub struct Openers {
    pub app: Vec<String>,
    pub call_center: Vec<String>,
    pub community: Vec<String>,
    pub branch: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Closers {
    pub negative: Vec<String>,
    pub neutral: Vec<String>,
    pub positive: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PhraseBank {
    /// Issue clauses per taxonomy tag id.
    pub tags: BTreeMap<String, Vec<String>>,
    pub neutral: Vec<String>,
    pub openers: Openers,
    pub closers: Closers,
    pub connectors: Vec<String>,
    pub asr_fillers: Vec<String>,
    pub agent_turns: Vec<String>,
    pub community_titles: Vec<String>,
}

impl PhraseBank {
    pub fn bundled() -> Self {
        serde_json::from_str(include_str!("../data/phrasebank.json"))
            .expect("bundled phrase bank is valid (checked by tests)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_every_taxonomy_tag() {
        let bank = PhraseBank::bundled();
        let tax = voc_core::Taxonomy::bundled();
        for t in tax.tags() {
            assert!(
                bank.tags.get(&t.id).is_some_and(|c| c.len() >= 5),
                "{}",
                t.id
            );
        }
    }
}
