//! Bounded resources: `serve` over a data dir of 1,000 properties, under a limit of
//! 256 file descriptors, serves every property and the home page while its open
//! descriptors and threads stay under the stated bound.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::{App, SLUG, client, migrated};

const PROPERTIES: usize = 1_000;

/// The stated bound at the default `--max-open-databases 16`, with 12 storage
/// threads: at most 16 databases open (a database in use is never closed, and 12
/// storage threads use at most 13 at once) at 5 descriptors each (80); per running
/// storage task a reader beyond the idle one (2), the property's and the study
/// database's locks (2 + 2) and a file being read (1), 12 x 7 (84); the process's own
/// (standard streams, the runtime's poll and wake-up, the listener, the signal pipe:
/// 12 measured at start); and this test's client connections (8).
const FD_BOUND: usize = 80 + 84 + 12 + 8;

/// Threads: main, one runtime worker per core (2 on the machines we test on; 8
/// allowed), 12 storage threads, a writer thread per open database (16) and the
/// signal driver (1).
const THREAD_BOUND: usize = 1 + 8 + 12 + 16 + 1;

/// The largest counts of entries under `/proc/{pid}/fd` and `/proc/{pid}/task` seen
/// while it runs, sampled on a thread of its own.
struct Sampler {
    stop: Arc<AtomicBool>,
    max_fds: Arc<AtomicUsize>,
    max_threads: Arc<AtomicUsize>,
    samples: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let (max_fds, max_threads, samples) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let thread = {
            let (stop, max_fds, max_threads, samples) = (
                Arc::clone(&stop),
                Arc::clone(&max_fds),
                Arc::clone(&max_threads),
                Arc::clone(&samples),
            );
            std::thread::spawn(move || {
                let proc = Path::new("/proc").join(pid.to_string());
                while !stop.load(Ordering::SeqCst) {
                    max_fds.fetch_max(entries(&proc.join("fd")), Ordering::SeqCst);
                    max_threads.fetch_max(entries(&proc.join("task")), Ordering::SeqCst);
                    samples.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            })
        };
        Sampler {
            stop,
            max_fds,
            max_threads,
            samples,
            thread: Some(thread),
        }
    }

    /// The largest descriptor and thread counts seen, and how many samples were taken.
    fn finish(mut self) -> (usize, usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (
            self.max_fds.load(Ordering::SeqCst),
            self.max_threads.load(Ordering::SeqCst),
            self.samples.load(Ordering::SeqCst),
        )
    }
}

/// `count` properties made by copying the migrated demo property's database and
/// baseline under the slugs `p0000`, `p0001`, ...; returns the slugs.
fn copies_of_one_property(data: &Path, count: usize) -> Vec<String> {
    let source = data.join(SLUG);
    for sidecar in ["honestcam.db-wal", "honestcam.db-shm"] {
        assert!(
            !source.join(sidecar).exists(),
            "the CLI left {sidecar}: copies would miss committed pages"
        );
    }
    let db = std::fs::read(source.join("honestcam.db")).unwrap();
    let baseline = std::fs::read(source.join("compliance.json")).unwrap();
    (0..count)
        .map(|i| {
            let slug = format!("p{i:04}");
            let dir = data.join(&slug);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("honestcam.db"), &db).unwrap();
            std::fs::write(dir.join("compliance.json"), &baseline).unwrap();
            slug
        })
        .collect()
}

