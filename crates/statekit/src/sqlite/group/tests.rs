use super::*;
use rusqlite::OptionalExtension;
use std::io::{BufRead, BufReader, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A writer on a fresh database holding `notes (id INTEGER PRIMARY KEY, note TEXT)`.
fn writer_with_notes(dir: &Path, group: GroupOptions) -> GroupWriter {
    let writer = GroupWriter::open(&dir.join("group.db"), &OpenOptions::default(), group).unwrap();
    writer
        .write(|c| c.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, note TEXT)"))
        .unwrap();
    writer
}

fn insert(id: i64, note: &str) -> impl FnOnce(&Connection) -> rusqlite::Result<usize> + use<> {
    let note = note.to_string();
    move |c: &Connection| c.execute("INSERT INTO notes VALUES (?1, ?2)", (id, note))
}

/// The committed notes, read on a connection of their own.
fn notes(dir: &Path) -> Vec<(i64, String)> {
    let conn = open_connection(&dir.join("group.db"), &OpenOptions::default()).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, note FROM notes ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Occupies the writer with a unit that waits until the returned sender is used (or
/// dropped), so that units submitted meanwhile queue up and form the next batch.
fn hold_writer(writer: &GroupWriter) -> (Pending<(), rusqlite::Error>, mpsc::Sender<()>) {
    let (started_tx, started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let pending = writer.submit(move |_: &Connection| {
        started_tx.send(()).unwrap();
        let _ = released.recv();
        Ok(())
    });
    started.recv().unwrap();
    (pending, release)
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("refused: {0}")]
struct Refused(&'static str);

#[test]
fn a_failing_unit_is_rolled_back_alone_and_gets_its_own_error() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), GroupOptions::default());
    let before = writer.stats();

    let (gate, release) = hold_writer(&writer);
    let first = writer.submit(insert(1, "first"));
    let failing = writer.submit(|c: &Connection| {
        c.execute("INSERT INTO notes VALUES (2, 'half-way')", [])
            .unwrap();
        Err::<(), _>(Refused("second"))
    });
    let duplicate = writer.submit(insert(1, "same id as the first"));
    let third = writer.submit(insert(3, "third"));
    drop(release);
    gate.wait().unwrap();

    assert_eq!(first.wait().unwrap(), 1);
    match failing.wait() {
        Err(WriteError::Unit(e)) => assert_eq!(e, Refused("second")),
        other => panic!("expected the unit's own error, got {other:?}"),
    }
    match duplicate.wait() {
        Err(WriteError::Unit(e)) => assert_eq!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation),
            "{e}"
        ),
        other => panic!("expected a constraint violation, got {other:?}"),
    }
    assert_eq!(third.wait().unwrap(), 1);
    assert_eq!(
        notes(dir.path()),
        [(1, "first".to_string()), (3, "third".to_string())]
    );

    let stats = writer.stats();
    assert_eq!(
        stats.batches - before.batches,
        2,
        "the gate, then one batch"
    );
    assert_eq!(
        stats.largest_batch, 4,
        "the four units shared one transaction"
    );
}

