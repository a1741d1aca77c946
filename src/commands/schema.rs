//! `voc schema`: print or apply the ClickHouse DDL.

use super::ConfigArgs;
use voc_sink::ClickHouseSink;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Print the DDL for the configured database.
    Print(ConfigArgs),
    /// Create the database, tables and views that are missing (idempotent).
    Apply(ConfigArgs),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Print(c) => {
            let cfg = c.load()?;
            for (name, sql) in ClickHouseSink::schema_statements(&cfg.clickhouse.database) {
                println!("-- {name}\n{};\n", sql.trim().trim_end_matches(';'));
            }
            Ok(())
        }
        Action::Apply(c) => {
            let cfg = c.load()?;
            super::runtime()?.block_on(async {
                let sink = ClickHouseSink::new(cfg.clickhouse.clone());
                sink.apply_schema(&voc_core::Taxonomy::bundled()).await?;
                eprintln!(
                    "schema applied to {} database {}",
                    cfg.clickhouse.url, cfg.clickhouse.database
                );
                Ok(())
            })
        }
    }
}
