//! The enrichment stage: a batch of [`Feedback`] in, a batch of
//! [`EnrichedEvent`] out, in the same order.
//!
//! Per item: normalize -> mask PII -> segment -> featurize; then one batched
//! model call for the whole batch; then derive sentiment, tags, routing, NPS.
//! Identity keys that look like PII (a phone number used as a customer id) are
//! replaced by their keyed pseudonym ([`voc_core::pseudonym`]) so joins still
//! work but the number is gone.

use crate::clause;
use crate::derive::{self, InferencePolicy};
use crate::encoder::{self, Encoder};
use crate::features::{featurize, FeatureVec};
use crate::model::{ModelError, ModelMeta, Prediction, TextModel};
use crate::normalize::normalize;
use crate::segment::{Segmenter, BUNDLED_DICT};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use voc_core::event::EVENT_SCHEMA;
use voc_core::pii::{self, PiiKind};
use voc_core::pseudonym::{masked_key, PseudonymKey};
use voc_core::secret::Secret;
use voc_core::{
    EnrichedEvent, Feedback, Keys, Sentiment, SentimentLabel, SentimentSource, TagScore, Taxonomy,
    Tokens,
};

/// Settings of the enrichment stage (`[enrich]` in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// The ONNX text model (sentiment + tags).
    pub model_path: PathBuf,
    /// Its metadata sidecar; default: the model path with `.meta.json`.
    pub model_meta_path: Option<PathBuf>,
    /// libonnxruntime.so, an absolute path; default: $ORT_DYLIB_PATH (also
    /// absolute). A relative path is refused: it would let the working
    /// directory choose the library that is loaded into the process.
    pub onnxruntime_path: Option<PathBuf>,
    /// ONNX Runtime intra-op threads of the model session (1 is best).
    pub intra_threads: usize,
    /// Threads that enrich one batch in parallel, sharing the segmenter and
    /// the model session (0 = one per available core).
    pub threads: usize,
    /// A jieba user dictionary replacing the bundled banking dictionary.
    pub user_dict_path: Option<PathBuf>,
    /// Longer customer text is truncated (and flagged) at this many characters.
    pub max_text_chars: usize,
    /// Number of TF-IDF keywords kept per item.
    pub keywords: usize,
    /// Items per model call. 16 is fastest on one core: the gathered
    /// [rows, features, outputs] float block (~330 KB at 16 rows of ~65
    /// features) then stays in the core's L2 cache (docs/benchmarks.md).
    pub model_batch: usize,
    /// Secret key of the pseudonyms (HMAC-SHA256) that replace identity keys
    /// which look like PII, and of the customer keys in alerts. Empty by
    /// default: commands that pseudonymize refuse to start without one
    /// (or without `--demo`). A string, `{ env = "NAME" }` or
    /// `{ file = "/path" }`; never printed.
    pub pseudonym_key: Secret,
    /// The optional "accurate" sentiment model (fine-tuned
    /// multilingual-e5-small, int8 ONNX; models/encoder/): when set, each
    /// item's sentiment is the blend of both models' probabilities, and each
    /// of the `threads` has an encoder session of its own. None: off.
    pub encoder_path: Option<PathBuf>,
    /// Its metadata sidecar; default: the encoder path with `.meta.json`.
    pub encoder_meta_path: Option<PathBuf>,
    /// NPS inference and tag limits.
    pub inference: InferencePolicy,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            model_path: PathBuf::from("models/voc-text.onnx"),
            model_meta_path: None,
            onnxruntime_path: None,
            intra_threads: 1,
            threads: 0,
            user_dict_path: None,
            max_text_chars: 2000,
            keywords: 5,
            model_batch: 16,
            pseudonym_key: Secret::default(),
            encoder_path: None,
            encoder_meta_path: None,
            inference: InferencePolicy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("reading user dictionary {path}: {message}")]
    Dict { path: PathBuf, message: String },
    #[error("no ONNX Runtime library configured: set enrich.onnxruntime_path or ORT_DYLIB_PATH to the absolute path of libonnxruntime.so (deploy/install.sh installs one into .venv; source deploy/local/env.sh sets ORT_DYLIB_PATH to it)")]
    NoRuntime,
    #[error("ONNX Runtime library {path} (from {from}) is a relative path: give an absolute one (a relative path lets the working directory choose the library that is loaded)")]
    RelativeRuntime { from: &'static str, path: PathBuf },
    #[error("enrich.encoder_meta_path is set but enrich.encoder_path is not: set both, or neither to run without the encoder")]
    EncoderMetaWithoutEncoder,
}

