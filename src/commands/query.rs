//! `voc query`: list the saved analyst questions or run one (TSV with a header).

use super::ConfigArgs;
use crate::analytics::{AsOf, SavedQuery, SAVED_QUERIES};
use anyhow::Context;
use voc_sink::clickhouse::read::Table;
use voc_sink::ClickHouseSink;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Query to run: file name without .sql, or its number (`07`). Without
    /// it, list the saved queries and what each answers.
    pub name: Option<String>,
    /// What "now" is for "this week", "today", "the last hour": `now` (server
    /// clock), `latest` (newest event in the data) or a UTC time
    /// `2026-11-25 12:00:00`.
    #[arg(long, default_value = "now", value_parser = AsOf::parse)]
    pub as_of: AsOf,
    /// Print the SQL instead of running it.
    #[arg(long)]
    pub sql: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Some(name) = args.name else {
        for q in SAVED_QUERIES {
            println!("{}\n    {}\n", q.name, q.question());
        }
        return Ok(());
    };
    let q = SavedQuery::find(&name)
        .with_context(|| format!("no saved query {name:?} (run `voc query` for the list)"))?;
    let cfg = args.config.load()?;
    let sql = q.render(&cfg.clickhouse.database, args.as_of);
    if args.sql {
        println!("{sql}");
        return Ok(());
    }
    let table = super::runtime()?.block_on(async {
        ClickHouseSink::new(cfg.clickhouse.clone())?
            .query_table(&sql)
            .await
            .with_context(|| format!("running {}", q.name))
    })?;
    println!("{}", table.columns.join("\t"));
    for row in &table.rows {
        let cells: Vec<String> = row.iter().map(Table::text).collect();
        println!("{}", cells.join("\t"));
    }
    Ok(())
}
