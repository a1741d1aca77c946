//! The optional "accurate" sentiment model: a fine-tuned multilingual-e5-small
//! (int8 ONNX, built by models/encoder/) whose probabilities are blended with
//! the fast linear model's (`enrich.encoder_path`).
//!
//! Contract of the files (models/encoder/FORMAT.md):
//! inputs  `input_ids` int64 [batch, seq] ([`tokenizer`] ids, padded with
//!         `pad_id`) and `attention_mask` int64 [batch, seq] (1 token, 0 pad);
//! output  `sentiment` float32 [batch, 3]: calibrated probabilities
//!         (negative, neutral, positive).
//! The sidecar (`*.meta.json`) holds the version, the vocabulary with its
//! scores, the blend weight and the detractor lines chosen for the blend.
//! Fed by [`crate::TextPipeline`] (the masked text); feeds the
//! [`crate::Enricher`]'s sentiment, before [`crate::derive`].

pub mod tokenizer;

use crate::model::{open_session, runtime, ModelError};
use ort::session::Session;
use ort::value::TensorRef;
use serde::Deserialize;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
pub use tokenizer::{Layout, Tokenizer};

/// Rows per encoder call (the contract's batch size): rows are padded to the
/// longest of their call, so calls group texts of similar length.
pub const ENCODER_BATCH: usize = 32;

/// The sentiment order of both models.
const LABELS: [&str; 3] = ["negative", "neutral", "positive"];

/// The lines of the blended score, chosen by models/encoder/ on validation data.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct DetractorLines {
    /// Replaces `enrich.inference.detractor_at_or_below` when that is not set.
    pub detractor_at_or_below: f32,
    /// The alert rule's high-severity line for the blended score.
    pub high_at_or_below_sentiment: f32,
}

/// The sidecar as written by models/encoder/.
#[derive(Debug, Clone, Deserialize)]
struct MetaFile {
    model_version: String,
    sentiment_labels: Vec<String>,
    max_len: usize,
    head_tokens: usize,
    bos_id: u32,
    pad_id: u32,
    eos_id: u32,
    unk_id: u32,
    unk_score: f64,
    blend_weight: f32,
    /// Absent in sidecars written before the blend was calibrated: 1 (no change).
    #[serde(default = "no_temperature")]
    blend_temperature: f32,
    detractor_lines: DetractorLines,
    pieces: Vec<(String, f64)>,
}

fn no_temperature() -> f32 {
    1.0
}

/// What the enricher needs of the sidecar besides the vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderMeta {
    /// `voc-e5-YYYYMMDD`.
    pub model_version: String,
    /// w in p = (1 - w) * p_linear + w * p_encoder.
    pub blend_weight: f32,
    /// T of the blend's calibration: the blended p is sharpened to p^(1/T), renormalized.
    pub blend_temperature: f32,
    pub detractor_lines: DetractorLines,
    pub pad_id: u32,
}