#[test]
fn units_of_a_batch_run_in_arrival_order_and_see_the_ones_before() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), GroupOptions::default());

    let (gate, release) = hold_writer(&writer);
    // Each unit appends the next number to what the units before it wrote.
    let pending: Vec<_> = (1..=20)
        .map(|n: i64| {
            writer.submit(move |c: &Connection| {
                let seen: Option<String> = c
                    .query_row("SELECT note FROM notes WHERE id = 0", [], |r| r.get(0))
                    .optional()?;
                let note = match seen {
                    None => n.to_string(),
                    Some(before) => format!("{before},{n}"),
                };
                c.execute("INSERT OR REPLACE INTO notes VALUES (0, ?1)", [&note])?;
                Ok::<_, rusqlite::Error>(note)
            })
        })
        .collect();
    drop(release);
    gate.wait().unwrap();

    let answers: Vec<String> = pending.into_iter().map(|p| p.wait().unwrap()).collect();
    let expected: Vec<String> = (1..=20)
        .map(|n| {
            (1..=n)
                .map(|i: i64| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    assert_eq!(
        answers, expected,
        "each unit saw exactly the units before it"
    );
    assert_eq!(writer.stats().largest_batch, 20, "all in one batch");
    assert_eq!(notes(dir.path())[0].1, expected[19]);
}

#[test]
fn a_lone_failing_unit_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), GroupOptions::default());
    let answer = writer.write(|c: &Connection| {
        c.execute("INSERT INTO notes VALUES (1, 'alone')", [])
            .unwrap();
        Err::<(), _>(Refused("alone"))
    });
    assert!(matches!(answer, Err(WriteError::Unit(Refused("alone")))));
    writer.write(insert(2, "next")).unwrap();
    assert_eq!(notes(dir.path()), [(2, "next".to_string())]);
}

#[test]
fn a_panicking_unit_answers_its_caller_and_the_writer_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), GroupOptions::default());

    let (gate, release) = hold_writer(&writer);
    let before = writer.submit(insert(1, "before"));
    let panicking = writer.submit(|c: &Connection| -> rusqlite::Result<()> {
        c.execute("INSERT INTO notes VALUES (2, 'panicked')", [])?;
        panic!("unit exploded");
    });
    let after = writer.submit(insert(3, "after"));
    drop(release);
    gate.wait().unwrap();

    before.wait().unwrap();
    match panicking.wait() {
        Err(WriteError::Panicked { message, .. }) => assert_eq!(message, "unit exploded"),
        other => panic!("expected a panic report, got {other:?}"),
    }
    after.wait().unwrap();

    // A lone panicking unit too, and the writer still answers afterwards.
    let lone = writer.write(|_: &Connection| -> rusqlite::Result<()> { panic!("alone") });
    assert!(matches!(lone, Err(WriteError::Panicked { .. })));
    writer.write(insert(4, "later")).unwrap();
    let ids: Vec<i64> = notes(dir.path()).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, [1, 3, 4]);
}

#[test]
fn a_failed_commit_fails_every_caller_of_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), GroupOptions::default());
    // A deferred foreign key is checked only at COMMIT.
    writer
        .write(|c| {
            c.execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (parent INTEGER REFERENCES parent (id)
                     DEFERRABLE INITIALLY DEFERRED);",
            )
        })
        .unwrap();

    let (gate, release) = hold_writer(&writer);
    let good = writer.submit(insert(1, "innocent"));
    let dangling = writer.submit(|c: &Connection| c.execute("INSERT INTO child VALUES (42)", []));
    let refused = writer.submit(|_: &Connection| Err::<(), _>(Refused("own error")));
    drop(release);
    gate.wait().unwrap();

    for answer in [good.wait(), dangling.wait()] {
        match answer {
            Err(WriteError::Commit { source, .. }) => assert_eq!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::ConstraintViolation)
            ),
            other => panic!("expected the commit's error, got {other:?}"),
        }
    }
    assert!(
        matches!(refused.wait(), Err(WriteError::Unit(Refused("own error")))),
        "a unit that failed keeps its own error"
    );
    assert!(
        notes(dir.path()).is_empty(),
        "nothing of the batch committed"
    );

    // The writer goes on with the next batch.
    writer.write(insert(2, "next")).unwrap();
    assert_eq!(notes(dir.path()), [(2, "next".to_string())]);
}

