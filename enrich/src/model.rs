//! The ONNX text model run through ONNX Runtime (`ort`, loaded dynamically).
//!
//! Contract of the model file (written by models/train.py):
//! inputs  `ids` int64 [batch, n] (feature hashes, see [`crate::features`]) and
//!         `weights` float32 [batch, n] (0 for padding);
//! outputs `sentiment` float32 [batch, 3] probabilities (negative, neutral,
//!         positive) and `tags` float32 [batch, T] independent probabilities.
//! A JSON sidecar (`*.meta.json`) names the version, the tag order, the
//! per-tag thresholds and the top-tag fallback threshold, chosen on
//! out-of-fold predictions of the training data.

use crate::features::FeatureVec;
use ort::session::Session;
use ort::value::TensorRef;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("ONNX Runtime library {path}: {message} (set enrich.onnxruntime_path or ORT_DYLIB_PATH; `deploy/install.sh` installs it)")]
    Runtime { path: PathBuf, message: String },
    #[error("model file {path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("model metadata {path}: {message}")]
    Meta { path: PathBuf, message: String },
    #[error("encoder model file {path} (enrich.encoder_path): {message}")]
    EncoderLoad { path: PathBuf, message: String },
    #[error("encoder metadata {path} (enrich.encoder_meta_path, default: the encoder path with .meta.json): {message}")]
    EncoderMeta { path: PathBuf, message: String },
    #[error("inference failed: {0}")]
    Inference(String),
}

/// The sidecar describing a model file.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelMeta {
    pub model_version: String,
    pub sentiment_labels: Vec<String>,
    pub tag_ids: Vec<String>,
    pub thresholds: Vec<f32>,
    /// When no tag reaches its threshold, the most likely tag is kept if its
    /// probability reaches this (absent: no fallback). Chosen with the
    /// thresholds on out-of-fold predictions (models/train.py).
    #[serde(default)]
    pub tag_fallback_threshold: Option<f32>,
    /// A tag passes only if its probability also reaches this share of the
    /// item's most likely tag (absent: no such condition). It drops weak
    /// second tags beside a confident first one. Chosen with the fallback on
    /// out-of-fold predictions (models/train.py).
    #[serde(default)]
    pub tag_relative_threshold: Option<f32>,
}

/// Probabilities for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// P(negative), P(neutral), P(positive).
    pub sentiment: [f32; 3],
    /// One probability per entry of `ModelMeta::tag_ids`.
    pub tags: Vec<f32>,
}

static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// The process's one ONNX Runtime environment (the library is loaded once).
pub(crate) fn runtime(dylib: &Path) -> Result<&'static ort::environment::Environment, ModelError> {
    RUNTIME
        .get_or_init(|| {
            ort::init_from(dylib)
                .map_err(|e| e.to_string())?
                .with_name("voc")
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|message| ModelError::Runtime {
            path: dylib.to_path_buf(),
            message: message.clone(),
        })
}

/// An ONNX Runtime session of `onnx` with `intra_threads` intra-op threads
/// (at least 1) and one inter-op thread; the error is ort's message.
pub(crate) fn open_session(
    env: &ort::environment::Environment,
    onnx: &Path,
    intra_threads: usize,
) -> Result<Session, String> {
    let s = |e: ort::Error<_>| e.to_string();
    Session::builder(env)
        .map_err(|e| e.to_string())?
        .with_intra_threads(intra_threads.max(1))
        .map_err(s)?
        .with_inter_threads(1)
        .map_err(s)?
        .commit_from_file(onnx)
        .map_err(|e| e.to_string())
}

pub struct TextModel {
    session: Session,
    meta: ModelMeta,
}