impl EnrichConfig {
    /// Checks that need no file: the library path, when set, is absolute;
    /// an encoder sidecar comes with an encoder.
    pub fn validate(&self) -> Result<(), EnrichError> {
        if self.encoder_meta_path.is_some() && self.encoder_path.is_none() {
            return Err(EnrichError::EncoderMetaWithoutEncoder);
        }
        match &self.onnxruntime_path {
            Some(p) => absolute(p.clone(), "enrich.onnxruntime_path").map(|_| ()),
            None => Ok(()),
        }
    }

    /// The encoder's sidecar: `encoder_meta_path`, else the encoder path
    /// with `.meta.json`; None without an encoder.
    pub fn encoder_meta(&self) -> Option<PathBuf> {
        let onnx = self.encoder_path.as_ref()?;
        Some(
            self.encoder_meta_path
                .clone()
                .unwrap_or_else(|| onnx.with_extension("meta.json")),
        )
    }
}

fn absolute(path: PathBuf, from: &'static str) -> Result<PathBuf, EnrichError> {
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(EnrichError::RelativeRuntime { from, path })
    }
}

/// The libonnxruntime to load: `enrich.onnxruntime_path`, else
/// $ORT_DYLIB_PATH; either must be absolute. Nothing is searched for
/// relative to the working directory.
pub fn resolve_onnxruntime(explicit: Option<&Path>) -> Result<PathBuf, EnrichError> {
    runtime_from(explicit, std::env::var_os("ORT_DYLIB_PATH"))
}

fn runtime_from(
    explicit: Option<&Path>,
    env: Option<std::ffi::OsString>,
) -> Result<PathBuf, EnrichError> {
    match (explicit, env) {
        (Some(p), _) => absolute(p.to_path_buf(), "enrich.onnxruntime_path"),
        (None, Some(p)) if !p.is_empty() => absolute(PathBuf::from(p), "ORT_DYLIB_PATH"),
        _ => Err(EnrichError::NoRuntime),
    }
}

/// Text made ready for the model: what `voc featurize` prints for training.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prepared {
    pub text: String,
    pub truncated: bool,
    #[serde(skip)]
    pub pii: Vec<PiiKind>,
    pub tokens: Tokens,
    pub features: FeatureVec,
}

/// The text pipeline without the model: normalize, mask, segment, featurize.
pub struct TextPipeline {
    segmenter: Segmenter,
    max_text_chars: usize,
}

impl TextPipeline {
    pub fn new(cfg: &EnrichConfig) -> Result<Self, EnrichError> {
        let dict = match &cfg.user_dict_path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| EnrichError::Dict {
                path: p.clone(),
                message: e.to_string(),
            })?,
            None => BUNDLED_DICT.to_string(),
        };
        let segmenter = Segmenter::new(&dict).map_err(|e| EnrichError::Dict {
            path: cfg.user_dict_path.clone().unwrap_or_default(),
            message: e.to_string(),
        })?;
        Ok(TextPipeline {
            segmenter,
            max_text_chars: cfg.max_text_chars,
        })
    }

    pub fn prepare(&self, raw: &str) -> Prepared {
        let n = normalize(raw, self.max_text_chars);
        let masked = pii::mask(&n.text);
        let words = self.segmenter.words(&masked.text);
        let features = featurize(&masked.text, &words);
        let tokens: Tokens = words.into_iter().collect();
        Prepared {
            text: masked.text,
            truncated: n.truncated,
            pii: masked.kinds,
            tokens,
            features,
        }
    }

    pub fn segmenter(&self) -> &Segmenter {
        &self.segmenter
    }

    /// Normalize and mask text that is stored but not classified (agent turns).
    pub fn clean(&self, raw: &str) -> (String, Vec<PiiKind>) {
        let m = pii::mask(&normalize(raw, self.max_text_chars).text);
        (m.text, m.kinds)
    }
}

