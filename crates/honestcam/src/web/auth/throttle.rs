//! Slowing down password guessing: failed sign-ins are counted per account and per
//! address over a window; past the limit, sign-ins for that account (or from that
//! address) are refused until the window ends, even with the right password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::account::fold_name;

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
    /// An account name, folded as names are compared ([`fold_name`]): every spelling
    /// of one account shares its count.
    Account(String),
    /// An IPv4 address, or an IPv6 /64 (one host usually holds a whole /64).
    Address(IpAddr),
}

fn account_key(account: &str) -> Key {
    Key::Account(fold_name(account))
}

fn address_key(address: IpAddr) -> Key {
    match address {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            Key::Address(IpAddr::V6(segments.into()))
        }
        IpAddr::V6(v6) => Key::Address(IpAddr::V4(
            v6.to_ipv4_mapped()
                .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
        )),
        v4 => Key::Address(v4),
    }
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
        held(&map, account, address, now)
    }

    /// Checks and counts a sign-in attempt in one step, before the password is
    /// checked: `Some(wait)` when it must wait (nothing counted), else the attempt
    /// counts as failed until [`Throttle::succeeded`] clears it.
    pub fn attempt(&self, account: &str, address: IpAddr, now: Instant) -> Option<Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let wait = held(&map, account, address, now);
        if wait.is_none() {
            count(&mut map, [account_key(account), address_key(address)], now);
        }
        wait
    }

    /// Counts a failed sign-in.
    pub fn failed(&self, account: &str, address: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        count(&mut map, [account_key(account), address_key(address)], now);
    }

    /// A successful sign-in clears the account's failures (and the one attempt it
    /// counted for its address).
    pub fn succeeded(&self, account: &str, address: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&account_key(account));
        if let Some((n, _)) = map.get_mut(&address_key(address)) {
            *n = n.saturating_sub(1);
        }
    }
}

/// How long `account` or `address` is held, if it is.
fn held(
    map: &HashMap<Key, (u32, Instant)>,
    account: &str,
    address: IpAddr,
    now: Instant,
) -> Option<Duration> {
    let over = |key: Key, limit: u32| {
        map.get(&key).and_then(|(n, since)| {
            let left = WINDOW.checked_sub(now.duration_since(*since))?;
            (*n >= limit && !left.is_zero()).then_some(left)
        })
    };
    over(account_key(account), PER_ACCOUNT)
        .into_iter()
        .chain(over(address_key(address), PER_ADDRESS))
        .max()
}

/// Adds one failure to each key. Windows that ended are dropped; when the map is full,
/// the oldest window that is not over its limit goes, so flooding it with new keys
/// cannot free an account that is held.
fn count<const N: usize>(map: &mut HashMap<Key, (u32, Instant)>, keys: [Key; N], now: Instant) {
    let ended = |since: &Instant| now.duration_since(*since) >= WINDOW;
    for key in &keys {
        if map.get(key).is_some_and(|(_, since)| ended(since)) {
            map.remove(key);
        }
    }
    if map.len() + N > MAX_KEYS {
        map.retain(|_, (_, since)| !ended(since));
    }
    while map.len() + N > MAX_KEYS {
        let oldest = map
            .iter()
            .filter(|(k, (n, _))| {
                let limit = match k {
                    Key::Account(_) => PER_ACCOUNT,
                    Key::Address(_) => PER_ADDRESS,
                };
                *n < limit
            })
            .min_by_key(|(_, (_, since))| *since)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => {
                map.remove(&k);
            }
            // Every key is held: nothing new is remembered until windows end.
            None => return,
        }
    }
    for key in keys {
        map.entry(key).or_insert((0, now)).0 += 1;
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
        t.succeeded("kim", a);
        assert_eq!(
            t.wait("kim", a, start),
            None,
            "a success clears the account"
        );
    }

    #[test]
    fn an_attempt_counts_before_the_password_is_checked() {
        let t = Throttle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        // Guesses racing each other: each attempt is counted as it starts.
        for _ in 0..PER_ACCOUNT {
            assert_eq!(t.attempt("kim", a, now), None);
        }
        assert!(t.attempt("kim", a, now).is_some(), "the sixth waits");
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let same_net: IpAddr = "2001:db8::ffff".parse().unwrap();
        for i in 0..PER_ADDRESS {
            t.failed(&format!("g{i}"), v6, now);
        }
        assert!(
            t.wait("x", same_net, now).is_some(),
            "one /64 is one address"
        );
    }

    #[test]
    fn every_spelling_of_an_account_shares_its_count() {
        let t = Throttle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        for name in ["kim", "Kim", "KIM", "kIm", "kiM"] {
            assert_eq!(t.attempt(name, a, now), None, "{name}");
        }
        assert!(t.wait("kim", a, now).is_some());
        assert!(t.wait("KiM", a, now).is_some());
        assert_eq!(t.wait("\u{212A}im", a, now), None, "not an ASCII spelling");
    }

    #[test]
    fn a_flood_of_new_keys_does_not_free_a_held_account() {
        let t = Throttle::default();
        let now = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..PER_ACCOUNT {
            t.failed("kim", a, now);
        }
        // Two keys a failure: enough to fill the map and go on past it.
        for i in 0..(MAX_KEYS / 2 + 50) as u32 {
            let from = IpAddr::from(i.to_be_bytes());
            t.failed(&format!("flood{i}"), from, now);
        }
        assert!(t.wait("kim", a, now).is_some(), "still held");
    }
}
