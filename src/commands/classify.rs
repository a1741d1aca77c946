//! `voc classify` and `voc featurize`: the enrichment pipeline on stdin/stdout,
//! without Kafka or ClickHouse.

use super::{ConfigArgs, DemoArgs};
use chrono::Utc;
use serde_json::{json, Value};
use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use voc_core::{Channel, Feedback, Lineage};
use voc_enrich::{Enricher, TextPipeline};
use voc_ingest::{decode, DecodeContext};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub demo: DemoArgs,
    /// Channel of the input: lines that are JSON objects are decoded with this
    /// channel's contract (ingest/schemas/); other lines are plain text.
    /// One of app, call_center, community, branch.
    #[arg(long, default_value = "app")]
    pub channel: Channel,
    /// Lines per model batch.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
}

#[derive(clap::Args)]
pub struct FeaturizeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The encoder's sidecar (models/voc-encoder.meta.json): also print
    /// "encoder_ids", the encoder's input ids of the text (with <s> and </s>,
    /// after truncation), for the tokenizer parity check of models/encoder/.
    #[arg(long, value_name = "PATH")]
    pub encoder_meta: Option<PathBuf>,
}

/// One input line: a decoded item, or the reason it could not be used.
enum Line {
    Item(Box<Feedback>),
    Error(Value),
}

pub fn classify(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    super::init_logging(&cfg.log);
    let key = args.demo.pseudonym_key(&cfg)?;
    let zone = cfg.decode.zone().map_err(anyhow::Error::msg)?;
    let mut enricher = Enricher::new(
        cfg.enrich.clone(),
        Arc::new(voc_core::Taxonomy::bundled()),
        key,
    )?;
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut lines = stdin.lock().lines().enumerate().peekable();
    while lines.peek().is_some() {
        let mut chunk: Vec<Line> = Vec::with_capacity(args.batch);
        for (n, line) in lines.by_ref().take(args.batch.max(1)) {
            let line = line?;
            let now = Utc::now();
            let trimmed = line.trim_start();
            chunk.push(if trimmed.starts_with('{') {
                let ctx = DecodeContext {
                    zone,
                    now,
                    max_payload_bytes: cfg.decode.max_payload_bytes,
                    broker_time: Some(now),
                    lineage: Lineage {
                        topic: "stdin".into(),
                        partition: 0,
                        offset: n as i64,
                    },
                };
                match decode(args.channel, Some(line.as_bytes()), &ctx) {
                    Ok(f) => Line::Item(Box::new(f)),
                    Err(e) => Line::Error(json!({"line": n + 1, "error": {"reason": e.reason, "field": e.field, "detail": e.detail}})),
                }
            } else if trimmed.is_empty() {
                Line::Error(json!({"line": n + 1, "error": {"reason": "empty_feedback", "field": null, "detail": "empty line"}}))
            } else {
                Line::Item(Box::new(Feedback::from_text(args.channel, format!("stdin-{}", n + 1), line.as_str(), now)))
            });
        }
        let items: Vec<Feedback> = chunk
            .iter()
            .filter_map(|l| match l {
                Line::Item(f) => Some((**f).clone()),
                Line::Error(_) => None,
            })
            .collect();
        let mut events = enricher.enrich(items, Utc::now())?.into_iter();
        for l in &chunk {
            match l {
                Line::Item(_) => {
                    serde_json::to_writer(&mut out, &events.next().expect("one event per item"))?
                }
                Line::Error(v) => serde_json::to_writer(&mut out, v)?,
            }
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Input lines are JSON objects with a "text" field, or plain text.
pub fn featurize(args: FeaturizeArgs) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    let pipeline = TextPipeline::new(&cfg.enrich)?;
    let tokenizer = match &args.encoder_meta {
        Some(path) => Some(voc_enrich::encoder::load_meta(path)?.1),
        None => None,
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let text = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(o)) => o
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => line,
        };
        let prepared = pipeline.prepare(&text);
        match &tokenizer {
            Some(t) => {
                let mut row = serde_json::to_value(&prepared)?;
                row["encoder_ids"] = json!(t.encode(&prepared.text));
                serde_json::to_writer(&mut out, &row)?
            }
            None => serde_json::to_writer(&mut out, &prepared)?,
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
