//! A text's word tokens held in one allocation.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Word tokens in order, held as one string and the end of each token. A
/// `Vec<String>` costs ~40 bytes of header and allocator rounding per token
/// on top of its 3-12 bytes of text; a batch of 5,000 events holds ~150,000
/// tokens until it is stored. Serializes as a sequence of strings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tokens {
    text: String,
    ends: Vec<u32>,
}

impl Tokens {
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let t = &self.text[start..end as usize];
            start = end as usize;
            t
        })
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn push(&mut self, token: &str) {
        self.text.push_str(token);
        self.ends.push(self.text.len() as u32);
    }
}

impl<S: AsRef<str>> FromIterator<S> for Tokens {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut t = Tokens::default();
        for s in iter {
            t.push(s.as_ref());
        }
        t.text.shrink_to_fit();
        t.ends.shrink_to_fit();
        t
    }
}

impl Serialize for Tokens {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Tokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<String>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_tokens_in_order_and_serializes_as_strings() {
        let t: Tokens = ["手机银行", "转账", "", "App"].into_iter().collect();
        assert_eq!(t.len(), 4);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            ["手机银行", "转账", "", "App"]
        );
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"["手机银行","转账","","App"]"#);
        let back: Tokens = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert!(Tokens::default().is_empty() && Tokens::default().iter().next().is_none());
    }
}
