//! The example customer dimension (O-data): who each customer is, for the
//! X-data / O-data join. Keys are exactly the ones the generator puts in
//! events (`C1000000`..), and every attribute is a pure function of the key,
//! so `voc gen customers` and the tests agree without sharing state.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How many distinct customers the generator's messages come from.
pub const CUSTOMER_POOL: u32 = 3000;

/// The customer key of pool member `i` (0-based).
pub fn customer_key(i: u32) -> String {
    format!("C{:07}", 1_000_000 + i)
}

/// One row of the customer dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub customer_key: String,
    /// 大众 (mass), 财富 (affluent), 私行 (private banking).
    pub segment: &'static str,
    /// Assets under management band.
    pub asset_tier: &'static str,
    pub tenure_years: u8,
    /// 财富 and 私行 customers: the "high-value" side of the O-data questions.
    pub high_value: bool,
    pub city: &'static str,
}

const CITIES: [&str; 6] = ["上海", "北京", "广州", "深圳", "杭州", "成都"];

/// The dimension row of pool member `i`.
pub fn customer(i: u32) -> Customer {
    let mut rng = ChaCha8Rng::seed_from_u64(0xC057_0000 + i as u64);
    let (segment, asset_tier) = match rng.random_range(0..100) {
        0..70 => ("大众", ["5万以下", "5万-50万"][rng.random_range(0..2usize)]),
        70..95 => ("财富", "50万-600万"),
        _ => ("私行", "600万以上"),
    };
    Customer {
        customer_key: customer_key(i),
        segment,
        asset_tier,
        tenure_years: rng.random_range(0..31),
        high_value: segment != "大众",
        city: CITIES[rng.random_range(0..CITIES.len())],
    }
}

/// The whole dimension, in key order.
pub fn customers() -> Vec<Customer> {
    (0..CUSTOMER_POOL).map(customer).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_covering_every_segment() {
        let a = customers();
        assert_eq!(a, customers());
        assert_eq!(a.len(), CUSTOMER_POOL as usize);
        assert_eq!(a[0].customer_key, "C1000000");
        for seg in ["大众", "财富", "私行"] {
            let n = a.iter().filter(|c| c.segment == seg).count();
            assert!(n > 50, "{seg}: {n}");
        }
        assert!(a.iter().all(|c| c.high_value == (c.segment != "大众")));
    }
}
