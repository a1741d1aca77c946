//! `voc bench queries`: time every saved query on a large generated data set
//! (a benchmark, not a test).
//!
//! The events are made inside ClickHouse (`INSERT ... SELECT FROM numbers()`,
//! deterministic hashes of the row number for every column), so 10 million
//! rows load in minutes without the enrichment pipeline; tags, polarities and
//! departments come from the bundled taxonomy, customer keys from the
//! generator's pool, and the materialized views fill the tag table and
//! rollups exactly as the worker's inserts do. Each query then runs once to
//! warm up and three times timed; the median is reported.

use super::ConfigArgs;
use crate::analytics::{AsOf, SAVED_QUERIES};
use anyhow::Context;
use std::time::{Duration, Instant};
use voc_core::{Polarity, Taxonomy};
use voc_sink::clickhouse::read::Table;
use voc_sink::ClickHouseSink;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Events to generate.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Database to create and fill (must not be the production one).
    #[arg(long, default_value = "voc_bench_analytics")]
    pub database: String,
    /// Event times spread over this many days before 2026-11-25 12:00 UTC
    /// (365: a year of feedback at ~27k items a day).
    #[arg(long, default_value_t = 365)]
    pub days: u64,
    /// Timed runs per query (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Keep the database afterwards (default: drop it to free the disk).
    #[arg(long)]
    pub keep: bool,
}

const AS_OF: &str = "2026-11-25 12:00:00";

