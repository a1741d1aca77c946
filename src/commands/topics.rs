//! `voc topics create`: the raw, dead-letter, alert and work-order update topics.

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
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Action::Create {
        config,
        partitions,
        replication,
    } = args.action;
    let cfg = config.load()?;
    let t = &cfg.kafka.topics;
    let names = [
        t.app.as_str(),
        t.call_center.as_str(),
        t.community.as_str(),
        t.branch.as_str(),
        cfg.topics.dead_letter.as_str(),
        cfg.topics.alerts.as_str(),
        cfg.topics.workorder_updates.as_str(),
    ];
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
