//! A Kafka producer that reports success only after the broker acknowledged
//! every record: the worker commits source offsets after that, never before.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;
use std::time::Duration;

#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
}

impl Publisher {
    pub fn new(cfg: &ClientConfig) -> Result<Self, KafkaError> {
        Ok(Publisher {
            producer: cfg.create()?,
        })
    }

    /// Send all records to `topic` and wait until each is acknowledged.
    pub async fn publish_all(
        &self,
        topic: &str,
        records: &[(impl AsRef<[u8]>, impl AsRef<[u8]>)],
    ) -> Result<(), KafkaError> {
        self.publish(
            topic,
            records.iter().map(|(k, p)| (k.as_ref(), p.as_ref(), None)),
        )
        .await
    }

    /// [`Publisher::publish_all`] with headers on each record.
    pub async fn publish_all_with_headers(
        &self,
        topic: &str,
        records: &[(impl AsRef<[u8]>, impl AsRef<[u8]>, OwnedHeaders)],
    ) -> Result<(), KafkaError> {
        self.publish(
            topic,
            records
                .iter()
                .map(|(k, p, h)| (k.as_ref(), p.as_ref(), Some(h))),
        )
        .await
    }

    async fn publish<'a>(
        &self,
        topic: &str,
        records: impl Iterator<Item = (&'a [u8], &'a [u8], Option<&'a OwnedHeaders>)>,
    ) -> Result<(), KafkaError> {
        let mut pending = Vec::with_capacity(records.size_hint().0);
        for (key, payload, headers) in records {
            loop {
                let mut rec = FutureRecord::to(topic).key(key).payload(payload);
                if let Some(h) = headers {
                    rec = rec.headers(h.clone());
                }
                match self.producer.send_result(rec) {
                    Ok(f) => {
                        pending.push(f);
                        break;
                    }
                    // The local queue is full: let deliveries drain, then retry.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(e),
                }
            }
        }
        for f in pending {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(e),
                Err(_) => return Err(KafkaError::Canceled),
            }
        }
        Ok(())
    }

    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(Timeout::After(timeout))
    }
}