/// The enrichment stage. A batch is split into contiguous slices enriched in
/// parallel, one thread per slice. The segmenter (jieba, ~100 ms to build) and
/// the ONNX Runtime session (~44 MB each) are shared: a thread holds the model
/// only for one call of `model_batch` rows at a time and prepares its next
/// window of rows in between, so the threads rarely wait for each other.
/// The optional encoder is many times heavier per item: it has one session
/// per thread ([`Encoder`]).
/// Scores can differ in their last float bits with the rows a call groups.
pub struct Enricher {
    shards: Vec<Shard>,
}

/// Items per thread below which a batch is not split (thread start-up and a
/// model call per slice would cost more than they save).
const MIN_ITEMS_PER_THREAD: usize = 64;

/// Model calls per window of prepared items: rows are sorted by width within
/// a window, so wider windows pad less; narrower ones let the threads take
/// turns on the shared model more often.
const ROWS_PER_WINDOW: usize = 4;

impl Enricher {
    /// `key` makes the pseudonyms (checked by its constructor; `cfg.pseudonym_key` is not read here).
    /// With `cfg.encoder_path`, the encoder is loaded too (a missing or bad
    /// file fails here) and, unless `cfg.inference.detractor_at_or_below`
    /// is set, its sidecar's detractor line replaces the fast model's.
    pub fn new(
        mut cfg: EnrichConfig,
        taxonomy: Arc<Taxonomy>,
        key: PseudonymKey,
    ) -> Result<Self, EnrichError> {
        cfg.validate()?;
        let text = Arc::new(TextPipeline::new(&cfg)?);
        let runtime = resolve_onnxruntime(cfg.onnxruntime_path.as_deref())?;
        let meta = cfg
            .model_meta_path
            .clone()
            .unwrap_or_else(|| cfg.model_path.with_extension("meta.json"));
        let threads = match cfg.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let model = TextModel::load(&cfg.model_path, &meta, &runtime, cfg.intra_threads)?;
        let meta = model.meta().clone();
        let model = Arc::new(Mutex::new(model));
        let encoder = match (&cfg.encoder_path, cfg.encoder_meta()) {
            (Some(onnx), Some(sidecar)) => Some(Arc::new(Encoder::load(
                onnx,
                &sidecar,
                &runtime,
                cfg.intra_threads,
                threads,
            )?)),
            _ => None,
        };
        // Stored with every event: which model(s) produced its sentiment.
        let model_version = match &encoder {
            Some(e) => format!("{}+{}", meta.model_version, e.meta().model_version),
            None => meta.model_version.clone(),
        };
        if let Some(e) = &encoder {
            let line = &mut cfg.inference.detractor_at_or_below;
            line.get_or_insert(e.meta().detractor_lines.detractor_at_or_below);
        }
        let shards = (0..threads)
            .map(|_| Shard {
                text: text.clone(),
                model: model.clone(),
                encoder: encoder.clone(),
                model_version: model_version.clone(),
                meta: meta.clone(),
                taxonomy: taxonomy.clone(),
                cfg: cfg.clone(),
                key: key.clone(),
            })
            .collect();
        Ok(Enricher { shards })
    }

    /// The fast model's version, `+` the encoder's when it is on
    /// (`voc-linear-20261206+voc-e5-20261206`): the events' `model_version`.
    pub fn model_version(&self) -> &str {
        &self.shards[0].model_version
    }

    /// The sentiment score at or below which an item without a 0-10 score is
    /// an inferred detractor (configured, else the active model's line).
    pub fn detractor_line(&self) -> f32 {
        self.shards[0].cfg.inference.detractor_line()
    }

    /// The high-severity line the active model's sidecar chose for alerts
    /// (`alert.detractor.high_at_or_below_sentiment` when that is unset): the
    /// encoder's with it on; None for the fast model alone, whose line is the
    /// alert crate's default.
    pub fn high_line(&self) -> Option<f32> {
        let encoder = self.shards[0].encoder.as_ref()?;
        Some(encoder.meta().detractor_lines.high_at_or_below_sentiment)
    }

    /// Threads a large batch is split across.
    pub fn threads(&self) -> usize {
        self.shards.len()
    }

