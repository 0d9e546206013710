//! Demo data dated relative to the day it is made for: a realistic mix of overdue,
//! due-soon, later and finished actions whatever that day is, the same files for the
//! same day, and `demo-data --today --actions --events` for benchmarks.

use honestcam::domain::urgency::Summary;
use honestcam::domain::{Status, apply_events};
use honestcam::ops::demo::{DemoOptions, write_demo};
use honestcam::property::Slug;
use jiff::civil::{Date, date};

use crate::support::{Fixture, SLUG, snapshot};

/// A fresh data dir with the demo property dated around `today`.
fn demo_on(opts: DemoOptions) -> Fixture {
    Fixture::with(opts)
}

/// The summary of the demo property's current state as of `today`.
fn summary(f: &Fixture, today: Date) -> (Summary, Vec<honestcam::domain::ActionState>) {
    let storage = f.storage();
    let store = storage.read(&f.slug()).unwrap();
    let state = apply_events(&store.baseline().unwrap(), &store.events().unwrap());
    let actions = state;
    (Summary::of(actions.iter(), today), actions)
}

#[test]
fn the_demo_shows_a_realistic_mix_whatever_the_day() {
    for today in [
        date(2026, 4, 10),
        date(2027, 2, 28),
        date(2031, 12, 31),
        date(2029, 7, 1),
    ] {
        let f = demo_on(DemoOptions::dated(today));
        let (s, actions) = summary(&f, today);
        assert_eq!(s.total, 8, "{today}");
        assert_eq!(s.overdue, 2, "{today}: a few overdue");
        assert_eq!(s.due_soon, 2, "{today}: some due within 14 days");
        assert_eq!(s.count(Status::Done), 1, "{today}");
        assert_eq!(s.count(Status::Blocked), 1, "{today}");
        let later = actions
            .iter()
            .filter(|a| a.status.is_active() && !a.is_overdue(today) && !a.is_due_soon(today))
            .count();
        assert_eq!(
            later, 3,
            "{today}: two due later, one blocked without a date"
        );
        // Every event happened before that day began (UTC), and within a month of it.
        let storage = f.storage();
        let events = storage.read(&f.slug()).unwrap().events().unwrap();
        assert_eq!(events.len(), 12);
        let midnight = today.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp();
        for e in &events {
            let at: jiff::Timestamp = e.at.parse().unwrap();
            assert!(at < midnight, "{today}: {} is not in the past", e.at);
            assert!(
                midnight.duration_since(at) < jiff::SignedDuration::from_hours(24 * 31),
                "{today}: {} is long ago",
                e.at
            );
        }
    }
}

#[test]
fn the_same_day_gives_the_same_files_and_another_day_other_dates() {
    let opts = DemoOptions {
        events: 300,
        actions: 20,
        ..DemoOptions::dated(crate::support::TODAY)
    };
    let a = demo_on(opts.clone());
    let b = demo_on(opts.clone());
    assert_eq!(snapshot(&a.dir()), snapshot(&b.dir()), "deterministic");
    let c = demo_on(DemoOptions {
        today: date(2026, 4, 11),
        ..opts
    });
    let baseline = |f: &Fixture| std::fs::read_to_string(f.prop().join("compliance.json")).unwrap();
    assert_ne!(baseline(&a), baseline(&c));
    // One day later, every named action's due date is one day later.
    let due = |f: &Fixture, id: &str| -> Option<Date> {
        let storage = f.storage();
        let store = storage.read(&f.slug()).unwrap();
        store
            .baseline()
            .unwrap()
            .action(id)
            .unwrap()
            .due
            .as_deref()
            .map(|d| d.parse().unwrap())
    };
    for id in ["ACT-001", "ACT-002", "ACT-003", "ACT-008"] {
        assert_eq!(
            due(&c, id).unwrap(),
            due(&a, id).unwrap().tomorrow().unwrap(),
            "{id}"
        );
    }
    assert_eq!(due(&a, "ACT-004"), None);
}

#[test]
fn demo_data_makes_big_properties_for_benchmarks() {
    let f = Fixture {
        tmp: tempfile::tempdir().unwrap(),
    };
    let out = f.ok(&[
        "demo-data",
        "big",
        "--actions",
        "200",
        "--events",
        "5000",
        "--today",
        "2026-04-10",
    ]);
    assert!(
        out.contains("dated around 2026-04-10: 200 actions, 5000 events"),
        "{out}"
    );
    let storage = f.storage();
    let store = storage.read(&Slug::parse("big").unwrap()).unwrap();
    let baseline = store.baseline().unwrap();
    assert_eq!(baseline.actions.len(), 200);
    assert_eq!(baseline.actions[199].id, "ACT-200");
    let events = store.events().unwrap();
    assert_eq!(events.len(), 5000);
    let touched: std::collections::HashSet<_> = events.iter().map(|e| &e.action_id).collect();
    assert!(touched.len() > 150, "events spread over the actions");
    let (s, _) = {
        let state = apply_events(&baseline, &events);
        let actions = state;
        (Summary::of(actions.iter(), date(2026, 4, 10)), actions)
    };
    assert!(s.overdue > 0 && s.due_soon > 0, "{s:?}");

    // A bad day is a usage error; an existing property is refused.
    let bad = f.run(&["demo-data", "other", "--today", "10/04/2026"]);
    assert_eq!(bad.status.code(), Some(2));
    let again = f.run(&["demo-data", "big"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a property"));
    // Writing into the fixture's own slug works too (library call).
    let slug = Slug::parse(SLUG).unwrap();
    write_demo(
        &f.data().property(&slug),
        "Bamboo House",
        &DemoOptions::dated(crate::support::TODAY),
    )
    .unwrap();
}
