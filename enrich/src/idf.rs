//! jieba's IDF table for keyword weights, held compactly.
//!
//! jieba-rs keeps its IDF table private (a `HashMap<String, f64>` of 270,000
//! words, ~17 MB, plus its 6 MB source text kept decoded for the life of the
//! process). The same table (jieba's `idf.txt`, MIT, identical in jieba-rs
//! 0.11 and Python jieba 0.42.1) ships zstd-compressed in
//! models/jieba_idf.txt.zst and is held here as sorted 64-bit word hashes and
//! their values: ~4 MB, no per-word allocation, and a lookup needs no lock.

/// The table shipped in models/ (compiled in).
const BUNDLED: &[u8] = include_bytes!("../../models/jieba_idf.txt.zst");

#[derive(Debug, thiserror::Error)]
#[error("reading the IDF table: {0}")]
pub struct IdfError(String);

pub struct IdfTable {
    /// xxh3 hashes of the words, ascending.
    keys: Vec<u64>,
    /// IDF of `keys[i]`.
    values: Vec<f64>,
    /// jieba's weight for a word outside the table: the lower median of the
    /// values read (as jieba-rs computes it).
    median: f64,
}

fn hash(word: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(word.as_bytes())
}

impl IdfTable {
    /// jieba's table, as shipped.
    pub fn bundled() -> Self {
        let text = zstd::decode_all(BUNDLED).expect("the bundled IDF table decompresses");
        let text = std::str::from_utf8(&text).expect("the bundled IDF table is UTF-8");
        IdfTable::parse(text).expect("the bundled IDF table is valid (checked by tests)")
    }

    /// `word idf` per line (jieba's format); a word listed twice keeps its
    /// last value, as jieba's map does.
    pub fn parse(text: &str) -> Result<Self, IdfError> {
        let mut entries: Vec<(u64, f64)> = Vec::with_capacity(text.len() / 20);
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            if let (Some(word), Some(v)) = (parts.next(), parts.next()) {
                let v: f64 = v
                    .parse()
                    .map_err(|_| IdfError(format!("not a number in {line:?}")))?;
                entries.push((hash(word), v));
            }
        }
        if entries.is_empty() {
            return Err(IdfError("no entries".into()));
        }
        let mut all: Vec<f64> = entries.iter().map(|e| e.1).collect();
        let mid = (all.len() - 1) / 2;
        let (_, median, _) = all.select_nth_unstable_by(mid, f64::total_cmp);
        let median = *median;
        // Stable sort, then keep the last of equal keys (the later line wins).
        entries.sort_by_key(|e| e.0);
        let mut keys = Vec::with_capacity(entries.len());
        let mut values: Vec<f64> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            if keys.last() == Some(&k) {
                *values.last_mut().expect("same length") = v;
            } else {
                keys.push(k);
                values.push(v);
            }
        }
        Ok(IdfTable {
            keys,
            values,
            median,
        })
    }

    /// The IDF of `word`; the median for a word outside the table.
    pub fn get(&self, word: &str) -> f64 {
        match self.keys.binary_search(&hash(word)) {
            Ok(i) => self.values[i],
            Err(_) => self.median,
        }
    }

    pub fn median(&self) -> f64 {
        self.median
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jieba_rs::{Jieba, KeywordExtract, TfIdf};

    #[test]
    fn parses_and_looks_up() {
        let t = IdfTable::parse("甲 1.5\n乙 3.0\n丙 2.0\n乙 4.0\n\n").unwrap();
        assert_eq!((t.get("甲"), t.get("乙"), t.get("丙")), (1.5, 4.0, 2.0));
        assert_eq!(t.median(), 2.0, "lower median of 1.5 2.0 3.0 4.0");
        assert_eq!(t.get("丁"), 2.0);
        assert!(IdfTable::parse("").is_err());
        assert!(IdfTable::parse("甲 x").is_err());
    }

    /// The shipped table gives every word jieba-rs's own weight: its
    /// extractor on a one-word text (tf = total = 1, so the weight is the
    /// IDF) for a spread of the table's words and words outside it.
    #[test]
    fn the_bundled_table_equals_jiebas() {
        let t = IdfTable::bundled();
        assert_eq!(t.len(), 270_132);
        let jieba = Jieba::new();
        let tfidf = TfIdf::default();
        let text = zstd::decode_all(BUNDLED).unwrap();
        let text = String::from_utf8(text).unwrap();
        let mut checked = 0;
        for line in text.lines().step_by(97).chain(["qzxvkjwq 0"]) {
            let word = line.split_whitespace().next().unwrap();
            let theirs = tfidf.extract_keywords(&jieba, word, 1, Vec::new());
            // Only words jieba keeps whole and does not drop as stop words.
            if let Some(k) = theirs.iter().find(|k| k.keyword == word) {
                assert_eq!(t.get(word), k.weight, "{word}");
                checked += 1;
            }
        }
        assert!(checked > 2_000, "{checked}");
    }
}