/// Reads the sidecar: its facts and its tokenizer. Errors name the file.
pub fn load_meta(path: &Path) -> Result<(EncoderMeta, Tokenizer), ModelError> {
    let err = |message: String| ModelError::EncoderMeta {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let m: MetaFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if m.sentiment_labels != LABELS {
        return Err(err(format!(
            "sentiment_labels {:?}, expected {LABELS:?}",
            m.sentiment_labels
        )));
    }
    if !(0.0..=1.0).contains(&m.blend_weight) {
        return Err(err(format!(
            "blend_weight {} is not in [0, 1]",
            m.blend_weight
        )));
    }
    if !(m.blend_temperature.is_finite() && m.blend_temperature > 0.0) {
        return Err(err(format!(
            "blend_temperature {} is not a positive number",
            m.blend_temperature
        )));
    }
    if m.pad_id > 3 {
        return Err(err(format!(
            "pad_id {} is not one of the special ids 0-3",
            m.pad_id
        )));
    }
    let layout = Layout {
        bos_id: m.bos_id,
        eos_id: m.eos_id,
        unk_id: m.unk_id,
        max_len: m.max_len,
        head_tokens: m.head_tokens,
    };
    let tokenizer = Tokenizer::new(&m.pieces, m.unk_score, layout).map_err(err)?;
    let meta = EncoderMeta {
        model_version: m.model_version,
        blend_weight: m.blend_weight,
        blend_temperature: m.blend_temperature,
        detractor_lines: m.detractor_lines,
        pad_id: m.pad_id,
    };
    Ok((meta, tokenizer))
}

/// p = (1 - w) * p_linear + w * p_encoder per class, then calibrated with
/// the temperature t fit on validation data: p_k^(1/t), renormalized (the
/// average of two calibrated models is under-confident; t = 1 leaves it).
pub fn blend(linear: [f32; 3], encoder: [f32; 3], w: f32, t: f32) -> [f32; 3] {
    let p: [f64; 3] = std::array::from_fn(|k| f64::from((1.0 - w) * linear[k] + w * encoder[k]));
    if t == 1.0 {
        return p.map(|v| v as f32);
    }
    let logits = p.map(|v| v.ln() / f64::from(t));
    let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e = logits.map(|l| (l - top).exp());
    let sum: f64 = e.iter().sum();
    e.map(|v| (v / sum) as f32)
}

/// The encoder: its tokenizer (used without a lock) and a pool of ONNX
/// Runtime sessions, each held for one call at a time. The encoder costs
/// far more per item than the fast model, so each enrichment thread gets a
/// session of its own instead of taking turns on one (a session's `run`
/// needs exclusive access); each session holds its own copy of the weights.
pub struct Encoder {
    tokenizer: Tokenizer,
    meta: EncoderMeta,
    sessions: Vec<Mutex<Session>>,
    /// Where the next call starts looking for a free session.
    next: AtomicUsize,
}

impl Encoder {
    /// Loads the sidecar first (a bad one fails before the heavier model),
    /// then `sessions` sessions (at least one) of `intra_threads` threads.
    pub fn load(
        onnx: &Path,
        meta: &Path,
        dylib: &Path,
        intra_threads: usize,
        sessions: usize,
    ) -> Result<Self, ModelError> {
        let (meta, tokenizer) = load_meta(meta)?;
        let load_err = |message: String| ModelError::EncoderLoad {
            path: onnx.to_path_buf(),
            message,
        };
        // ort's own message for a missing file does not say which.
        if !onnx.is_file() {
            return Err(load_err("no such file".into()));
        }
        let env = runtime(dylib)?;
        let open = || open_session(env, onnx, intra_threads).map_err(load_err);
        let first = open()?;
        let inputs: Vec<&str> = first.inputs().iter().map(|o| o.name()).collect();
        let outputs: Vec<&str> = first.outputs().iter().map(|o| o.name()).collect();
        if !inputs.contains(&"input_ids")
            || !inputs.contains(&"attention_mask")
            || !outputs.contains(&"sentiment")
        {
            return Err(load_err(format!(
                "expected inputs input_ids, attention_mask and output sentiment; \
                 the graph has inputs {inputs:?} and outputs {outputs:?}"
            )));
        }
        let mut pool = vec![Mutex::new(first)];
        for _ in 1..sessions {
            pool.push(Mutex::new(open()?));
        }
        Ok(Encoder {
            tokenizer,
            meta,
            sessions: pool,
            next: AtomicUsize::new(0),
        })
    }

    /// A free session, else (all busy) the next one in turn, waited for.
    fn session(&self) -> Result<MutexGuard<'_, Session>, ModelError> {
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for k in 0..n {
            if let Ok(guard) = self.sessions[(start + k) % n].try_lock() {
                return Ok(guard);
            }
        }
        self.sessions[start].lock().map_err(|_| {
            ModelError::Inference("an encoder session lock was poisoned by a panic".into())
        })
    }

    pub fn meta(&self) -> &EncoderMeta {
        &self.meta
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// P(negative), P(neutral), P(positive) per text ([`crate::Prepared::text`]:
    /// normalized and masked), in the order given. Texts go to the model in
    /// order of token count, [`ENCODER_BATCH`] at a time.
    pub fn sentiment(&self, texts: &[&str]) -> Result<Vec<[f32; 3]>, ModelError> {
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenizer.encode(t)).collect();
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out = vec![[0f32; 3]; ids.len()];
        for chunk in order.chunks(ENCODER_BATCH) {
            let rows: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            for (&i, p) in chunk.iter().zip(self.run(&rows)?) {
                out[i] = p;
            }
        }
        Ok(out)
    }

    /// One call: rows padded with `pad_id` to the longest, mask 0 there.
    fn run(&self, rows: &[&[u32]]) -> Result<Vec<[f32; 3]>, ModelError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut input_ids = vec![i64::from(self.meta.pad_id); rows.len() * width];
        let mut mask = vec![0i64; rows.len() * width];
        for (r, row) in rows.iter().enumerate() {
            for (c, &id) in row.iter().enumerate() {
                input_ids[r * width + c] = i64::from(id);
                mask[r * width + c] = 1;
            }
        }
        let shape = [rows.len(), width];
        let err = |e: ort::Error| ModelError::Inference(format!("encoder: {e}"));
        let ids_t = TensorRef::from_array_view((shape, &*input_ids)).map_err(err)?;
        let mask_t = TensorRef::from_array_view((shape, &*mask)).map_err(err)?;
        let mut session = self.session()?;
        let outputs = session
            .run(ort::inputs!["input_ids" => ids_t, "attention_mask" => mask_t])
            .map_err(err)?;
        let (_, sent) = outputs["sentiment"]
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        if sent.len() != rows.len() * 3 {
            return Err(ModelError::Inference(format!(
                "encoder returned {} sentiment values for {} rows",
                sent.len(),
                rows.len()
            )));
        }
        Ok(sent.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_weighs_the_two_models() {
        let b = blend([0.2, 0.5, 0.3], [0.8, 0.1, 0.1], 0.25, 1.0);
        let want = [0.35, 0.4, 0.25];
        for k in 0..3 {
            assert!((b[k] - want[k]).abs() < 1e-6, "{b:?}");
        }
        assert_eq!(
            blend([0.2, 0.5, 0.3], [0.8, 0.1, 0.1], 0.0, 1.0),
            [0.2, 0.5, 0.3]
        );
    }

    #[test]
    fn the_blend_temperature_sharpens_without_changing_the_label() {
        // (0.35, 0.4, 0.25) at t = 0.5 is proportional to the squares.
        let b = blend([0.2, 0.5, 0.3], [0.8, 0.1, 0.1], 0.25, 0.5);
        let sq = [0.35f32 * 0.35, 0.4 * 0.4, 0.25 * 0.25];
        let sum: f32 = sq.iter().sum();
        for k in 0..3 {
            assert!((b[k] - sq[k] / sum).abs() < 1e-6, "{b:?}");
        }
        assert!(b[1] > 0.4, "the top class gains: {b:?}");
        assert!((b.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        // A zero probability stays zero; t > 1 flattens.
        let z = blend([0.0, 0.2, 0.8], [0.0, 0.4, 0.6], 0.5, 0.7);
        assert_eq!(z[0], 0.0);
        let flat = blend([0.2, 0.5, 0.3], [0.2, 0.5, 0.3], 0.5, 2.0);
        assert!(flat[1] < 0.5 && flat[0] > 0.2, "{flat:?}");
    }

    #[test]
    fn scores_parse_to_the_nearest_f64_as_in_python() {
        // Each of these parses one ulp off without serde_json's float_roundtrip.
        for s in [
            "-15.774467468261719",
            "-1.8771917819976807",
            "-18.728811264038086",
            "-13.406111717224121",
        ] {
            let json: f64 = serde_json::from_str(s).unwrap();
            assert_eq!(json, s.parse::<f64>().unwrap(), "{s}");
        }
    }
}
