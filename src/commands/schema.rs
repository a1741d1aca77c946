//! `voc schema`: print the ClickHouse DDL, apply the migrations, list what was applied.

use super::ConfigArgs;
use anyhow::Context;
use voc_sink::migrate::ServerVersion;
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
    /// Print the cluster variant instead (deploy/clickhouse/cluster/:
    /// Replicated*MergeTree + Distributed, ON CLUSTER '{cluster}'), to run by
    /// hand on a cluster with ZooKeeper/Keeper and the shard/replica macros.
    #[arg(long)]
    pub cluster: bool,
}

/// The cluster variant of the migrations (printed, never applied by voc).
const CLUSTER_DDL: [(&str, &str); 6] = [
    (
        "001_feedback_events",
        include_str!("../../deploy/clickhouse/cluster/001_feedback_events.sql"),
    ),
    (
        "002_feedback_view",
        include_str!("../../deploy/clickhouse/cluster/002_feedback_view.sql"),
    ),
    (
        "003_taxonomy",
        include_str!("../../deploy/clickhouse/cluster/003_taxonomy.sql"),
    ),
    (
        "004_event_tags",
        include_str!("../../deploy/clickhouse/cluster/004_event_tags.sql"),
    ),
    (
        "005_rollups",
        include_str!("../../deploy/clickhouse/cluster/005_rollups.sql"),
    ),
    (
        "006_customers",
        include_str!("../../deploy/clickhouse/cluster/006_customers.sql"),
    ),
];

#[derive(clap::Subcommand)]
pub enum Action {
    /// Print the DDL for the configured database, as `migrate` would run it
    /// on the given server version.
    Print(PrintArgs),
    /// Apply the migrations not applied yet (deploy/clickhouse/NNN_*.sql, in
    /// name order), record them in `schema_migrations`, load the taxonomy.
    /// Idempotent; fails without changing anything if an applied migration's
    /// file was edited since.
    Migrate(ConfigArgs),
    /// Same as `migrate` (the older name).
    Apply(ConfigArgs),
    /// List the applied migrations (name, variant, checksum, time, server).
    Status(ConfigArgs),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Print(p) => {
            let cfg = p.config.load()?;
            if p.cluster {
                let db = &cfg.clickhouse.database;
                println!("CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER '{{cluster}}';\n");
                for (name, sql) in CLUSTER_DDL {
                    for stmt in voc_sink::migrate::split_statements(sql) {
                        println!("-- {name} (cluster)\n{};\n", stmt.replace("{db}", db));
                    }
                }
                return Ok(());
            }
            let server = ServerVersion::parse(&p.server_version)
                .with_context(|| format!("--server-version {:?}", p.server_version))?;
            for (name, sql) in ClickHouseSink::schema_statements(&cfg.clickhouse.database, server)?
            {
                println!("-- {name}\n{};\n", sql.trim().trim_end_matches(';'));
            }
            Ok(())
        }
        Action::Migrate(c) | Action::Apply(c) => {
            let cfg = c.load()?;
            super::runtime()?.block_on(async {
                let sink = ClickHouseSink::new(cfg.clickhouse.clone());
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
                let sink = ClickHouseSink::new(cfg.clickhouse.clone());
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