    /// Enrich a batch; output order equals input order.
    pub fn enrich(
        &mut self,
        items: Vec<Feedback>,
        ingest_time: DateTime<Utc>,
    ) -> Result<Vec<EnrichedEvent>, ModelError> {
        let parts = self
            .shards
            .len()
            .min(items.len() / MIN_ITEMS_PER_THREAD)
            .max(1);
        if parts == 1 {
            return self.shards[0].enrich(items, ingest_time);
        }
        let per_part = items.len().div_ceil(parts);
        let mut slices: Vec<Vec<Feedback>> = Vec::with_capacity(parts);
        let mut rest = items.into_iter();
        for _ in 0..parts {
            slices.push(rest.by_ref().take(per_part).collect());
        }
        let results: Vec<Result<Vec<EnrichedEvent>, ModelError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = slices
                .into_iter()
                .zip(self.shards.iter_mut())
                .map(|(slice, shard)| scope.spawn(move || shard.enrich(slice, ingest_time)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("an enrichment thread panicked"))
                .collect()
        });
        let mut out = Vec::new();
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }
}

/// One thread's share of the stage.
struct Shard {
    text: Arc<TextPipeline>,
    model: Arc<Mutex<TextModel>>,
    /// The optional accurate sentiment model, blended into the fast model's sentiment.
    encoder: Option<Arc<Encoder>>,
    model_version: String,
    meta: ModelMeta,
    taxonomy: Arc<Taxonomy>,
    cfg: EnrichConfig,
    key: PseudonymKey,
}

impl Shard {
    /// Enrich a slice; output order equals input order.
    fn enrich(
        &mut self,
        items: Vec<Feedback>,
        ingest_time: DateTime<Utc>,
    ) -> Result<Vec<EnrichedEvent>, ModelError> {
        // Prepare and predict window by window (see [`Enricher`]); a window
        // holds a few model calls' worth of rows, sorted by width.
        let window = self.cfg.model_batch.max(1) * ROWS_PER_WINDOW;
        let mut prepared: Vec<Prepared> = Vec::with_capacity(items.len());
        let mut predictions = vec![None; items.len()];
        for start in (0..items.len()).step_by(window) {
            let end = (start + window).min(items.len());
            prepared.extend(
                items[start..end]
                    .iter()
                    .map(|f| self.text.prepare(&f.voice)),
            );
            let with_text: Vec<usize> = (start..end)
                .filter(|&i| !prepared[i].text.is_empty())
                .collect();
            if with_text.is_empty() {
                continue;
            }
            let feats: Vec<&FeatureVec> =
                with_text.iter().map(|&i| &prepared[i].features).collect();
            for (&i, p) in with_text.iter().zip(self.predict_by_width(&feats)?) {
                predictions[i] = Some(p);
            }
            if let Some(enc) = &self.encoder {
                let texts: Vec<&str> = with_text
                    .iter()
                    .map(|&i| prepared[i].text.as_str())
                    .collect();
                let (w, t) = (enc.meta().blend_weight, enc.meta().blend_temperature);
                for (&i, p_enc) in with_text.iter().zip(enc.sentiment(&texts)?) {
                    let p = predictions[i].as_mut().expect("predicted above");
                    p.sentiment = encoder::blend(p.sentiment, p_enc, w, t);
                }
            }
        }
        let meta = &self.meta;
        let mut analysed: Vec<(Sentiment, Vec<TagScore>)> = items
            .iter()
            .zip(&predictions)
            .map(|(fb, pred)| match pred {
                Some(p) => {
                    let sentiment = derive::sentiment_from_model(p);
                    let tags = derive::tags_from_model(
                        p,
                        meta,
                        &self.taxonomy,
                        self.cfg.inference.max_tags,
                        sentiment.score,
                    );
                    (sentiment, tags)
                }
                None => (wordless_sentiment(fb), Vec::new()),
            })
            .collect();
        self.aspect_sentiments(&prepared, &mut analysed, &meta.tag_ids)?;
        let mut out = Vec::with_capacity(items.len());
        for ((fb, prep), (sentiment, tags)) in items.into_iter().zip(prepared).zip(analysed) {
            let (categories, experience, departments) = derive::routing(&tags, &self.taxonomy);
            let nps = derive::nps(fb.nps_score, &sentiment, &self.cfg.inference);
            let (context_text, context_pii) = self.text.clean(&fb.context);
            let (keys, key_pii) = self.protect_keys(fb.keys.clone());
            let mut pii_kinds: Vec<PiiKind> = prep
                .pii
                .iter()
                .chain(&context_pii)
                .chain(&key_pii)
                .copied()
                .collect();
            pii_kinds.sort();
            pii_kinds.dedup();
            let keywords = self
                .text
                .segmenter()
                .keywords(prep.tokens.iter(), self.cfg.keywords);
            out.push(EnrichedEvent {
                schema: EVENT_SCHEMA.to_string(),
                event_id: fb.event_id(),
                source_id: pseudonymize_if_pii(&fb.source_id, &self.key),
                channel: fb.channel,
                event_time: fb.event_time,
                ingest_time,
                event_time_source: fb.event_time_source,
                keys,
                text: prep.text,
                context_text,
                tokens: prep.tokens,
                keywords,
                sentiment,
                tags,
                categories,
                experience,
                departments,
                nps,
                star_rating: fb.star_rating,
                wait_minutes: fb.wait_minutes,
                duration_s: fb.duration_s,
                likes: fb.likes,
                pii_masked: pii_kinds.iter().map(|k| k.as_str().to_string()).collect(),
                text_truncated: prep.truncated,
                source_encoding: fb.source_encoding.to_string(),
                model_version: self.model_version.clone(),
                taxonomy_version: self.taxonomy.version().to_string(),
                lineage: fb.lineage,
            });
        }
        Ok(out)
    }