#[test]
fn a_unit_that_ends_the_transaction_is_reported_and_the_rest_run_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), GroupOptions::default());

    let (gate, release) = hold_writer(&writer);
    let earlier = writer.submit(insert(1, "earlier"));
    let rogue = writer.submit(|c: &Connection| c.execute_batch("ROLLBACK"));
    let later = writer.submit(insert(3, "later"));
    drop(release);
    gate.wait().unwrap();

    assert!(matches!(
        earlier.wait(),
        Err(WriteError::TransactionEnded { .. })
    ));
    assert!(matches!(
        rogue.wait(),
        Err(WriteError::TransactionEnded { .. })
    ));
    later.wait().unwrap();
    assert_eq!(notes(dir.path()), [(3, "later".to_string())]);
}

#[test]
fn concurrent_writers_share_batches() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), GroupOptions::default());
    let before = writer.stats();
    let (threads, each) = (16, 40);
    std::thread::scope(|s| {
        for t in 0..threads {
            let writer = &writer;
            s.spawn(move || {
                for i in 0..each {
                    writer.write(insert(t * 1000 + i, "concurrent")).unwrap();
                }
            });
        }
    });
    let stats = writer.stats();
    let units = stats.units - before.units;
    let batches = stats.batches - before.batches;
    assert_eq!(units, (threads * each) as u64);
    assert_eq!(notes(dir.path()).len(), (threads * each) as usize);
    assert!(
        stats.shared_batches > 0 && batches < units,
        "no batching under 16 writers: {stats:?}"
    );
}

#[test]
fn a_lone_write_commits_on_the_callers_thread() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), GroupOptions::default());
    let before = writer.stats();
    let caller = std::thread::current().id();
    let ran_on = writer
        .write(|c: &Connection| {
            c.execute("INSERT INTO notes VALUES (1, 'alone')", [])?;
            Ok::<_, rusqlite::Error>(std::thread::current().id())
        })
        .unwrap();
    assert_eq!(ran_on, caller, "an idle writer's unit runs on its caller");
    assert_eq!(notes(dir.path()), [(1, "alone".to_string())]);
    let stats = writer.stats();
    assert_eq!(stats.on_caller - before.on_caller, 1);
    assert_eq!(stats.batches - before.batches, 1, "a batch of one");

    // A failing lone unit is rolled back and gets its own error, as in a batch.
    let err = writer
        .write(|c: &Connection| {
            c.execute("INSERT INTO notes VALUES (2, 'rolled back')", [])?;
            Err::<(), _>(rusqlite::Error::InvalidQuery)
        })
        .unwrap_err();
    assert!(matches!(
        err,
        WriteError::Unit(rusqlite::Error::InvalidQuery)
    ));
    assert_eq!(notes(dir.path()), [(1, "alone".to_string())]);

    // Nothing had to queue, so no writer thread was started; the first unit that
    // queues starts it, and runs on it.
    assert!(!writer.has_thread(), "no thread for lone writes");
    assert_eq!(writer.stats().threads_started, 0);
    let ran_on = writer
        .submit(|c: &Connection| {
            c.execute("INSERT INTO notes VALUES (3, 'queued')", [])?;
            Ok::<_, rusqlite::Error>(std::thread::current().id())
        })
        .wait()
        .unwrap();
    assert_ne!(ran_on, caller, "a queued unit runs on the writer thread");
    assert!(writer.has_thread());
    assert_eq!(notes(dir.path()).len(), 2);
}

#[test]
fn a_write_does_not_overtake_units_handed_to_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), GroupOptions::default());
    let on_caller = writer.stats().on_caller;
    let (gate, release) = hold_writer(&writer);
    let earlier = writer.submit(insert(1, "earlier"));
    std::thread::scope(|s| {
        let later = s.spawn(|| {
            let caller = std::thread::current().id();
            writer
                .write(move |c: &Connection| {
                    let earlier_seen: bool = c.query_row(
                        "SELECT EXISTS (SELECT 1 FROM notes WHERE id = 1)",
                        [],
                        |r| r.get(0),
                    )?;
                    Ok::<_, rusqlite::Error>((earlier_seen, std::thread::current().id() == caller))
                })
                .unwrap()
        });
        // The held unit, the earlier one and the later one: all with the writer thread.
        let deadline = Instant::now() + Duration::from_secs(30);
        while writer.shared.in_writer.load(Ordering::SeqCst) < 3 {
            assert!(Instant::now() < deadline, "the later write never queued");
            std::thread::yield_now();
        }
        release.send(()).unwrap();
        let (earlier_seen, on_its_caller) = later.join().unwrap();
        assert!(earlier_seen, "the later unit ran before the earlier one");
        assert!(!on_its_caller, "a busy writer's unit ran on its caller");
    });
    gate.wait().unwrap();
    earlier.wait().unwrap();
    assert_eq!(writer.stats().on_caller, on_caller);
    assert_eq!(writer.shared.in_writer.load(Ordering::SeqCst), 0);
}

