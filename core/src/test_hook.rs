//! Pauses at named points of a debug build, so crash tests can kill the
//! process inside a window that is otherwise a few milliseconds wide. A
//! release build never pauses, whatever its environment says.

use std::time::Duration;

/// How long to pause at the point named by the environment variable `var`
/// (milliseconds); `None` in release builds or when unset or not a number.
pub fn pause(var: &str) -> Option<Duration> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let ms: u64 = std::env::var(var).ok()?.trim().parse().ok()?;
    (ms > 0).then(|| Duration::from_millis(ms))
}
