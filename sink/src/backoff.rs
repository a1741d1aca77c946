//! The one retry schedule: exponential backoff, doubling from a first delay
//! up to a ceiling. Every loop that retries an external call (the worker's
//! steps, the alert recorder, `voc notify` and `voc workorders`, webhook
//! deliveries) takes its delays from here.

use std::time::Duration;

/// Delays `initial`, `2 × initial`, ... capped at `max`; never ends (the
/// caller decides when to give up).
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            next: initial,
            max: max.max(initial),
        }
    }

    /// The schedule of the side consumers and the alert recorder: 200 ms
    /// doubling to 10 s.
    pub fn standard() -> Self {
        Backoff::new(Duration::from_millis(200), Duration::from_secs(10))
    }

    /// The next delay.
    pub fn delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
}

impl Iterator for Backoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        Some(self.delay())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_ceiling() {
        let ms: Vec<u128> = Backoff::new(Duration::from_millis(100), Duration::from_millis(500))
            .take(5)
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(ms, [100, 200, 400, 500, 500]);
        // A ceiling below the first delay is the first delay.
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(
            (b.delay(), b.delay()),
            (Duration::from_secs(2), Duration::from_secs(2))
        );
    }
}