#[test]
fn the_queue_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(
        dir.path(),
        GroupOptions {
            max_batch: 8,
            queue: 2,
            ..GroupOptions::default()
        },
    );
    let (gate, release) = hold_writer(&writer);
    let queued = [writer.submit(insert(1, "a")), writer.submit(insert(2, "b"))];
    let (submitted_tx, submitted) = mpsc::channel();
    std::thread::scope(|s| {
        let writer = &writer;
        s.spawn(move || {
            let pending = writer.submit(insert(3, "c"));
            submitted_tx.send(()).unwrap();
            pending.wait().unwrap();
        });
        assert!(
            submitted.recv_timeout(Duration::from_millis(200)).is_err(),
            "a third unit must wait for room in a queue of two"
        );
        drop(release);
        submitted.recv_timeout(Duration::from_secs(10)).unwrap();
    });
    gate.wait().unwrap();
    for p in queued {
        p.wait().unwrap();
    }
    assert_eq!(notes(dir.path()).len(), 3);
}

#[test]
fn batches_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(
        dir.path(),
        GroupOptions {
            max_batch: 3,
            queue: 100,
            ..GroupOptions::default()
        },
    );
    let (gate, release) = hold_writer(&writer);
    let pending: Vec<_> = (0..10).map(|i| writer.submit(insert(i, "x"))).collect();
    drop(release);
    gate.wait().unwrap();
    for p in pending {
        p.wait().unwrap();
    }
    assert_eq!(writer.stats().largest_batch, 3);
    assert_eq!(notes(dir.path()).len(), 10);
}

/// Options whose writer thread ends after `idle` without work.
fn idle_after(idle: Duration) -> GroupOptions {
    GroupOptions {
        idle,
        ..GroupOptions::default()
    }
}

/// Waits (up to 30 s) until `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_idle_writer_thread_ends_and_a_new_one_starts_when_work_queues_again() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), idle_after(Duration::from_millis(20)));
    writer.submit(insert(1, "first thread")).wait().unwrap();
    assert_eq!(writer.stats().threads_started, 1);
    wait_until("the idle writer thread ended", || !writer.has_thread());
    let thread = writer
        .submit(|c: &Connection| {
            c.execute("INSERT INTO notes VALUES (2, 'second thread')", [])?;
            Ok::<_, rusqlite::Error>(std::thread::current().name().map(str::to_string))
        })
        .wait()
        .unwrap();
    assert_eq!(thread.as_deref(), Some("statekit-writer"));
    assert_eq!(
        writer.stats().threads_started,
        2,
        "a new thread took the unit"
    );
    assert_eq!(
        notes(dir.path()),
        [(1, "first thread".into()), (2, "second thread".into())]
    );
    // Dropping the writer joins the thread, ended or not.
    drop(writer);
}

