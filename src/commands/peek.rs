//! `voc peek`: print messages of a topic (alerts, dead letters, raw input)
//! from the beginning, without joining a consumer group's commits. For
//! operators and the demo; kcat from Debian is too old for tansu.

use super::ConfigArgs;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;
use std::io::Write;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Topic to read.
    pub topic: String,
    /// Stop after this many messages.
    #[arg(long, default_value_t = 10)]
    pub max: usize,
    /// Stop when no message arrived for this many milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub idle_ms: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    super::runtime()?.block_on(async {
        let mut cc = cfg.kafka.consumer_config();
        cc.set("group.id", format!("voc-peek-{}", std::process::id()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false");
        let consumer: StreamConsumer = cc.create()?;
        consumer.subscribe(&[&args.topic])?;
        let mut out = std::io::stdout().lock();
        let mut seen = 0;
        while seen < args.max {
            match tokio::time::timeout(Duration::from_millis(args.idle_ms), consumer.recv()).await {
                Err(_) => break,
                Ok(Err(e)) => anyhow::bail!("reading {}: {e}", args.topic),
                Ok(Ok(m)) => {
                    out.write_all(
                        &String::from_utf8_lossy(m.payload().unwrap_or_default())
                            .into_owned()
                            .into_bytes(),
                    )?;
                    out.write_all(b"\n")?;
                    seen += 1;
                }
            }
        }
        Ok(())
    })
}