    /// Predictions for `feats`, in their order, `model_batch` rows a call
    /// in order of width (see [`crate::model::predict_by_width`]).
    fn predict_by_width(&self, feats: &[&FeatureVec]) -> Result<Vec<Prediction>, ModelError> {
        crate::model::predict_by_width(feats, self.cfg.model_batch, |rows| self.predict(rows))
    }

    fn predict(&self, feats: &[&FeatureVec]) -> Result<Vec<Prediction>, ModelError> {
        self.model
            .lock()
            .map_err(|_| ModelError::Inference("the model lock was poisoned by a panic".into()))?
            .predict(feats)
    }

    /// Aspect-level sentiment: for items with two or more tags and several
    /// clauses, each tag takes the sentiment of the clause where the model
    /// finds it most strongly (a single tag keeps the item's sentiment). One
    /// batched model call covers the clauses of the whole batch.
    fn aspect_sentiments(
        &self,
        prepared: &[Prepared],
        analysed: &mut [(Sentiment, Vec<TagScore>)],
        tag_ids: &[String],
    ) -> Result<(), ModelError> {
        let mut owners: Vec<usize> = Vec::new();
        let mut clause_feats: Vec<FeatureVec> = Vec::new();
        for (i, prep) in prepared.iter().enumerate() {
            if analysed[i].1.len() < 2 {
                continue;
            }
            let clauses = clause::split(&prep.text);
            if clauses.len() < 2 {
                continue;
            }
            for c in clauses {
                let words = self.text.segmenter().words(c);
                clause_feats.push(featurize(c, &words));
                owners.push(i);
            }
        }
        if clause_feats.is_empty() {
            return Ok(());
        }
        let refs: Vec<&FeatureVec> = clause_feats.iter().collect();
        let preds = self.predict_by_width(&refs)?;
        let index: std::collections::HashMap<&str, usize> = tag_ids
            .iter()
            .enumerate()
            .map(|(j, t)| (t.as_str(), j))
            .collect();
        let mut start = 0;
        while start < owners.len() {
            let item = owners[start];
            let end = start + owners[start..].iter().take_while(|&&o| o == item).count();
            for tag in analysed[item].1.iter_mut() {
                let Some(&j) = index.get(tag.id.as_str()) else {
                    continue;
                };
                let best = preds[start..end]
                    .iter()
                    .max_by(|a, b| a.tags[j].total_cmp(&b.tags[j]))
                    .expect("at least two clauses");
                tag.sentiment = derive::sentiment_from_model(best).score;
            }
            start = end;
        }
        Ok(())
    }