/// A unit handed over while the thread decides to end is committed by it; a unit
/// handed over after it took its queue away goes to a new thread, which runs it only
/// after the old one finished: nothing lost, nothing reordered.
#[test]
fn units_handed_over_as_the_idle_thread_ends_are_neither_lost_nor_reordered() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), idle_after(Duration::from_millis(10)));
    let (at_tx, at) = mpsc::channel::<Retire>();
    let (go_tx, go) = mpsc::channel::<()>();
    let mut rounds = 0;
    *writer.shared.retire_hook.0.lock().unwrap() = Some(Box::new(move |stage: Retire| {
        // Only the first thread's end is held; later threads end freely.
        if rounds < 2 {
            rounds += 1;
            at_tx.send(stage).unwrap();
            go.recv().unwrap();
        }
    }));
    writer.submit(insert(1, "a")).wait().unwrap();

    assert_eq!(at.recv().unwrap(), Retire::Deciding);
    // The thread waited in vain and is about to end: its queue still takes units.
    let b = writer.submit(insert(2, "b"));
    go_tx.send(()).unwrap();
    assert_eq!(at.recv().unwrap(), Retire::Draining);
    // Its queue is taken away: this unit starts a new thread, while "b" waits in the
    // old one's queue.
    let c = writer.submit(|c: &Connection| {
        let b_seen: bool = c.query_row(
            "SELECT EXISTS (SELECT 1 FROM notes WHERE id = 2)",
            [],
            |r| r.get(0),
        )?;
        c.execute("INSERT INTO notes VALUES (3, 'c')", [])?;
        Ok::<_, rusqlite::Error>(b_seen)
    });
    assert_eq!(writer.stats().threads_started, 2);
    go_tx.send(()).unwrap();
    assert_eq!(b.wait().unwrap(), 1);
    assert!(
        c.wait().unwrap(),
        "the later unit ran before the earlier one"
    );
    assert_eq!(notes(dir.path()).len(), 3);
    assert_eq!(writer.shared.in_writer.load(Ordering::SeqCst), 0);
}

/// Many threads hand over units without waiting, pausing now and then so that the
/// writer thread ends and restarts under them: every unit commits, and each thread's
/// units commit in the order it handed them over.
#[test]
fn units_survive_a_writer_thread_that_keeps_ending_and_restarting() {
    const THREADS: i64 = 4;
    const UNITS: i64 = 150;
    let dir = tempfile::tempdir().unwrap();
    // Commits without fsync, so the writer is often idle between the pauses.
    let opts = OpenOptions {
        synchronous: crate::sqlite::Synchronous::Off,
        ..OpenOptions::default()
    };
    let writer = GroupWriter::open(
        &dir.path().join("group.db"),
        &opts,
        idle_after(Duration::from_micros(200)),
    )
    .unwrap();
    writer
        .write(|c| c.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, note TEXT)"))
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let writer = &writer;
            s.spawn(move || {
                let pending: Vec<_> = (0..UNITS)
                    .map(|i| {
                        if i % 5 == 0 {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        let id = t * 10_000 + i;
                        writer.submit(move |c: &Connection| {
                            let before_seen: bool = i == 0
                                || c.query_row(
                                    "SELECT EXISTS (SELECT 1 FROM notes WHERE id = ?1)",
                                    [id - 1],
                                    |r| r.get(0),
                                )?;
                            c.execute("INSERT INTO notes VALUES (?1, 'x')", [id])?;
                            Ok::<_, rusqlite::Error>(before_seen)
                        })
                    })
                    .collect();
                for p in pending {
                    assert!(p.wait().unwrap(), "a unit overtook one handed over before");
                }
            });
        }
    });
    assert_eq!(notes(dir.path()).len() as i64, THREADS * UNITS);
    assert!(
        writer.stats().threads_started > 1,
        "the thread never ended: the test did not test the restart"
    );
}