fn sql_array<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = items
        .map(|s| format!("'{}'", s.replace('\'', "\\'")))
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// INSERT ... SELECT of `count` synthetic enriched events starting at row `start`.
fn insert_sql(db: &str, start: u64, count: u64, days: u64, now_ts: i64) -> String {
    let tax = Taxonomy::bundled();
    let live: Vec<_> = tax.tags().iter().filter(|t| !t.retired).collect();
    let of = |p: Polarity| {
        sql_array(
            live.iter()
                .filter(|t| t.polarity == p)
                .map(|t| t.id.as_str()),
        )
    };
    let (pain, itch, delight) = (
        of(Polarity::Pain),
        of(Polarity::Itch),
        of(Polarity::Delight),
    );
    let ids = sql_array(live.iter().map(|t| t.id.as_str()));
    let pols = sql_array(live.iter().map(|t| t.polarity.as_str()));
    let depts = sql_array(live.iter().map(|t| t.department.as_str()));
    let zhs = sql_array(live.iter().map(|t| t.tag_zh.as_str()));
    let span = days * 86_400;
    format!(
        "INSERT INTO {db}.feedback_events (event_id, source_id, channel, event_time, ingest_time, customer_key, \
           branch_id, city, product, journey_node, app_version, text, sentiment_label, sentiment_score, \
           sentiment_source, tag_ids, tag_scores, tag_polarities, tag_sentiments, categories, pain_tags, itch_tags, \
           delight_tags, departments, nps_score, nps_segment, nps_inferred, model_version, taxonomy_version, kafka_topic) \
         SELECT event_id, source_id, channel, event_time, ingest_time, customer_key, branch_id, city, product, \
           journey_node, app_version, text, sentiment_label, sentiment_score, 'model', tag_ids, tag_scores, \
           tag_polarities, tag_sentiments, categories, pain_tags, itch_tags, delight_tags, departments, nps_score, \
           nps_segment, nps_inferred, 'bench', 'bench', concat('voc.raw.', channel) \
         FROM ( \
         SELECT number + {start} AS n, \
           lower(hex(sipHash128(toString(n)))) AS event_id, \
           concat('bench-', toString(n)) AS source_id, \
           cityHash64(n, 2) % 100 AS c, \
           multiIf(c < 40, 'app', c < 65, 'call_center', c < 80, 'community', 'branch') AS channel, \
           toDateTime({now_ts} - toInt64(cityHash64(n, 3) % {span})) AS event_time, \
           event_time + 1 AS ingest_time, \
           if(channel = 'community', concat('weibo:用户', toString(cityHash64(n, 4) % 500000)), \
              concat('C', toString(1000000 + cityHash64(n, 4) % 3000))) AS customer_key, \
           if(channel = 'branch', concat('BR', substring(toString(10000 + cityHash64(n, 5) % 119 + 1), 2)), '') AS branch_id, \
           if(channel = 'branch', ['上海', '北京', '广州', '深圳', '杭州', '成都'][cityHash64(n, 5) % 6 + 1], '') AS city, \
           if(channel = 'community', '', ['信用卡', '借记卡', '手机银行', '个人贷款', '理财'][cityHash64(n, 6) % 5 + 1]) AS product, \
           if(channel = 'app', ['home', 'transfer/confirm', 'login', 'card/bill'][cityHash64(n, 6) % 4 + 1], '') AS journey_node, \
           if(channel = 'app', concat('8.', toString(cityHash64(n, 7) % 10), '.', toString(cityHash64(n, 8) % 4)), '') AS app_version, \
           cityHash64(n, 9) % 100 AS mood, \
           {pain} AS pains, {itch} AS itches, {delight} AS delights, \
           multiIf(mood < 58, if(cityHash64(n, 11) % 10 < 3, \
                     arrayDistinct2([pains[cityHash64(n, 10) % length(pains) + 1], pains[cityHash64(n, 12) % length(pains) + 1]]), \
                     [pains[cityHash64(n, 10) % length(pains) + 1]]), \
                   mood < 78, [delights[cityHash64(n, 10) % length(delights) + 1]], \
                   cityHash64(n, 11) % 2 = 0, [itches[cityHash64(n, 10) % length(itches) + 1]], \
                   emptyArrayString()) AS tag_ids, \
           arrayMap(t -> toFloat32(0.9), tag_ids) AS tag_scores, \
           arrayMap(t -> transform(t, {ids}, {pols}, ''), tag_ids) AS tag_polarities, \
           arrayMap(t -> toFloat32(if(transform(t, {ids}, {pols}, '') = 'delight', 0.8, -0.8)), tag_ids) AS tag_sentiments, \
           arrayReduce('groupUniqArray', arrayMap(t -> substring(t, 1, 3), tag_ids)) AS categories, \
           arrayFilter(t -> transform(t, {ids}, {pols}, '') = 'pain', tag_ids) AS pain_tags, \
           arrayFilter(t -> transform(t, {ids}, {pols}, '') = 'itch', tag_ids) AS itch_tags, \
           arrayFilter(t -> transform(t, {ids}, {pols}, '') = 'delight', tag_ids) AS delight_tags, \
           arrayReduce('groupUniqArray', arrayMap(t -> transform(t, {ids}, {depts}, ''), tag_ids)) AS departments, \
           concat('【合成】', arrayStringConcat(arrayMap(t -> transform(t, {ids}, {zhs}, ''), tag_ids), '，'), \
                  '，电话[PHONE]') AS text, \
           multiIf(mood < 58, 'negative', mood < 78, 'positive', 'neutral') AS sentiment_label, \
           toFloat32(multiIf(mood < 58, -0.5 - (cityHash64(n, 13) % 50) / 100, mood < 78, 0.5 + (cityHash64(n, 13) % 50) / 100, 0)) AS sentiment_score, \
           cityHash64(n, 14) % 100 < multiIf(channel = 'branch', 85, channel = 'app', 30, channel = 'call_center', 20, 0) AS has_score, \
           toUInt8(multiIf(mood < 58, cityHash64(n, 15) % 7, mood < 78, 8 + cityHash64(n, 15) % 3, 6 + cityHash64(n, 15) % 3)) AS score, \
           if(has_score, toNullable(score), CAST(NULL AS Nullable(UInt8))) AS nps_score, \
           if(has_score, multiIf(score >= 9, 'promoter', score >= 7, 'passive', 'detractor'), \
              multiIf(mood < 58, 'detractor', mood < 78, 'promoter', 'passive')) AS nps_segment, \
           toUInt8(NOT has_score) AS nps_inferred \
         FROM numbers({count}))"
    )
    // 18.16 lacks arrayDistinct; two random pains may coincide, keep one.
    .replace("arrayDistinct2(", "arrayReduce('groupUniqArray', ")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = args.config.load()?;
    anyhow::ensure!(
        args.database != cfg.clickhouse.database || args.database.contains("bench"),
        "refusing to fill the configured database {:?} with synthetic events: pass --database",
        args.database
    );
    cfg.clickhouse.database = args.database.clone();
    cfg.clickhouse.timeout_ms = cfg.clickhouse.timeout_ms.max(1_800_000);
    let db = args.database.clone();
    let now_ts = chrono::NaiveDateTime::parse_from_str(AS_OF, "%Y-%m-%d %H:%M:%S")?
        .and_utc()
        .timestamp();
    super::runtime()?.block_on(async {
        let sink = ClickHouseSink::new(cfg.clickhouse.clone())?;
        sink.migrate(&Taxonomy::bundled()).await?;
        let customers = voc_gen::customers();
        let rows = super::gen::customer_rows(&customers, 1);
        sink.load_customers(&rows).await?;
        let have = count(&sink, &format!("SELECT count() FROM {db}.feedback_events")).await?;
        if have < args.events {
            let chunk = 1_000_000u64;
            let load = Instant::now();
            let mut start = have;
            while start < args.events {
                let n = chunk.min(args.events - start);
                let t = Instant::now();
                sink.execute(&insert_sql(&db, start, n, args.days, now_ts))
                    .await
                    .with_context(|| format!("inserting rows {start}..{}", start + n))?;
                start += n;
                eprintln!(
                    "loaded {start} / {} events ({:.1} s for this million)",
                    args.events,
                    t.elapsed().as_secs_f64()
                );
            }
            eprintln!("load took {:.1} s", load.elapsed().as_secs_f64());
        } else {
            eprintln!("{db} already holds {have} events; reusing them");
        }
        let tags = count(
            &sink,
            &format!("SELECT count() FROM {db}.feedback_event_tags"),
        )
        .await?;
        let version = sink.server_version().await?;
        println!(
            "ClickHouse {version}, database {db}: {} events over {} days, {tags} event-tag rows, \
             as of {AS_OF} UTC; warm runs, median of {}; load average before: {}",
            args.events,
            args.days,
            args.runs,
            load_average()
        );
        println!("| query | rows | median ms | min ms | max ms |");
        println!("|---|---:|---:|---:|---:|");
        let as_of = AsOf::parse(AS_OF).map_err(anyhow::Error::msg)?;
        for q in SAVED_QUERIES {
            let sql = q.render(&db, as_of);
            let warm = sink.query_table(&sql).await.with_context(|| q.name)?;
            let mut times = Vec::new();
            for _ in 0..args.runs.max(1) {
                let t = Instant::now();
                sink.query_table(&sql).await.with_context(|| q.name)?;
                times.push(t.elapsed());
            }
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.0} |",
                q.name,
                warm.rows.len(),
                ms(median(times.clone())),
                ms(*times.iter().min().unwrap()),
                ms(*times.iter().max().unwrap())
            );
        }
        println!("load average after: {}", load_average());
        if !args.keep {
            sink.execute(&format!("DROP DATABASE IF EXISTS {db}"))
                .await
                .ok();
            eprintln!("dropped {db} (pass --keep to keep it)");
        }
        anyhow::Ok(())
    })
}

/// The 1/5/15-minute load average: the machine is shared, so timings need it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn count(sink: &ClickHouseSink, sql: &str) -> anyhow::Result<u64> {
    let t = sink.query_table(sql).await?;
    Ok(t.rows
        .first()
        .and_then(|r| Table::number(&r[0]))
        .unwrap_or(0.0) as u64)
}