/// Starts `honestcam serve` on `data` under `ulimit -n 256`.
fn serve_under_256_descriptors(data: &Path) -> App {
    let child = Command::new("sh")
        .args([
            "-c",
            "ulimit -n 256 && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_honestcam"),
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--auth",
            "none",
        ])
        .env("HONESTCAM_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .env_remove("HONESTCAM_PROPERTY")
        .env_remove("HONESTCAM_MAX_OPEN_DATABASES")
        .env_remove("HONESTCAM_PUBLIC_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    App::from_child(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_properties_are_served_within_256_descriptors() {
    let f = migrated();
    let slugs = copies_of_one_property(&f.dir(), PROPERTIES);
    let app = serve_under_256_descriptors(&f.dir());
    let pid = app.child.id();
    let proc = Path::new("/proc").join(pid.to_string());
    let limits = std::fs::read_to_string(proc.join("limits")).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 256 ")),
        "the limit did not take: {limits}"
    );
    // Nothing is opened before the first request: no database at all.
    let at_start = entries(&proc.join("fd"));
    assert!(
        at_start <= 16,
        "{at_start} descriptors open before any request"
    );

    let sampler = Sampler::start(pid);
    let queue = Arc::new(Mutex::new(slugs.clone()));
    let http = client();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (queue, http, base) = (Arc::clone(&queue), http.clone(), app.base.clone());
            tokio::spawn(async move {
                let mut served = 0;
                loop {
                    let Some(slug) = queue.lock().unwrap().pop() else {
                        return served;
                    };
                    let page = http
                        .get(format!("{base}/p/{slug}/compliance/"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(page.status(), 200, "{slug}");
                    assert!(
                        page.text().await.unwrap().contains("Bamboo House"),
                        "{slug}"
                    );
                    served += 1;
                }
            })
        })
        .collect();
    let mut served = 0;
    for w in workers {
        served += w.await.unwrap();
    }
    assert_eq!(served, PROPERTIES, "every property page answered");

    let home = http.get(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let home = home.text().await.unwrap();
    let listed = slugs
        .iter()
        .filter(|s| home.contains(&format!("/p/{s}/compliance/")))
        .count();
    assert_eq!(listed, PROPERTIES, "the home page lists every property");
    // Again, from the kept lines.
    assert_eq!(http.get(app.url("/")).send().await.unwrap().status(), 200);

    let (max_fds, max_threads, samples) = sampler.finish();
    let (fds_after, threads_after) = (entries(&proc.join("fd")), entries(&proc.join("task")));
    eprintln!(
        "descriptors: {at_start} at start, at most {max_fds} while serving, {fds_after} after; \
         threads: at most {max_threads}, {threads_after} after ({samples} samples)"
    );
    assert!(samples > 10, "too few samples to say anything");
    assert!(
        max_fds > at_start,
        "the sampler saw no request being served"
    );
    assert!(max_fds <= FD_BOUND, "{max_fds} descriptors > {FD_BOUND}");
    assert!(fds_after <= FD_BOUND);
    assert!(
        max_threads <= THREAD_BOUND,
        "{max_threads} threads > {THREAD_BOUND}"
    );
    assert!(threads_after <= THREAD_BOUND);
    assert!(app.stop(), "the server stopped cleanly");
}

#[test]
fn the_bound_on_open_databases_is_refused_out_of_range() {
    let f = migrated();
    for (args, env) in [
        (vec!["--max-open-databases", "1"], None),
        (vec!["--max-open-databases", "10001"], None),
        (vec![], Some("many")),
    ] {
        let mut all = vec!["serve", "--auth", "none", "--addr", "127.0.0.1:0"];
        all.extend(args.iter().copied());
        let out = match env {
            Some(v) => f.run_env(&all, &[("HONESTCAM_MAX_OPEN_DATABASES", v)]),
            None => f.run(&all),
        };
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--max-open-databases"), "{err}");
    }
}

/// `--max-open-databases 4`: after visiting 30 properties, 4 databases stay open.
#[tokio::test]
async fn the_flag_sets_how_many_databases_stay_open() {
    let f = migrated();
    let slugs = copies_of_one_property(&f.dir(), 30);
    let app = f.spawn_app(&["--max-open-databases", "4"], &[]);
    let fd_dir = Path::new("/proc")
        .join(app.child.id().to_string())
        .join("fd");
    let db_files = || {
        std::fs::read_dir(&fd_dir)
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
            .filter(|l| l.to_string_lossy().ends_with("honestcam.db"))
            .count()
    };
    let http = client();
    for slug in &slugs {
        let page = http
            .get(app.url(&format!("/p/{slug}/compliance/")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
    }
    // Each open database holds its file twice (writer and one idle reader).
    assert_eq!(db_files(), 4 * 2, "four databases open");
}
