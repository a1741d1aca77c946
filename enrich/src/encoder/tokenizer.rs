//! The encoder's tokenizer: a unigram (SentencePiece-style) Viterbi over the
//! pruned vocabulary of the encoder's sidecar, written to the letter of
//! models/encoder/FORMAT.md ("Tokenizer") so that models/encoder/ in Python
//! produces the same ids for every text (`voc featurize --encoder-meta`
//! prints them for that parity check).
//!
//! Input is [`crate::Prepared::text`]: the normalized, PII-masked text the
//! fast model sees.

use std::collections::HashMap;

/// The word-boundary marker that replaces spaces (U+2581).
const SPACE_MARK: char = '\u{2581}';

/// Ids 0-3 are the specials (`<s>`, `<pad>`, `</s>`, `<unk>`): never matched.
const SPECIALS: usize = 4;

/// Special ids and lengths of the encoder's input, from its sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub bos_id: u32,
    pub eos_id: u32,
    pub unk_id: u32,
    /// Tokens per row including `<s>` and `</s>`.
    pub max_len: usize,
    /// Content tokens kept from the start when a text is longer than
    /// `max_len - 2`; the rest of the room goes to its end.
    pub head_tokens: usize,
}

/// Pieces and their log-probabilities.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    pieces: HashMap<String, (u32, f64)>,
    /// The longest piece, in chars: the widest span the Viterbi looks back.
    max_piece_chars: usize,
    unk_score: f64,
    layout: Layout,
}

