//! The product's tag taxonomy (models/taxonomy.tsv, a copy of the spec).
//!
//! Tag ids are permanent: downstream queries and dashboards depend on them, so
//! the loader refuses files with malformed or duplicate ids instead of guessing.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Pain (痛点), itch (痒点) or delight (悦点): a property of the tag itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    Pain,
    Itch,
    Delight,
}

impl Polarity {
    pub fn as_str(self) -> &'static str {
        match self {
            Polarity::Pain => "pain",
            Polarity::Itch => "itch",
            Polarity::Delight => "delight",
        }
    }
}

/// One row of the taxonomy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagDef {
    pub id: String,
    pub category_id: String,
    pub category_zh: String,
    pub category_en: String,
    pub tag_zh: String,
    pub tag_en: String,
    pub journey_stage: String,
    pub department: String,
    pub polarity: Polarity,
    /// Retired tags stay in the file so history stays queryable; models never emit them.
    pub retired: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    #[error("taxonomy line {line}: expected 10 tab-separated columns, found {found}")]
    Columns { line: usize, found: usize },
    #[error("taxonomy line {line}: malformed tag id {id:?} (expected cNN.tNN)")]
    BadId { line: usize, id: String },
    #[error("taxonomy line {line}: duplicate tag id {id}")]
    Duplicate { line: usize, id: String },
    #[error("taxonomy line {line}: unknown polarity_class {value:?}")]
    BadPolarity { line: usize, value: String },
    #[error("taxonomy line {line}: unknown journey_stage {value:?}")]
    BadStage { line: usize, value: String },
    #[error("taxonomy has no tags")]
    Empty,
}

const STAGES: [&str; 7] = [
    "awareness",
    "onboarding",
    "usage",
    "transaction",
    "service",
    "problem_resolution",
    "retention",
];

/// The consumer-protection department, copied on pain tags with fund-loss or
/// regulatory-complaint risk (taxonomy.md, "Mapping to work orders").
pub const CONSUMER_PROTECTION: &str = "消费者权益保护部";

/// The taxonomy loaded in memory, in file order.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    tags: Vec<TagDef>,
    index: HashMap<String, usize>,
    version: String,
}

/// The taxonomy shipped in models/ (compiled in so every binary has one).
pub const BUNDLED_TSV: &str = include_str!("../../models/taxonomy.tsv");

impl Taxonomy {
    /// The taxonomy compiled into the binary.
    pub fn bundled() -> Taxonomy {
        Taxonomy::parse(BUNDLED_TSV).expect("bundled taxonomy is valid (checked by tests)")
    }

    pub fn parse(tsv: &str) -> Result<Taxonomy, TaxonomyError> {
        let mut tags = Vec::new();
        let mut index = HashMap::new();
        for (i, line) in tsv.lines().enumerate().skip(1) {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() != 10 {
                return Err(TaxonomyError::Columns {
                    line: line_no,
                    found: cols.len(),
                });
            }
            let id = cols[0].trim();
            if !valid_id(id) || !id.starts_with(cols[1].trim()) {
                return Err(TaxonomyError::BadId {
                    line: line_no,
                    id: id.to_string(),
                });
            }
            let polarity = match cols[8].trim() {
                "pain" => Polarity::Pain,
                "itch" => Polarity::Itch,
                "delight" => Polarity::Delight,
                other => {
                    return Err(TaxonomyError::BadPolarity {
                        line: line_no,
                        value: other.to_string(),
                    })
                }
            };
            let stage = cols[6].trim();
            if !STAGES.contains(&stage) {
                return Err(TaxonomyError::BadStage {
                    line: line_no,
                    value: stage.to_string(),
                });
            }
            if index.insert(id.to_string(), tags.len()).is_some() {
                return Err(TaxonomyError::Duplicate {
                    line: line_no,
                    id: id.to_string(),
                });
            }
            tags.push(TagDef {
                id: id.to_string(),
                category_id: cols[1].trim().to_string(),
                category_zh: cols[2].trim().to_string(),
                category_en: cols[3].trim().to_string(),
                tag_zh: cols[4].trim().to_string(),
                tag_en: cols[5].trim().to_string(),
                journey_stage: stage.to_string(),
                department: cols[7].trim().to_string(),
                polarity,
                retired: cols[4].contains("已停用") || cols[5].contains("[RETIRED"),
            });
        }
        if tags.is_empty() {
            return Err(TaxonomyError::Empty);
        }
        let version = format!(
            "tax-{:08x}",
            xxhash_rust::xxh3::xxh3_64(tsv.as_bytes()) as u32
        );
        Ok(Taxonomy {
            tags,
            index,
            version,
        })
    }

    /// Content-derived version stored with every prediction.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn tags(&self) -> &[TagDef] {
        &self.tags
    }

    pub fn get(&self, id: &str) -> Option<&TagDef> {
        self.index.get(id).map(|&i| &self.tags[i])
    }

    /// Departments that own a tag's work: its own department, plus consumer
    /// protection for pain tags with fund-loss or regulatory risk.
    pub fn departments_for<'a>(&self, tag: &'a TagDef) -> Vec<&'a str> {
        let mut out = vec![tag.department.as_str()];
        if tag.polarity == Polarity::Pain && escalates_to_consumer_protection(&tag.id) {
            out.push(CONSUMER_PROTECTION);
        }
        out
    }
}

/// c03 (transfers), c05.t06 (debt collection), c10 (fraud / freezes), c12 (privacy).
pub fn escalates_to_consumer_protection(tag_id: &str) -> bool {
    tag_id.starts_with("c03.")
        || tag_id == "c05.t06"
        || tag_id.starts_with("c10.")
        || tag_id.starts_with("c12.")
}

fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 7
        && b[0] == b'c'
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b[3] == b'.'
        && b[4] == b't'
        && b[5].is_ascii_digit()
        && b[6].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_taxonomy_loads_with_stable_ids() {
        let t = Taxonomy::bundled();
        assert_eq!(t.tags().len(), 76);
        let fraud = t.get("c10.t02").unwrap();
        assert_eq!(fraud.polarity, Polarity::Pain);
        assert_eq!(
            t.departments_for(fraud),
            vec!["风险管理部", CONSUMER_PROTECTION]
        );
        let praise = t.get("c07.t07").unwrap();
        assert_eq!(praise.polarity, Polarity::Delight);
        assert_eq!(t.departments_for(praise), vec!["分支机构"]);
        assert!(t.version().starts_with("tax-"));
    }

    #[test]
    fn rejects_malformed_files() {
        let header = "tag_id\tcategory_id\tcz\tce\ttz\tte\tstage\tdept\tpol\tex\n";
        let bad_id = format!("{header}c1.t1\tc1\ta\tb\tc\td\tusage\tX\tpain\te\n");
        assert!(matches!(
            Taxonomy::parse(&bad_id),
            Err(TaxonomyError::BadId { .. })
        ));
        let dup = format!(
            "{header}c01.t01\tc01\ta\tb\tc\td\tusage\tX\tpain\te\nc01.t01\tc01\ta\tb\tc\td\tusage\tX\tpain\te\n"
        );
        assert!(matches!(
            Taxonomy::parse(&dup),
            Err(TaxonomyError::Duplicate { .. })
        ));
        let pol = format!("{header}c01.t01\tc01\ta\tb\tc\td\tusage\tX\tjoy\te\n");
        assert!(matches!(
            Taxonomy::parse(&pol),
            Err(TaxonomyError::BadPolarity { .. })
        ));
        assert!(matches!(Taxonomy::parse(header), Err(TaxonomyError::Empty)));
    }
}
