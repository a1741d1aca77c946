//! `voc topics create`: the raw, dead-letter, alert and work-order update topics.
//!
//! Production defaults: replication factor 3 and `min.insync.replicas=2`, so
//! an acknowledged message (the producers use idempotence, hence acks=all)
//! is on two brokers and one broker can be down. `--local` (replication
//! factor 1) is for the single local broker of deploy/stack.sh.

use super::ConfigArgs;
use anyhow::Context as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// Copies of each partition by default.
pub const DEFAULT_REPLICATION_FACTOR: i32 = 3;
/// In-sync copies an acks=all write needs by default (replication factor 3 and more).
pub const DEFAULT_MIN_INSYNC_REPLICAS: i32 = 2;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Create every topic the worker reads or writes; existing ones are kept
    /// as they are. By default each partition has 3 replicas and
    /// min.insync.replicas=2; use --local for a single development broker.
    Create {
        #[command(flatten)]
        config: ConfigArgs,
        /// Partitions per topic (the most workers a group can use).
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        #[command(flatten)]
        replication: Replication,
    },
}

#[derive(clap::Args, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replication {
    /// Copies of each partition [default: 3]; the cluster needs at least
    /// this many brokers.
    #[arg(long, alias = "replication", conflicts_with = "local")]
    pub replication_factor: Option<i32>,
    /// Topic setting min.insync.replicas [default: 2, or 1 below replication
    /// factor 3]; at most the replication factor.
    #[arg(long)]
    pub min_insync_replicas: Option<i32>,
    /// The single local broker (deploy/stack.sh): replication factor 1.
    #[arg(long)]
    pub local: bool,
}

impl Replication {
    /// (replication factor, min.insync.replicas to set, if any).
    pub fn resolve(&self) -> anyhow::Result<(i32, Option<i32>)> {
        let rf = match (self.local, self.replication_factor) {
            (true, _) => 1,
            (false, Some(n)) => n,
            (false, None) => DEFAULT_REPLICATION_FACTOR,
        };
        anyhow::ensure!(rf >= 1, "--replication-factor must be at least 1");
        let isr = match self.min_insync_replicas {
            Some(n) => {
                anyhow::ensure!(
                    (1..=rf).contains(&n),
                    "--min-insync-replicas {n} must be between 1 and the replication factor ({rf})"
                );
                Some(n)
            }
            None if rf >= DEFAULT_REPLICATION_FACTOR => Some(DEFAULT_MIN_INSYNC_REPLICAS),
            None => None,
        };
        Ok((rf, isr))
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Action::Create {
        config,
        partitions,
        replication,
    } = args.action;
    let (rf, isr) = replication.resolve()?;
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
        let brokers = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .with_context(|| format!("reading cluster metadata from {}", cfg.kafka.brokers))?
            .brokers()
            .len();
        check_brokers(brokers, rf)?;
        let isr_text = isr.map(|n| n.to_string());
        let new: Vec<NewTopic> = names
            .iter()
            .map(|n| {
                let t = NewTopic::new(n, partitions, TopicReplication::Fixed(rf));
                match &isr_text {
                    Some(v) => t.set("min.insync.replicas", v),
                    None => t,
                }
            })
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

/// A replication factor the cluster cannot place is refused before any
/// topic is created (some brokers, tansu among them, accept it silently).
fn check_brokers(brokers: usize, rf: i32) -> anyhow::Result<()> {
    anyhow::ensure!(
        brokers >= rf as usize,
        "the cluster has {brokers} broker(s), fewer than replication factor {rf}: \
         production topics keep {DEFAULT_REPLICATION_FACTOR} copies on {DEFAULT_REPLICATION_FACTOR} brokers; \
         for a single development broker (deploy/stack.sh) pass --local (or --replication-factor 1)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        r: Replication,
    }

    fn resolve(args: &[&str]) -> anyhow::Result<(i32, Option<i32>)> {
        let mut full = vec!["voc"];
        full.extend(args);
        Cli::try_parse_from(full)?.r.resolve()
    }

    #[test]
    fn production_replication_unless_local() {
        assert_eq!(resolve(&[]).unwrap(), (3, Some(2)));
        assert_eq!(resolve(&["--local"]).unwrap(), (1, None));
        assert_eq!(resolve(&["--replication-factor", "1"]).unwrap(), (1, None));
        assert_eq!(resolve(&["--replication", "5"]).unwrap(), (5, Some(2)));
        assert_eq!(resolve(&["--replication-factor", "2"]).unwrap(), (2, None));
        assert_eq!(
            resolve(&["--replication-factor", "3", "--min-insync-replicas", "3"]).unwrap(),
            (3, Some(3))
        );
        assert!(resolve(&["--local", "--replication-factor", "3"]).is_err());
        assert!(resolve(&["--local", "--min-insync-replicas", "2"]).is_err());
        assert!(resolve(&["--replication-factor", "0"]).is_err());
    }

    #[test]
    fn too_few_brokers_explain_the_local_flag() {
        let e = check_brokers(1, 3).unwrap_err().to_string();
        assert!(
            e.contains("1 broker(s), fewer than replication factor 3"),
            "{e}"
        );
        assert!(e.contains("--local"), "{e}");
        assert!(check_brokers(3, 3).is_ok());
        assert!(check_brokers(1, 1).is_ok());
    }
}
