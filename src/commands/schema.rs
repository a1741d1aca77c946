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

#[derive(clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Migrate the ClickHouse cluster NAME (a `remote_servers` name of the
    /// configured server) instead of one server: every migration's cluster
    /// form (as `print --cluster` shows it) ON CLUSTER 'NAME', recorded in a
    /// migrations table replicated to every server, the taxonomy loaded once
    /// (replicated to every shard). Idempotent like the single-server path.
    /// Every server of the cluster must be up (ON CLUSTER waits for each).
    /// Default: clickhouse.cluster (VOC_CLICKHOUSE__CLUSTER); empty: one server.
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
    Migrate(MigrateArgs),
    /// List the applied migrations (name, variant, checksum, time, server;
    /// the server column names the cluster for a cluster migration). With
    /// a cluster (--cluster NAME or clickhouse.cluster), then one line per
    /// server of it: shard, replica, address and how many of the schema's
    /// tables and views it has (or why it did not answer).
    Status(MigrateArgs),
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
        Action::Migrate(a) => {
            let cfg = a.config.load()?;
            let cluster = cluster_of(&a, &cfg);
            super::runtime()?.block_on(async {
                let sink = ClickHouseSink::new(cfg.clickhouse.clone())?;
                let taxonomy = voc_core::Taxonomy::bundled();
                let done = match &cluster {
                    None => sink.migrate(&taxonomy).await,
                    Some(c) => sink.migrate_cluster(c, &taxonomy).await,
                };
                let target = match &cluster {
                    None => format!(
                        "{} database {}",
                        cfg.clickhouse.url, cfg.clickhouse.database
                    ),
                    Some(c) => format!(
                        "cluster {c} (through {}) database {}",
                        cfg.clickhouse.url, cfg.clickhouse.database
                    ),
                };
                let done = done.with_context(|| format!("migrating {target}"))?;
                for m in &done {
                    if m.applied {
                        eprintln!("applied {} ({})", m.name, m.variant);
                    }
                }
                eprintln!(
                    "schema up to date on {target}: {} migrations, {} applied now",
                    done.len(),
                    done.iter().filter(|m| m.applied).count()
                );
                Ok(())
            })
        }
        Action::Status(a) => {
            let cfg = a.config.load()?;
            let cluster = cluster_of(&a, &cfg);
            super::runtime()?.block_on(async {
                let sink = ClickHouseSink::new(cfg.clickhouse.clone())?;
                for a in sink.applied_migrations().await? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        a.name, a.variant, a.checksum, a.applied_at, a.server_version
                    );
                }
                if let Some(c) = cluster {
                    let server = sink.server_version().await?;
                    let expected = cluster_objects(&cfg.clickhouse.database, &c, server)?;
                    for line in sink
                        .cluster_tables(&c, &cfg.clickhouse.database, expected)
                        .await?
                    {
                        println!("{line}");
                    }
                }
                Ok(())
            })
        }
    }
}

/// --cluster, else clickhouse.cluster; `None` for one server.
fn cluster_of(a: &MigrateArgs, cfg: &crate::Config) -> Option<String> {
    a.cluster
        .clone()
        .or_else(|| Some(cfg.clickhouse.cluster.clone()))
        .filter(|c| !c.is_empty())
}

/// How many tables and views the cluster schema creates on each server.
fn cluster_objects(db: &str, cluster: &str, server: ServerVersion) -> anyhow::Result<usize> {
    Ok(cluster_statements(db, cluster, server)?
        .iter()
        .filter(|(_, s)| s.contains("CREATE TABLE") || s.contains("VIEW IF NOT EXISTS"))
        .count())
}
