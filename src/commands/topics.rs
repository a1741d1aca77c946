//! `voc topics create|delete`: the raw, dead-letter, alert and work-order update topics.

use super::ConfigArgs;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Create every topic the worker reads or writes; existing ones are kept.
    Create {
        #[command(flatten)]
        config: ConfigArgs,
        /// Partitions per topic (the most workers a group can use).
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        #[arg(long, default_value_t = 1)]
        replication: i32,
    },
    /// Delete every topic the configuration names, with their messages
    /// (benchmarks and tests clean up after themselves). Asks for --yes.
    Delete {
        #[command(flatten)]
        config: ConfigArgs,
        /// Confirm: the topics and everything in them are gone for good.
        #[arg(long)]
        yes: bool,
    },
}

fn names(cfg: &crate::config::Config) -> Vec<String> {
    let t = &cfg.kafka.topics;
    [
        &t.app,
        &t.call_center,
        &t.community,
        &t.branch,
        &cfg.topics.dead_letter,
        &cfg.topics.alerts,
        &cfg.topics.workorder_updates,
    ]
    .into_iter()
    .cloned()
    .collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Create {
            config,
            partitions,
            replication,
        } => create(config, partitions, replication),
        Action::Delete { config, yes } => delete(config, yes),
    }
}

fn create(config: ConfigArgs, partitions: i32, replication: i32) -> anyhow::Result<()> {
    let cfg = config.load()?;
    let names = names(&cfg);
    super::runtime()?.block_on(async {
        let admin: AdminClient<DefaultClientContext> = cfg.kafka.producer_config().create()?;
        let new: Vec<NewTopic> = names
            .iter()
            .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(replication)))
            .collect();
        let results = admin.create_topics(&new, &AdminOptions::new()).await?;
        for r in results {
            match r {
                Ok(name) => eprintln!("created {name}"),
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => eprintln!("exists  {name}"),
                Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
            }
        }
        Ok(())
    })
}

fn delete(config: ConfigArgs, yes: bool) -> anyhow::Result<()> {
    let cfg = config.load()?;
    let names = names(&cfg);
    if !yes {
        anyhow::bail!(
            "this deletes {} and all their messages; run again with --yes",
            names.join(", ")
        );
    }
    super::runtime()?.block_on(async {
        let admin: AdminClient<DefaultClientContext> = cfg.kafka.producer_config().create()?;
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let results = admin.delete_topics(&refs, &AdminOptions::new()).await?;
        for r in results {
            match r {
                Ok(name) => eprintln!("deleted {name}"),
                Err((name, RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                    eprintln!("absent  {name} (unknown to the broker: deleted already)")
                }
                Err((name, code)) => anyhow::bail!("deleting topic {name}: {code}"),
            }
        }
        Ok(())
    })
}