impl TextModel {
    pub fn load(
        onnx: &Path,
        meta: &Path,
        dylib: &Path,
        intra_threads: usize,
    ) -> Result<Self, ModelError> {
        let meta_text = std::fs::read_to_string(meta).map_err(|e| ModelError::Meta {
            path: meta.to_path_buf(),
            message: e.to_string(),
        })?;
        let meta_parsed: ModelMeta =
            serde_json::from_str(&meta_text).map_err(|e| ModelError::Meta {
                path: meta.to_path_buf(),
                message: e.to_string(),
            })?;
        if meta_parsed.tag_ids.len() != meta_parsed.thresholds.len()
            || meta_parsed.sentiment_labels.len() != 3
        {
            return Err(ModelError::Meta {
                path: meta.to_path_buf(),
                message:
                    "tag_ids and thresholds differ in length, or sentiment_labels is not 3 long"
                        .into(),
            });
        }
        let env = runtime(dylib)?;
        let load_err = |message: String| ModelError::Load {
            path: onnx.to_path_buf(),
            message,
        };
        let session = open_session(env, onnx, intra_threads).map_err(load_err)?;
        Ok(TextModel {
            session,
            meta: meta_parsed,
        })
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// Run one batch; rows are padded to the longest item.
    pub fn predict(&mut self, batch: &[&FeatureVec]) -> Result<Vec<Prediction>, ModelError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let width = batch.iter().map(|f| f.ids.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; batch.len() * width];
        let mut weights = vec![0f32; batch.len() * width];
        for (row, f) in batch.iter().enumerate() {
            ids[row * width..row * width + f.ids.len()].copy_from_slice(&f.ids);
            weights[row * width..row * width + f.weights.len()].copy_from_slice(&f.weights);
        }
        let shape = [batch.len(), width];
        let err = |e: ort::Error| ModelError::Inference(e.to_string());
        let ids_t = TensorRef::from_array_view((shape, &*ids)).map_err(err)?;
        let w_t = TensorRef::from_array_view((shape, &*weights)).map_err(err)?;
        let outputs = self
            .session
            .run(ort::inputs!["ids" => ids_t, "weights" => w_t])
            .map_err(err)?;
        let (_, sent) = outputs["sentiment"]
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        let (_, tags) = outputs["tags"].try_extract_tensor::<f32>().map_err(err)?;
        let t = self.meta.tag_ids.len();
        if sent.len() != batch.len() * 3 || tags.len() != batch.len() * t {
            return Err(ModelError::Inference(format!(
                "model returned {} sentiment and {} tag values for {} rows and {t} tags",
                sent.len(),
                tags.len(),
                batch.len()
            )));
        }
        Ok((0..batch.len())
            .map(|r| Prediction {
                sentiment: [sent[r * 3], sent[r * 3 + 1], sent[r * 3 + 2]],
                tags: tags[r * t..(r + 1) * t].to_vec(),
            })
            .collect())
    }
}

/// Predictions for `feats`, in their order, by calls of at most `batch` rows.
///
/// A model call pads every row to its widest (the feature counts of a short
/// app review and a long community post differ tenfold, and padded rows cost
/// as much as real ones), so rows go to `predict` in order of width: on the
/// generator's channel mix this halves the cells. The worker and the bench
/// both call this, so the bench measures what the worker does.
pub fn predict_by_width<F>(
    feats: &[&FeatureVec],
    batch: usize,
    mut predict: F,
) -> Result<Vec<Prediction>, ModelError>
where
    F: FnMut(&[&FeatureVec]) -> Result<Vec<Prediction>, ModelError>,
{
    let mut order: Vec<usize> = (0..feats.len()).collect();
    order.sort_by_key(|&i| feats[i].ids.len());
    let mut out: Vec<Option<Prediction>> = vec![None; feats.len()];
    for chunk in order.chunks(batch.max(1)) {
        let rows: Vec<&FeatureVec> = chunk.iter().map(|&i| feats[i]).collect();
        let preds = predict(&rows)?;
        if preds.len() != rows.len() {
            return Err(ModelError::Inference(format!(
                "the model returned {} predictions for {} rows",
                preds.len(),
                rows.len()
            )));
        }
        for (&i, p) in chunk.iter().zip(preds) {
            out[i] = Some(p);
        }
    }
    Ok(out
        .into_iter()
        .map(|p| p.expect("every row was predicted"))
        .collect())
}
