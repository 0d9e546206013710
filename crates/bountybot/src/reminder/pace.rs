//! Spacing sends to stay under Telegram's rate limits, shared by every thread of a pass.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Digests per second a pass sends by default: under Telegram's 30 messages per
/// second overall, leaving room for the replies the bot sends meanwhile.
pub const DIGESTS_PER_SECOND: u32 = 25;

/// Hands out send slots at most `rate` per second, first come first served, and holds
/// everyone back after Telegram answers 429 ("retry after").
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pace {
    /// At most `rate` sends per second (at least 1).
    pub fn per_second(rate: u32) -> Pace {
        Pace {
            interval: Duration::from_secs(1) / rate.max(1),
            next: Mutex::new(None),
        }
    }

    /// Reserves the next free slot at or after `now` and returns when it starts.
    pub fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + self.interval);
        slot
    }

    /// When the next slot would start if one were reserved at `now` (reserves none).
    pub fn free_at(&self, now: Instant) -> Instant {
        let next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        next.map_or(now, |n| n.max(now))
    }

    /// Gives no slot before `now + wait` (Telegram said to retry after `wait`).
    pub fn hold_back(&self, now: Instant, wait: Duration) {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let until = now + wait;
        *next = Some(next.map_or(until, |n| n.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_by_the_rate() {
        let pace = Pace::per_second(30);
        let t0 = Instant::now();
        let slots: Vec<Instant> = (0..91).map(|_| pace.reserve(t0)).collect();
        assert_eq!(slots[0], t0);
        for w in slots.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_secs(1) / 30);
        }
        // 91 sends asked for at once take 3 seconds: never more than 30 in a second.
        assert_eq!(slots[90] - t0, Duration::from_secs(1) / 30 * 90);
        assert!(slots[90] - t0 >= Duration::from_millis(2999));
    }

    #[test]
    fn an_idle_pace_does_not_make_up_for_lost_time() {
        let pace = Pace::per_second(10);
        let t0 = Instant::now();
        assert_eq!(pace.reserve(t0), t0);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(pace.reserve(later), later);
        assert_eq!(pace.reserve(later), later + Duration::from_millis(100));
    }

    #[test]
    fn retry_after_holds_everyone_back() {
        let pace = Pace::per_second(30);
        let t0 = Instant::now();
        pace.reserve(t0);
        pace.hold_back(t0, Duration::from_secs(7));
        assert_eq!(pace.reserve(t0), t0 + Duration::from_secs(7));
        assert_eq!(
            pace.free_at(t0),
            t0 + Duration::from_secs(7) + Duration::from_secs(1) / 30
        );
        // A shorter hold later does not shorten the longer one.
        pace.hold_back(t0, Duration::from_secs(1));
        assert!(pace.reserve(t0) > t0 + Duration::from_secs(7));
    }
}
