//! The one pseudonym function: HMAC-SHA256 under a secret key, standing in
//! for an identifier that is itself personal data (a customer id, a phone
//! number given as a key). Stable per key, so rows and alerts about one
//! person can be grouped without the bank's id; without the key, a pseudonym
//! cannot be recomputed from a guessed id (an unkeyed or salted hash of a
//! phone number can: there are only about 10^11 of them).
//!
//! A pseudonym is the first 128 bits of the HMAC, written as 32 lowercase
//! hex digits: `cust-<32 hex>` in alerts, `pii:<32 hex>` in place of a key
//! field. 128 bits make an accidental collision between two customers
//! negligible (about 2^-64 at 2^32 customers) and cost nothing in secrecy:
//! the key, not the length, is what keeps pseudonyms from being reversed.
//!
//! Another key gives other pseudonyms: pseudonyms stored under one key do
//! not match those computed under another.

use crate::secret::{Secret, REDACTED};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// The public key of demos and tests. Pseudonyms under it can be recomputed
/// by anyone: never use it for real customer data.
pub const DEMO_KEY: &str = "voc-demo-pseudonym-key:public,not-for-customer-data";

/// Shortest key accepted, in bytes (a random key of 16 bytes or more cannot be guessed).
pub const MIN_KEY_BYTES: usize = 16;

/// Keys that are published (the demo key, former defaults, what a printed
/// configuration shows instead of a secret): refused outside demo mode.
const PUBLISHED_KEYS: &[&str] = &[DEMO_KEY, "voc-change-me", REDACTED];

/// A checked key, ready to compute pseudonyms. `Debug` never shows it.
#[derive(Clone)]
pub struct PseudonymKey {
    mac: Hmac<Sha256>,
    demo: bool,
}

/// Why a configured key is refused (the key itself is never part of the message).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no key is set")]
    Missing,
    #[error("the key is a published example or demo key")]
    Published,
    #[error("the key has {len} bytes; at least {MIN_KEY_BYTES} are needed")]
    Short { len: usize },
}

impl PseudonymKey {
    /// The configured key: refused when empty, published or shorter than
    /// [`MIN_KEY_BYTES`].
    pub fn new(key: &Secret) -> Result<PseudonymKey, KeyError> {
        let k = key.expose();
        if k.is_empty() {
            return Err(KeyError::Missing);
        }
        if PUBLISHED_KEYS.contains(&k.trim()) {
            return Err(KeyError::Published);
        }
        if k.len() < MIN_KEY_BYTES {
            return Err(KeyError::Short { len: k.len() });
        }
        Ok(PseudonymKey::of(k, false))
    }

    /// The public [`DEMO_KEY`], for demos and tests on made-up data.
    pub fn demo() -> PseudonymKey {
        PseudonymKey::of(DEMO_KEY, true)
    }

    pub fn is_demo(&self) -> bool {
        self.demo
    }

    fn of(key: &str, demo: bool) -> PseudonymKey {
        PseudonymKey {
            mac: Hmac::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length"),
            demo,
        }
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.demo {
            "PseudonymKey(demo)"
        } else {
            "PseudonymKey(***)"
        })
    }
}

/// The pseudonym of `value` under `key`: the first 128 bits of
/// HMAC-SHA256(key, value), big-endian.
pub fn pseudonym(key: &PseudonymKey, value: &str) -> u128 {
    let mut mac = key.mac.clone();
    mac.update(value.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// The customer key alerts carry (`cust-` and 32 hex digits).
pub fn customer_ref(key: &PseudonymKey, customer: &str) -> String {
    format!("cust-{:032x}", pseudonym(key, customer))
}

/// What is stored in place of a key field whose value is PII (`pii:` and 32 hex digits).
pub fn masked_key(key: &PseudonymKey, value: &str) -> String {
    format!("pii:{:032x}", pseudonym(key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> PseudonymKey {
        PseudonymKey::new(&Secret::new(k)).unwrap()
    }

    #[test]
    fn stable_per_key_and_distinct_across_keys() {
        let (s, t) = (key("0123456789abcdef-s"), key("0123456789abcdef-t"));
        assert_eq!(customer_ref(&s, "C1"), customer_ref(&s, "C1"));
        assert_ne!(customer_ref(&s, "C1"), customer_ref(&t, "C1"));
        assert_ne!(customer_ref(&s, "C1"), customer_ref(&s, "C2"));
        assert!(customer_ref(&s, "C1").starts_with("cust-"));
        assert_eq!(customer_ref(&s, "C1").len(), 5 + 32);
        assert_eq!(masked_key(&s, "13812345678").len(), 4 + 32);
        assert_ne!(
            customer_ref(&s, "C1"),
            customer_ref(&PseudonymKey::demo(), "C1")
        );
    }

    #[test]
    fn is_hmac_sha256_truncated_to_128_bits() {
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?")
        // = 5bdcc146bf60754e6a042426089575c7 5a003f089d2739839dec58b964ec3843.
        let jefe = PseudonymKey::of("Jefe", false);
        assert_eq!(
            masked_key(&jefe, "what do ya want for nothing?"),
            "pii:5bdcc146bf60754e6a042426089575c7"
        );
    }

    #[test]
    fn refuses_missing_published_and_short_keys() {
        assert_eq!(
            PseudonymKey::new(&Secret::default()).err(),
            Some(KeyError::Missing)
        );
        for published in [DEMO_KEY, "voc-change-me", REDACTED] {
            assert_eq!(
                PseudonymKey::new(&Secret::new(published)).err(),
                Some(KeyError::Published),
                "{published}"
            );
        }
        assert_eq!(
            PseudonymKey::new(&Secret::new("short")).err(),
            Some(KeyError::Short { len: 5 })
        );
        assert!(PseudonymKey::new(&Secret::new("a-long-enough-random-key")).is_ok());
    }

    #[test]
    fn never_shown() {
        let k = key("a-long-enough-random-key");
        assert_eq!(format!("{k:?}"), "PseudonymKey(***)");
        assert_eq!(format!("{:?}", PseudonymKey::demo()), "PseudonymKey(demo)");
        assert!(!KeyError::Short { len: 5 }.to_string().contains("short"));
    }
}
