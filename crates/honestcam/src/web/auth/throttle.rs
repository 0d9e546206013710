//! Slowing down password guessing: failed sign-ins are counted per account and per
//! address over a window; past the limit, sign-ins for that account (or from that
//! address) are refused until the window ends, even with the right password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins allowed per account in a window.
pub const PER_ACCOUNT: u32 = 5;
/// Failed sign-ins allowed per address in a window (several people may share one).
pub const PER_ADDRESS: u32 = 20;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most keys remembered; the oldest windows are dropped first when it is full.
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

/// The failure counts.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<Key, (u32, Instant)>>,
}

impl Throttle {
    /// How long sign-ins for `account` from `address` must wait; `None` when allowed.
    pub fn wait(&self, account: &str, address: IpAddr, now: Instant) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let over = |key: Key, limit: u32| {
            map.get(&key).and_then(|(n, since)| {
                let left = WINDOW.checked_sub(now.duration_since(*since))?;
                (*n >= limit).then_some(left)
            })
        };
        over(Key::Account(account.to_string()), PER_ACCOUNT)
            .into_iter()
            .chain(over(Key::Address(address), PER_ADDRESS))
            .max()
    }

    /// Counts a failed sign-in.
    pub fn failed(&self, account: &str, address: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        if map.len() >= MAX_KEYS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, since))| *since)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        for key in [Key::Account(account.to_string()), Key::Address(address)] {
            let entry = map.entry(key).or_insert((0, now));
            entry.0 += 1;
        }
    }

    /// A successful sign-in clears the account's failures.
    pub fn succeeded(&self, account: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&Key::Account(account.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_limit_wait_for_the_window() {
        let t = Throttle::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let start = Instant::now();
        for _ in 0..PER_ACCOUNT {
            assert_eq!(t.wait("kim", a, start), None);
            t.failed("kim", a, start);
        }
        assert!(t.wait("kim", a, start).is_some(), "the account is held");
        assert!(t.wait("kim", b, start).is_some(), "from any address");
        assert_eq!(t.wait("lee", a, start), None, "other accounts are not");
        assert_eq!(
            t.wait("kim", a, start + WINDOW),
            None,
            "until the window ends"
        );
        for i in 0..PER_ADDRESS {
            t.failed(&format!("guess{i}"), b, start);
        }
        assert!(t.wait("someone", b, start).is_some(), "the address is held");
        assert_eq!(t.wait("someone", a, start), None);
        t.succeeded("kim");
        assert_eq!(
            t.wait("kim", a, start),
            None,
            "a success clears the account"
        );
    }
}
