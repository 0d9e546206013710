//! Slowing down password guessing without letting a guesser lock the owner out.
//!
//! Sign-ins are counted the way OWASP's "device cookies" scheme describes. A browser
//! that has signed in to an account before carries a device cookie for it
//! ([`Client::Device`]): its failures are counted for that browser alone, so failures
//! from anywhere else (an attacker behind a tunnel where every peer is 127.0.0.1, or
//! one trying from many addresses) never hold it back. Every other client
//! ([`Client::Unknown`]) is counted per account and per address over a window; past
//! either limit, unknown clients wait until the window ends, even with the right
//! password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::account::fold_name;

/// Failed sign-ins allowed per account from unknown clients in a window.
pub const PER_ACCOUNT: u32 = 5;
/// Failed sign-ins allowed per address in a window (several people may share one).
pub const PER_ADDRESS: u32 = 20;
/// Failed sign-ins allowed per device cookie in a window.
pub const PER_DEVICE: u32 = 5;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most keys remembered; the oldest windows are dropped first when it is full.
const MAX_KEYS: usize = 10_000;

/// Who is signing in, as the limits see it.
#[derive(Debug, Clone, Copy)]
pub enum Client<'a> {
    /// A browser whose device cookie was issued to the account it signs in to (the
    /// caller checks that): the cookie's id, counted on its own.
    Device(&'a str),
    /// Any other client, at its address ([`super::login::client_address`]).
    Unknown(IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// An account name, folded as names are compared ([`fold_name`]): every spelling
    /// of one account shares its count.
    Account(String),
    /// An IPv4 address, or an IPv6 /64 (one host usually holds a whole /64).
    Address(IpAddr),
    /// A device cookie's id.
    Device(String),
}

impl Key {
    fn limit(&self) -> u32 {
        match self {
            Key::Account(_) => PER_ACCOUNT,
            Key::Address(_) => PER_ADDRESS,
            Key::Device(_) => PER_DEVICE,
        }
    }
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

/// The keys a sign-in by `client` to `account` counts against.
fn keys(account: &str, client: Client<'_>) -> Vec<Key> {
    match client {
        Client::Device(id) => vec![Key::Device(id.to_string())],
        Client::Unknown(address) => vec![Key::Account(fold_name(account)), address_key(address)],
    }
}

/// The failure counts.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<Key, (u32, Instant)>>,
}

impl Throttle {
    /// How long sign-ins to `account` by `client` must wait; `None` when allowed.
    pub fn wait(&self, account: &str, client: Client<'_>, now: Instant) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        held(&map, &keys(account, client), now)
    }

    /// Checks and counts a sign-in attempt in one step, before the password is
    /// checked: `Some(wait)` when it must wait (nothing counted), else the attempt
    /// counts as failed until [`Throttle::succeeded`] clears it.
    pub fn attempt(&self, account: &str, client: Client<'_>, now: Instant) -> Option<Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let keys = keys(account, client);
        let wait = held(&map, &keys, now);
        if wait.is_none() {
            count(&mut map, keys, now);
        }
        wait
    }

    /// Counts a failed sign-in.
    pub fn failed(&self, account: &str, client: Client<'_>, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        count(&mut map, keys(account, client), now);
    }

    /// A successful sign-in clears what it was counted against: a device's failures,
    /// or an unknown client's account failures (and the one attempt it counted for its
    /// address). A device's success leaves the count of unknown clients alone, so the
    /// owner signing in does not give a guesser a fresh allowance.
    pub fn succeeded(&self, account: &str, client: Client<'_>) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys(account, client) {
            match key {
                Key::Address(_) => {
                    if let Some((n, _)) = map.get_mut(&key) {
                        *n = n.saturating_sub(1);
                    }
                }
                Key::Account(_) | Key::Device(_) => {
                    map.remove(&key);
                }
            }
        }
    }
}

/// How long the longest-held of `keys` is held, if any is.
fn held(map: &HashMap<Key, (u32, Instant)>, keys: &[Key], now: Instant) -> Option<Duration> {
    keys.iter()
        .filter_map(|key| {
            let (n, since) = map.get(key)?;
            let left = WINDOW.checked_sub(now.duration_since(*since))?;
            (*n >= key.limit() && !left.is_zero()).then_some(left)
        })
        .max()
}

