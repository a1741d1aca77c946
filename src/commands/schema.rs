//! `voc schema`: print the ClickHouse DDL, apply the migrations, list what was applied.

use super::ConfigArgs;
use anyhow::Context;
use voc_sink::clickhouse::cluster::cluster_statements;
use voc_sink::clickhouse::migrate::ServerVersion;
use voc_sink::ClickHouseSink;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Args)]
pub struct PrintArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print the variants this server version would get (no server is contacted).
    #[arg(long, default_value = "18.16.1")]
    pub server_version: String,
    /// Print the cluster variant for the cluster NAME instead: every
    /// migration as Replicated*MergeTree tables sharded behind Distributed
    /// tables of the same names (dimensions copied to every shard), ON
    /// CLUSTER 'NAME'; generated from the same migrations. Needs
    /// ZooKeeper/Keeper and the {shard} and {replica} macros on each server.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Print the DDL for the configured database, as `migrate` would run it
    /// on the given server version.
    Print(PrintArgs),
    /// Apply the migrations not applied yet (sink/schema/NNN_*.sql, compiled
    /// in, in name order), record them in `schema_migrations`, load the
    /// taxonomy. Idempotent; fails without changing anything if an applied
    /// migration's file was edited since. `apply` is another name for it.
    #[command(alias = "apply")]
    Migrate(ConfigArgs),
    /// List the applied migrations (name, variant, checksum, time, server).
    Status(ConfigArgs),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Print(p) => {
            let cfg = p.config.load()?;
            let server = ServerVersion::parse(&p.server_version)
                .with_context(|| format!("--server-version {:?}", p.server_version))?;
            let db = &cfg.clickhouse.database;
            let statements = match &p.cluster {
                Some(name) => cluster_statements(db, name, server)?,
                None => ClickHouseSink::schema_statements(db, server)?,
            };
            for (name, sql) in statements {
                println!("-- {name}\n{};\n", sql.trim().trim_end_matches(';'));
            }
            Ok(())
        }
        Action::Migrate(c) => {
            let cfg = c.load()?;
            super::runtime()?.block_on(async {
                let sink = ClickHouseSink::new(cfg.clickhouse.clone())?;
                let done = sink
                    .migrate(&voc_core::Taxonomy::bundled())
                    .await
                    .with_context(|| {
                        format!(
                            "migrating {} database {}",
                            cfg.clickhouse.url, cfg.clickhouse.database
                        )
                    })?;
                for m in &done {
                    if m.applied {
                        eprintln!("applied {} ({})", m.name, m.variant);
                    }
                }
                eprintln!(
                    "schema up to date on {} database {}: {} migrations, {} applied now",
                    cfg.clickhouse.url,
                    cfg.clickhouse.database,
                    done.len(),
                    done.iter().filter(|m| m.applied).count()
                );
                Ok(())
            })
        }
        Action::Status(c) => {
            let cfg = c.load()?;
            super::runtime()?.block_on(async {
                let sink = ClickHouseSink::new(cfg.clickhouse.clone())?;
                for a in sink.applied_migrations().await? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        a.name, a.variant, a.checksum, a.applied_at, a.server_version
                    );
                }
                Ok(())
            })
        }
    }
}