    /// Identity keys are pseudonymized when they look like PII; descriptive keys are masked.
    fn protect_keys(&self, mut k: Keys) -> (Keys, Vec<PiiKind>) {
        let mut kinds = Vec::new();
        for id in [&mut k.customer, &mut k.device, &mut k.staff] {
            if let Some(v) = id.as_mut() {
                let m = pii::mask(v);
                if !m.kinds.is_empty() {
                    kinds.extend(m.kinds);
                    *v = masked_key(&self.key, v);
                }
            }
        }
        for d in [
            &mut k.branch,
            &mut k.city,
            &mut k.product,
            &mut k.journey_node,
            &mut k.app_version,
            &mut k.os,
            &mut k.platform,
            &mut k.thread,
        ] {
            if let Some(v) = d.as_mut() {
                let m = pii::mask(v);
                if !m.kinds.is_empty() {
                    kinds.extend(m.kinds);
                    *v = m.text;
                }
            }
        }
        (k, kinds)
    }
}

fn wordless_sentiment(fb: &Feedback) -> Sentiment {
    match (fb.nps_score, fb.star_rating) {
        (Some(s), _) => derive::sentiment_from_score(s),
        (None, Some(stars)) => derive::sentiment_from_stars(stars),
        (None, None) => Sentiment {
            label: SentimentLabel::Neutral,
            score: 0.0,
            source: SentimentSource::Score,
        },
    }
}

fn pseudonymize_if_pii(value: &str, key: &PseudonymKey) -> String {
    if pii::contains_pii(value) {
        masked_key(key, value)
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_library_path_must_be_absolute() {
        let abs = Path::new("/opt/onnxruntime/lib/libonnxruntime.so");
        assert_eq!(runtime_from(Some(abs), None).unwrap(), abs);
        assert_eq!(runtime_from(None, Some(abs.into())).unwrap(), abs);
        let e = runtime_from(Some(Path::new("lib/libonnxruntime.so")), Some(abs.into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("enrich.onnxruntime_path") && e.contains("relative"),
            "{e}"
        );
        let e = runtime_from(None, Some("libonnxruntime.so".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ORT_DYLIB_PATH") && e.contains("absolute"),
            "{e}"
        );
        // No search in the working directory (a ./.venv there is not used).
        assert!(matches!(
            runtime_from(None, None),
            Err(EnrichError::NoRuntime)
        ));
        assert!(matches!(
            runtime_from(None, Some("".into())),
            Err(EnrichError::NoRuntime)
        ));
        let cfg = EnrichConfig {
            onnxruntime_path: Some("models/libonnxruntime.so".into()),
            ..EnrichConfig::default()
        };
        assert!(cfg.validate().is_err());
        assert!(EnrichConfig::default().validate().is_ok());
    }

    #[test]
    fn prepare_masks_before_segmenting() {
        let p = TextPipeline::new(&EnrichConfig::default()).unwrap();
        let out = p.prepare("我的手機號１３８１２３４５６７８，轉賬一直失敗");
        assert_eq!(out.text, "我的手机号[PHONE],转账一直失败");
        assert!(out.tokens.iter().all(|t| !t.contains("138")));
        assert_eq!(out.pii, vec![PiiKind::Phone]);
        assert!(!out.features.ids.is_empty());
    }

    #[test]
    fn only_pii_ids_are_pseudonymized() {
        let key = PseudonymKey::demo();
        assert_eq!(pseudonymize_if_pii("C1001", &key), "C1001");
        assert_eq!(
            pseudonymize_if_pii("13812345678", &key),
            masked_key(&key, "13812345678")
        );
    }

    #[test]
    fn the_default_key_is_empty_and_never_printed() {
        // Defaults go through figment as serialized values; a set secret
        // serializes as "***", so a non-empty default would become that.
        assert!(EnrichConfig::default().pseudonym_key.is_empty());
        let cfg = EnrichConfig {
            pseudonym_key: Secret::new("a-long-enough-random-key"),
            ..EnrichConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("a-long-enough"));
        assert!(!serde_json::to_string(&cfg)
            .unwrap()
            .contains("a-long-enough"));
    }
}