impl Tokenizer {
    /// `pieces[id] = (piece, score)`; the first four are the specials and are
    /// skipped. Fails on an empty or duplicated piece (its id would be ambiguous)
    /// or on a layout whose head does not fit.
    pub fn new(pieces: &[(String, f64)], unk_score: f64, layout: Layout) -> Result<Self, String> {
        // A tail of at least one token: with none, "keep the last 0 tokens"
        // reads as "keep all" in Python's content[-0:].
        if layout.max_len < 3 || layout.head_tokens >= layout.max_len - 2 {
            return Err(format!(
                "max_len {} must be >= 3 and head_tokens {} less than max_len - 2",
                layout.max_len, layout.head_tokens
            ));
        }
        if pieces.len() <= SPECIALS {
            return Err(format!(
                "{} pieces: no vocabulary after the 4 specials",
                pieces.len()
            ));
        }
        for (name, id) in [
            ("bos_id", layout.bos_id),
            ("eos_id", layout.eos_id),
            ("unk_id", layout.unk_id),
        ] {
            if id as usize >= SPECIALS {
                return Err(format!("{name} {id} is not one of the special ids 0-3"));
            }
        }
        if !unk_score.is_finite() {
            return Err(format!("unk_score {unk_score} is not a finite number"));
        }
        let mut map = HashMap::with_capacity(pieces.len());
        let mut max_piece_chars = 1;
        for (id, (piece, score)) in pieces.iter().enumerate().skip(SPECIALS) {
            if piece.is_empty() || !score.is_finite() {
                return Err(format!(
                    "piece {id} {piece:?} is empty or its score {score} is not finite"
                ));
            }
            if map.insert(piece.clone(), (id as u32, *score)).is_some() {
                return Err(format!("piece {piece:?} appears twice (id {id})"));
            }
            max_piece_chars = max_piece_chars.max(piece.chars().count());
        }
        Ok(Tokenizer {
            pieces: map,
            max_piece_chars,
            unk_score,
            layout,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The model's input ids for `text`: `<s>`, the (truncated) content, `</s>`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let content = self.truncate(self.content(text));
        let mut ids = Vec::with_capacity(content.len() + 2);
        ids.push(self.layout.bos_id);
        ids.extend(content);
        ids.push(self.layout.eos_id);
        ids
    }

    /// Steps 1-4: whitespace, the marker, Viterbi, backtrack, fused unknowns.
    fn content(&self, text: &str) -> Vec<u32> {
        let words: Vec<&str> = text
            .split(char::is_whitespace)
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            return Vec::new();
        }
        let mut s = String::with_capacity(text.len() + 3 * words.len());
        for w in words {
            s.push(SPACE_MARK);
            s.push_str(w);
        }
        // bounds[i] = byte offset of char i; bounds[n] = s.len().
        let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
        let n = bounds.len() - 1;
        let mut best: Vec<f64> = vec![f64::NEG_INFINITY; n + 1];
        let mut back: Vec<(usize, u32)> = vec![(0, 0); n + 1];
        best[0] = 0.0;
        for e in 1..=n {
            let mut set = false;
            for b in e.saturating_sub(self.max_piece_chars)..e {
                let (id, score) = match self.pieces.get(&s[bounds[b]..bounds[e]]) {
                    Some(&p) => p,
                    None if b == e - 1 => (self.layout.unk_id, self.unk_score),
                    None => continue,
                };
                let cand = best[b] + score;
                if !set || cand > best[e] {
                    best[e] = cand;
                    back[e] = (b, id);
                    set = true;
                }
            }
        }
        let mut ids = Vec::new();
        let mut e = n;
        while e > 0 {
            let (b, id) = back[e];
            ids.push(id);
            e = b;
        }
        ids.reverse();
        let unk = self.layout.unk_id;
        ids.dedup_by(|next, prev| *next == unk && *prev == unk);
        ids
    }

    /// Step 5: a long text keeps its first `head_tokens` and its last tokens.
    fn truncate(&self, mut content: Vec<u32>) -> Vec<u32> {
        let room = self.layout.max_len - 2;
        if content.len() > room {
            let tail = room - self.layout.head_tokens;
            content.drain(self.layout.head_tokens..content.len() - tail);
        }
        content
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids: 0-3 specials, then the pieces below in order (4..=12).
    fn vocab() -> Vec<(String, f64)> {
        [
            ("<s>", 0.0),
            ("<pad>", 0.0),
            ("</s>", 0.0),
            ("<unk>", 0.0),
            ("▁", -1.0),    // 4
            ("a", -2.0),    // 5
            ("b", -2.0),    // 6
            ("ab", -3.0),   // 7
            ("▁a", -2.5),   // 8
            ("abc", -10.0), // 9
            ("c", -2.0),    // 10
            ("bc", -4.0),   // 11
            ("s", -2.0),    // 12
        ]
        .into_iter()
        .map(|(p, s)| (p.to_string(), s))
        .collect()
    }

    fn layout(max_len: usize, head_tokens: usize) -> Layout {
        Layout {
            bos_id: 0,
            eos_id: 2,
            unk_id: 3,
            max_len,
            head_tokens,
        }
    }

    fn tok() -> Tokenizer {
        Tokenizer::new(&vocab(), -20.0, layout(96, 32)).unwrap()
    }

    #[test]
    fn the_best_path_wins() {
        // "▁ab": "▁"+"ab" = -4 beats "▁a"+"b" = -4.5 and "▁"+"a"+"b" = -5.
        assert_eq!(tok().encode("ab"), [0, 4, 7, 2]);
        // "▁abc": "▁"+"ab"+"c" = -6 beats "▁a"+"bc" = -6.5 and "▁"+"abc" = -11.
        assert_eq!(tok().encode("abc"), [0, 4, 7, 10, 2]);
    }

    #[test]
    fn a_tie_keeps_the_earliest_start() {
        // "▁bc": "▁"+"bc" = -5 (start 1) ties "▁"+"b"+"c" = -5 (start 2):
        // only a strictly better score replaces, so the longer last piece stays.
        assert_eq!(tok().encode("bc"), [0, 4, 11, 2]);
    }

    #[test]
    fn unknown_characters_become_one_unk_per_run() {
        // "▁a" 8, "好好" -> unk unk -> one unk, "b" 6.
        assert_eq!(tok().encode("a好好b"), [0, 8, 3, 6, 2]);
        // Specials are never matched: "<s>" is "<" unk, "s" 12, ">" unk.
        assert_eq!(tok().encode("<s>"), [0, 4, 3, 12, 3, 2]);
        // A character of no piece at the very start, after the marker.
        assert_eq!(tok().encode("好"), [0, 4, 3, 2]);
    }

    #[test]
    fn whitespace_runs_are_one_marker() {
        // "▁a▁b": "▁a" 8, "▁" 4, "b" 6.
        assert_eq!(tok().encode("a b"), [0, 8, 4, 6, 2]);
        assert_eq!(tok().encode(" \t a \n\u{3000} b  "), [0, 8, 4, 6, 2]);
    }

    #[test]
    fn empty_text_is_bos_eos() {
        assert_eq!(tok().encode(""), [0, 2]);
        assert_eq!(tok().encode(" \n\t "), [0, 2]);
    }

    #[test]
    fn long_text_keeps_head_and_tail() {
        // "▁a▁b▁c": "▁a" 8, "▁" 4, "b" 6, "▁" 4, "c" 10: five content tokens.
        assert_eq!(tok().encode("a b c"), [0, 8, 4, 6, 4, 10, 2]);
        // Room for 4 (max_len 6 - 2): the first 1 and the last 3.
        let t = Tokenizer::new(&vocab(), -20.0, layout(6, 1)).unwrap();
        assert_eq!(t.encode("a b c"), [0, 8, 6, 4, 10, 2]);
        // Exactly at the room: kept whole.
        let t = Tokenizer::new(&vocab(), -20.0, layout(7, 1)).unwrap();
        assert_eq!(t.encode("a b c"), [0, 8, 4, 6, 4, 10, 2]);
        // Head 2, tail 2.
        let t = Tokenizer::new(&vocab(), -20.0, layout(6, 2)).unwrap();
        assert_eq!(t.encode("a b c"), [0, 8, 4, 4, 10, 2]);
    }

    #[test]
    fn bad_vocabularies_and_layouts_are_refused() {
        let mut dup = vocab();
        dup.push(("ab".into(), -1.0));
        assert!(Tokenizer::new(&dup, -20.0, layout(96, 32))
            .unwrap_err()
            .contains("twice"));
        assert!(Tokenizer::new(&vocab(), -20.0, layout(96, 94)).is_err());
        assert!(Tokenizer::new(&vocab()[..4], -20.0, layout(96, 32)).is_err());
        assert!(Tokenizer::new(&vocab(), f64::NAN, layout(96, 32)).is_err());
    }
}
