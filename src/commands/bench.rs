//! `voc bench`: the ceilings the worker runs under, measured on the real
//! stack. `consume` drains the raw topics with a fresh consumer group and does
//! nothing else (the most the broker + librdkafka deliver to one process);
//! `insert` writes enriched rows into ClickHouse in worker-sized inserts and
//! nothing else (the most the sink accepts). bench/run.sh runs both beside the
//! end-to-end numbers, so each stage's share can be read off one run.
//! `queries` (module `bench_queries`) times the saved analyst queries.

use super::{ConfigArgs, DemoArgs};
use anyhow::Context as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voc_core::{Lineage, Taxonomy};
use voc_enrich::Enricher;
use voc_ingest::{decode, DecodeContext, TopicMap};
use voc_sink::ClickHouseSink;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Consume ceiling: drain the configured raw topics from the beginning
    /// with a throw-away consumer group, touching each payload and nothing
    /// more. Produce input first (`voc gen --count N`).
    Consume(ConsumeArgs),
    /// Insert ceiling: write generated, enriched rows into ClickHouse in
    /// inserts of `batch.insert_max_events` rows (the worker's while it
    /// drains a backlog), nothing else. Uses the database
    /// `<clickhouse.database>_bench` (created if missing) so real data is untouched.
    Insert(InsertArgs),
    /// Saved-query timings: load millions of synthetic events into a separate
    /// database, time each saved query (warm, median of runs), drop the database.
    Queries(super::bench_queries::Args),
}

#[derive(clap::Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Stop after this many messages.
    #[arg(long)]
    pub count: u64,
    /// Give up when no message arrived for this long (milliseconds).
    #[arg(long, default_value_t = 10_000)]
    pub idle_ms: u64,
}

#[derive(clap::Args)]
pub struct InsertArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub demo: DemoArgs,
    /// Rows to insert in all.
    #[arg(long, default_value_t = 200_000)]
    pub count: usize,
    /// Rows per insert (default: the worker's largest, `batch.insert_max_events`).
    #[arg(long)]
    pub batch: Option<usize>,
}

#[derive(Serialize)]
struct Ceiling {
    what: &'static str,
    items: u64,
    seconds: f64,
    items_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    mb_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let result = match args.action {
        Action::Consume(a) => consume(a)?,
        Action::Insert(a) => insert(a)?,
        Action::Queries(a) => return super::bench_queries::run(a),
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

fn consume(args: ConsumeArgs) -> anyhow::Result<Ceiling> {
    let cfg = args.config.load()?;
    super::runtime()?.block_on(async {
        let mut cc = cfg.kafka.consumer_config();
        cc.set("group.id", format!("voc-bench-consume-{}", std::process::id()))
            .set("auto.offset.reset", "earliest");
        let consumer: StreamConsumer = cc.create().context("creating the consumer")?;
        let topics = TopicMap::new(&cfg.kafka.topics);
        consumer.subscribe(&topics.topics())?;
        let (mut n, mut bytes) = (0u64, 0u64);
        let mut first: Option<Instant> = None;
        while n < args.count {
            match tokio::time::timeout(Duration::from_millis(args.idle_ms), consumer.recv()).await
            {
                Err(_) => anyhow::bail!(
                    "only {n} of {} messages arrived before {} ms of silence (produce them first: voc gen --count N)",
                    args.count,
                    args.idle_ms
                ),
                Ok(Err(e)) => anyhow::bail!("consuming: {e}"),
                Ok(Ok(m)) => {
                    first.get_or_insert_with(Instant::now);
                    bytes += m.payload().map_or(0, |p| p.len() as u64);
                    n += 1;
                }
            }
        }
        let secs = first.map_or(0.0, |t| t.elapsed().as_secs_f64()).max(1e-9);
        Ok(Ceiling {
            what: "consume",
            items: n,
            seconds: secs,
            items_per_s: n as f64 / secs,
            mb_per_s: Some(bytes as f64 / secs / 1e6),
            batch: None,
        })
    })
}

fn insert(args: InsertArgs) -> anyhow::Result<Ceiling> {
    let mut cfg = args.config.load()?;
    super::init_logging(&cfg.log);
    let batch = args
        .batch
        .unwrap_or(cfg.batch.insert_max_events.max(cfg.batch.max_events))
        .max(1);
    cfg.clickhouse.database = format!("{}_bench", cfg.clickhouse.database);
    // One batch of realistic rows, enriched once; each insert re-keys it.
    let taxonomy = Arc::new(Taxonomy::bundled());
    let key = args.demo.pseudonym_key(&cfg)?;
    let mut enricher = Enricher::new(cfg.enrich.clone(), taxonomy.clone(), key)
        .context("loading the enrichment models")?;
    let mut generator = voc_gen::Generator::new(voc_gen::GenConfig {
        seed: 11,
        duplicate_ratio: 0.0,
        malformed_ratio: 0.0,
        ..Default::default()
    });
    let now = chrono::Utc::now();
    let ctx = DecodeContext {
        zone: cfg.decode.zone().map_err(anyhow::Error::msg)?,
        now,
        max_payload_bytes: cfg.decode.max_payload_bytes,
        broker_time: Some(now),
        lineage: Lineage::default(),
    };
    let feedback = (0..batch)
        .map(|_| {
            let m = generator.next_message();
            decode(m.channel, Some(&m.payload), &ctx).map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut rows = enricher.enrich(feedback, now)?;
    let sink = ClickHouseSink::new(cfg.clickhouse.clone())?;
    super::runtime()?.block_on(async {
        sink.migrate(&taxonomy).await?;
        let run = format!("{:x}", now.timestamp_millis());
        let (mut done, mut busy) = (0usize, Duration::ZERO);
        let mut round = 0usize;
        while done < args.count {
            let take = batch.min(args.count - done);
            for (i, r) in rows.iter_mut().take(take).enumerate() {
                r.event_id = format!("bench-{run}-{round}-{i}");
            }
            busy += sink
                .insert(&rows[..take])
                .await
                .with_context(|| format!("inserting into {}", cfg.clickhouse.database))?;
            done += take;
            round += 1;
        }
        eprintln!(
            "inserted {done} rows into {}.{} (drop the database when done)",
            cfg.clickhouse.database, cfg.clickhouse.table
        );
        let secs = busy.as_secs_f64().max(1e-9);
        Ok(Ceiling {
            what: "insert",
            items: done as u64,
            seconds: secs,
            items_per_s: done as f64 / secs,
            mb_per_s: None,
            batch: Some(batch),
        })
    })
}
