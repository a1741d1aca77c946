//! The four touchpoints feedback comes from.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A source channel (touchpoint). Each has its own raw topic and decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// In-app feedback, app-store reviews, in-app surveys.
    App,
    /// One ASR transcript per call.
    CallCenter,
    /// Posts and comments from the bank's community and public social media.
    Community,
    /// Comment cards and tablet surveys in branches.
    Branch,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::App,
        Channel::CallCenter,
        Channel::Community,
        Channel::Branch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::App => "app",
            Channel::CallCenter => "call_center",
            Channel::Community => "community",
            Channel::Branch => "branch",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown channel {0:?} (expected app, call_center, community or branch)")]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "app" => Ok(Channel::App),
            "call_center" | "callcenter" | "call-center" => Ok(Channel::CallCenter),
            "community" => Ok(Channel::Community),
            "branch" => Ok(Channel::Branch),
            other => Err(UnknownChannel(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_names() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), c);
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        assert!("email".parse::<Channel>().is_err());
    }
}