/// Adds one failure to each key. Windows that ended are dropped; when the map is full,
/// the oldest window that is not over its limit goes, so flooding it with new keys
/// cannot free an account that is held.
fn count(map: &mut HashMap<Key, (u32, Instant)>, keys: Vec<Key>, now: Instant) {
    let ended = |since: &Instant| now.duration_since(*since) >= WINDOW;
    for key in &keys {
        if map.get(key).is_some_and(|(_, since)| ended(since)) {
            map.remove(key);
        }
    }
    let n = keys.len();
    if map.len() + n > MAX_KEYS {
        map.retain(|_, (_, since)| !ended(since));
    }
    while map.len() + n > MAX_KEYS {
        let oldest = map
            .iter()
            .filter(|(k, (count, _))| *count < k.limit())
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
            assert_eq!(t.wait("kim", Client::Unknown(a), start), None);
            t.failed("kim", Client::Unknown(a), start);
        }
        assert!(
            t.wait("kim", Client::Unknown(a), start).is_some(),
            "the account is held"
        );
        assert!(
            t.wait("kim", Client::Unknown(b), start).is_some(),
            "from any address"
        );
        assert_eq!(
            t.wait("lee", Client::Unknown(a), start),
            None,
            "other accounts are not"
        );
        assert_eq!(
            t.wait("kim", Client::Unknown(a), start + WINDOW),
            None,
            "until the window ends"
        );
        for i in 0..PER_ADDRESS {
            t.failed(&format!("guess{i}"), Client::Unknown(b), start);
        }
        assert!(
            t.wait("someone", Client::Unknown(b), start).is_some(),
            "the address is held"
        );
        assert_eq!(t.wait("someone", Client::Unknown(a), start), None);
        t.succeeded("kim", Client::Unknown(a));
        assert_eq!(
            t.wait("kim", Client::Unknown(a), start),
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
            assert_eq!(t.attempt("kim", Client::Unknown(a), now), None);
        }
        assert!(
            t.attempt("kim", Client::Unknown(a), now).is_some(),
            "the sixth waits"
        );
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let same_net: IpAddr = "2001:db8::ffff".parse().unwrap();
        for i in 0..PER_ADDRESS {
            t.failed(&format!("g{i}"), Client::Unknown(v6), now);
        }
        assert!(
            t.wait("x", Client::Unknown(same_net), now).is_some(),
            "one /64 is one address"
        );
    }

    #[test]
    fn every_spelling_of_an_account_shares_its_count() {
        let t = Throttle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        for name in ["kim", "Kim", "KIM", "kIm", "kiM"] {
            assert_eq!(t.attempt(name, Client::Unknown(a), now), None, "{name}");
        }
        assert!(t.wait("kim", Client::Unknown(a), now).is_some());
        assert!(t.wait("KiM", Client::Unknown(a), now).is_some());
        assert_eq!(
            t.wait("\u{212A}im", Client::Unknown(a), now),
            None,
            "not an ASCII spelling"
        );
    }

    #[test]
    fn a_flood_of_new_keys_does_not_free_a_held_account() {
        let t = Throttle::default();
        let now = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..PER_ACCOUNT {
            t.failed("kim", Client::Unknown(a), now);
        }
        // Two keys a failure: enough to fill the map and go on past it.
        for i in 0..(MAX_KEYS / 2 + 50) as u32 {
            let from = IpAddr::from(i.to_be_bytes());
            t.failed(&format!("flood{i}"), Client::Unknown(from), now);
        }
        assert!(
            t.wait("kim", Client::Unknown(a), now).is_some(),
            "still held"
        );
    }

    #[test]
    fn a_device_is_counted_on_its_own() {
        let t = Throttle::default();
        let now = Instant::now();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        // A guesser holds the account and the address for unknown clients.
        for i in 0..PER_ADDRESS {
            assert_eq!(
                t.attempt("kim", Client::Unknown(a), now).is_some(),
                i >= PER_ACCOUNT
            );
            if i >= PER_ACCOUNT {
                t.failed(&format!("other{i}"), Client::Unknown(a), now);
            }
        }
        assert!(t.wait("kim", Client::Unknown(a), now).is_some());
        assert!(
            t.wait("lee", Client::Unknown(a), now).is_some(),
            "address held"
        );
        let owner = Client::Device("owner's browser");
        assert_eq!(
            t.attempt("kim", owner, now),
            None,
            "the owner's browser is not"
        );
        t.succeeded("kim", owner);
        assert!(
            t.wait("kim", Client::Unknown(a), now).is_some(),
            "the owner's success gives guessers no fresh allowance"
        );
        // A device that guesses is held on its own.
        let stolen = Client::Device("a copied cookie");
        for _ in 0..PER_DEVICE {
            assert_eq!(t.attempt("kim", stolen, now), None);
        }
        assert!(t.attempt("kim", stolen, now).is_some());
        assert_eq!(t.wait("kim", owner, now), None, "other devices are not");
        assert_eq!(
            t.wait("kim", stolen, now + WINDOW),
            None,
            "until the window ends"
        );
    }
}
