//! `voc gen`: seeded, realistic traffic for the four channels, to Kafka or stdout.

use super::ConfigArgs;
use anyhow::Context;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use voc_gen::{Expectation, GenConfig, Generator};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub what: Option<What>,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Messages to generate.
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    /// Messages per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Random seed: the same seed and run id give the same messages.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Prefix of source ids; use a new one per run to get new events
    /// (re-using one re-sends the same events, which storage deduplicates).
    #[arg(long, default_value = "gen")]
    pub run_id: String,
    /// Share of malformed messages (0-1), cycling through every malformed kind.
    #[arg(long, default_value_t = 0.0)]
    pub malformed_ratio: f64,
    /// Share of messages that re-send an earlier message verbatim.
    #[arg(long, default_value_t = 0.01)]
    pub duplicate_ratio: f64,
    /// Share of messages whose text carries PII (phone, ID, card, e-mail).
    #[arg(long, default_value_t = 0.05)]
    pub pii_ratio: f64,
    /// Event times spread over this many hours before now.
    #[arg(long, default_value_t = 72)]
    pub spread_hours: i64,
    /// Distinct customers the messages come from (keys C1000000, C1000001,
    /// ...; the customer dimension `voc gen customers` loads has the first
    /// 3,000). Few customers make everyone a repeat complainer within
    /// seconds at high rates; a bank has millions.
    #[arg(long, default_value_t = voc_gen::CUSTOMER_POOL)]
    pub customers: u32,
    /// Print JSON lines {channel, topic, key, payload} instead of producing.
    #[arg(long)]
    pub stdout: bool,
    /// Also write what the pipeline must do with each message (JSON lines).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum What {
    /// Load the example customer dimension (segment, asset tier, tenure) into
    /// the `customers` table; its keys are the customer keys generated
    /// messages carry. Idempotent (rows are replaced by key).
    Customers(ConfigArgs),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(What::Customers(c)) = args.what {
        return load_customers(c);
    }
    let cfg = args.config.load()?;
    let mut generator = Generator::new(GenConfig {
        seed: args.seed,
        run_id: args.run_id.clone(),
        malformed_ratio: args.malformed_ratio,
        duplicate_ratio: args.duplicate_ratio,
        pii_ratio: args.pii_ratio,
        spread_hours: args.spread_hours,
        customers: args.customers,
        now: chrono::Utc::now(),
    });
    let mut manifest = match &args.manifest {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let mut write_manifest = |m: &voc_gen::Generated| -> anyhow::Result<()> {
        if let Some(w) = manifest.as_mut() {
            let v = match &m.expect {
                Expectation::Valid {
                    event_id,
                    intended_tags,
                    detractor_score,
                    has_pii,
                } => json!({
                    "expect": "stored", "event_id": event_id, "channel": m.channel, "tags": intended_tags,
                    "detractor_score": detractor_score, "has_pii": has_pii}),
                Expectation::Duplicate { event_id } => {
                    json!({"expect": "duplicate", "event_id": event_id, "channel": m.channel})
                }
                Expectation::Malformed { kind, reason } => {
                    json!({"expect": "dead_letter", "kind": kind, "reason": reason, "channel": m.channel, "key": m.key})
                }
            };
            serde_json::to_writer(&mut *w, &v)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    };

    if args.stdout {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for _ in 0..args.count {
            let m = generator.next_message();
            write_manifest(&m)?;
            let payload = String::from_utf8_lossy(&m.payload);
            serde_json::to_writer(
                &mut out,
                &json!({"channel": m.channel, "topic": cfg.kafka.topics.topic(m.channel), "key": m.key, "payload": payload}),
            )?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        return Ok(());
    }

    super::runtime()?.block_on(async {
        cfg.kafka
            .check_connection()
            .await
            .context("checking the Kafka connection")?;
        let producer: FutureProducer = cfg
            .kafka
            .producer_config()
            .create()
            .context("creating the Kafka producer")?;
        let start = Instant::now();
        let mut pending = Vec::new();
        for i in 0..args.count {
            if args.rate > 0 {
                let due = start + Duration::from_secs_f64(i as f64 / args.rate as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            let m = generator.next_message();
            write_manifest(&m)?;
            let topic = cfg.kafka.topics.topic(m.channel);
            loop {
                let rec = FutureRecord::to(topic)
                    .key(m.key.as_bytes())
                    .payload(m.payload.as_slice());
                match producer.send_result(rec) {
                    Ok(f) => {
                        pending.push(f);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        tokio::time::sleep(Duration::from_millis(2)).await
                    }
                    Err((e, _)) => return Err(e).context("producing"),
                }
            }
            if pending.len() >= 10_000 {
                for f in pending.drain(..) {
                    f.await?.map_err(|(e, _)| e).context("delivery failed")?;
                }
            }
        }
        for f in pending {
            f.await?.map_err(|(e, _)| e).context("delivery failed")?;
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "produced {} messages in {secs:.2}s ({:.0} msg/s) to {}",
            args.count,
            args.count as f64 / secs.max(1e-9),
            cfg.kafka.brokers
        );
        Ok(())
    })
}

/// The generator's customers as rows of the `customers` dimension.
pub(super) fn customer_rows(
    customers: &[voc_gen::Customer],
    updated_at: u32,
) -> Vec<voc_sink::clickhouse::dimension::CustomerRow<'_>> {
    customers
        .iter()
        .map(|c| voc_sink::clickhouse::dimension::CustomerRow {
            customer_key: &c.customer_key,
            segment: c.segment,
            asset_tier: c.asset_tier,
            tenure_years: c.tenure_years,
            high_value: c.high_value as u8,
            city: c.city,
            updated_at,
        })
        .collect()
}

fn load_customers(c: ConfigArgs) -> anyhow::Result<()> {
    let cfg = c.load()?;
    let customers = voc_gen::customers();
    let rows = customer_rows(&customers, chrono::Utc::now().timestamp() as u32);
    super::runtime()?.block_on(async {
        voc_sink::ClickHouseSink::new(cfg.clickhouse.clone())?
            .load_customers(&rows)
            .await
            .context("loading the customer dimension")
    })?;
    eprintln!(
        "loaded {} customers into {}.customers",
        rows.len(),
        cfg.clickhouse.database
    );
    Ok(())
}