#[test]
fn dropping_the_writer_finishes_queued_units() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_with_notes(dir.path(), GroupOptions::default());
    let (gate, release) = hold_writer(&writer);
    let pending: Vec<_> = (0..50)
        .map(|i| writer.submit(insert(i, "queued")))
        .collect();
    let dropper = std::thread::spawn(move || drop(writer));
    std::thread::sleep(Duration::from_millis(50));
    assert!(!dropper.is_finished(), "the drop waits for the queued work");
    drop(release);
    dropper.join().unwrap();
    gate.wait().unwrap();
    for p in pending {
        assert_eq!(p.wait().unwrap(), 1);
    }
    assert_eq!(notes(dir.path()).len(), 50);
}

const KILL_CHILD_ENV: &str = "STATEKIT_GROUP_KILL_CHILD_DB";

/// Child side of the kill test: eight threads write through one writer and print
/// `ack {id}` for each unit acknowledged, until killed (or a minute has passed, in
/// case the parent died).
fn write_until_killed(db: &Path) {
    let writer = GroupWriter::open(db, &OpenOptions::default(), GroupOptions::default()).unwrap();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..8 {
            let writer = &writer;
            s.spawn(move || {
                for seq in 0.. {
                    let id = t * 1_000_000 + seq;
                    writer.write(insert(id, "acknowledged")).unwrap();
                    let acked = writeln!(std::io::stdout().lock(), "ack {id}");
                    if acked.is_err() || start.elapsed() > Duration::from_secs(60) {
                        return;
                    }
                }
            });
        }
    });
}

#[cfg(unix)]
#[test]
fn no_acknowledged_unit_is_lost_when_the_process_is_killed() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    if let Some(db) = std::env::var_os(KILL_CHILD_ENV) {
        write_until_killed(Path::new(&db));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    drop(writer_with_notes(dir.path(), GroupOptions::default()));

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sqlite::group::tests::no_acknowledged_unit_is_lost_when_the_process_is_killed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_CHILD_ENV, dir.path().join("group.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    // Let the stream get well under way, then kill it mid-stream.
    while acked.len() < 2000 {
        let line = lines.next().expect("the child stopped writing").unwrap();
        if let Some(id) = line.strip_prefix("ack ") {
            acked.push(id.parse::<i64>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL
    // Acknowledgements already in the pipe count too.
    for line in lines {
        if let Some(id) = line.unwrap().strip_prefix("ack ") {
            acked.push(id.parse::<i64>().unwrap());
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed, not exited: {status:?}");

    let stored: std::collections::HashSet<i64> =
        notes(dir.path()).into_iter().map(|(id, _)| id).collect();
    let lost: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged units lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(stored.len() >= acked.len());
    let conn = open_connection(&dir.path().join("group.db"), &OpenOptions::default()).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// Remembers every batch it hears of.
#[derive(Debug, Default)]
struct Batches(Mutex<Vec<(usize, bool)>>);

impl BatchObserver for Batches {
    fn batch_ended(&self, units: usize, committed: bool, elapsed: Duration) {
        assert!(elapsed < Duration::from_secs(60));
        self.0.lock().unwrap().push((units, committed));
    }
}

#[test]
fn the_observer_hears_each_batch_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let batches = Arc::new(Batches::default());
    let writer = writer_with_notes(
        dir.path(),
        GroupOptions {
            observer: Some(batches.clone()),
            ..GroupOptions::default()
        },
    );
    // The table's creation: a batch of one on the caller's thread.
    assert_eq!(*batches.0.lock().unwrap(), [(1, true)]);

    let (gate, release) = hold_writer(&writer);
    let pending: Vec<_> = (0..3).map(|i| writer.submit(insert(i, "x"))).collect();
    drop(release);
    gate.wait().unwrap();
    for p in pending {
        p.wait().unwrap();
    }
    // A lone unit that fails is rolled back: its own error, the writer's batch ended
    // well.
    let refused = writer.write(|_: &Connection| Err::<(), _>(Refused("no")));
    assert!(refused.is_err());
    let seen = batches.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(1, true), (1, true), (3, true), (1, true)],
        "the held unit alone, then the three that queued behind it"
    );
    assert_eq!(notes(dir.path()).len(), 3);
}
