//! Bounded connections: `serve` closes connections that do not send a request head in
//! time and kept-alive ones left idle, and keeps answering while many clients hold
//! connections open with half a request, under a limit of 256 file descriptors.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{App, Fixture};

/// Half-sent connections the tests open (more than 256 descriptors allow).
const HALF_SENT: usize = 300;

/// Starts `honestcam serve` on `f` under `ulimit -n 256`, with `extra` flags.
fn serve_under_256_descriptors(f: &Fixture, extra: &[&str]) -> App {
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
        .args(extra)
        .env("HONESTCAM_DATA_DIR", f.dir())
        .env("RUST_LOG", "warn")
        .env_remove("HONESTCAM_PROPERTY")
        .env_remove("HONESTCAM_PUBLIC_URL")
        .env_remove("HONESTCAM_MAX_OPEN_CONNECTIONS")
        .env_remove("HONESTCAM_HEADER_READ_TIMEOUT")
        .env_remove("HONESTCAM_IDLE_TIMEOUT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    App::from_child(child)
}

fn host(app: &App) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (end of file or reset); false if it
/// has not by `deadline`.
async fn closed_by(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Sends `GET /healthz` on `stream` and reads its answer (the body "ok").
async fn healthz_on(stream: &mut TcpStream, host: &str) {
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !(got.starts_with(b"HTTP/1.1 200") && got.ends_with(b"\r\n\r\nok")) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before answering: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("no answer to /healthz on the kept-alive connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_sent_requests_are_closed_and_healthz_still_answers_under_256_descriptors() {
    let f = Fixture::new();
    let app = serve_under_256_descriptors(&f, &["--header-read-timeout", "1"]);
    let host = host(&app);
    let half = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nUser-Agent: slo");
    let mut held = Vec::with_capacity(HALF_SENT);
    for _ in 0..HALF_SENT {
        let mut s = TcpStream::connect(&host).await.unwrap();
        s.write_all(half.as_bytes()).await.unwrap();
        held.push(s);
    }
    // Meanwhile the portal answers, each time within a second.
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    for i in 0..6 {
        let res = quick.get(app.url("/healthz")).send().await;
        let res = res.unwrap_or_else(|e| panic!("/healthz poll {i} failed: {e}"));
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "ok");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Every half-sent connection is closed by the server.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut waits = tokio::task::JoinSet::new();
    for mut s in held {
        waits.spawn(async move { closed_by(&mut s, deadline).await });
    }
    let mut open = 0;
    while let Some(closed) = waits.join_next().await {
        open += usize::from(!closed.unwrap());
    }
    assert_eq!(open, 0, "half-sent connections still open after 20 s");
    // And it still answers.
    let res = quick.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(app.stop(), "exit code 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let f = Fixture::new();
    let app = f.spawn_app(
        &["--header-read-timeout", "1", "--idle-timeout", "600"],
        &[],
    );
    let mut s = TcpStream::connect(host(&app)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    assert!(closed_by(&mut s, deadline).await, "still open after 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let f = Fixture::new();
    let app = f.spawn_app(&["--header-read-timeout", "1", "--idle-timeout", "4"], &[]);
    let host = host(&app);
    let mut s = TcpStream::connect(&host).await.unwrap();
    healthz_on(&mut s, &host).await;
    // Past the header timeout, the idle connection is still served: the idle timeout,
    // not the header one, bounds the wait between requests.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    healthz_on(&mut s, &host).await;
    let deadline = Instant::now() + Duration::from_secs(12);
    assert!(closed_by(&mut s, deadline).await, "still open after 12 s");
}

#[test]
fn out_of_range_connection_bounds_are_usage_errors() {
    let f = Fixture::new();
    for args in [
        ["--header-read-timeout", "0"],
        ["--header-read-timeout", "301"],
        ["--idle-timeout", "0"],
        ["--idle-timeout", "3601"],
        ["--max-open-connections", "0"],
        ["--max-open-connections", "10001"],
        ["--max-open-connections", "many"],
    ] {
        let out = f.run(&[
            "serve",
            "--auth",
            "none",
            "--addr",
            "127.0.0.1:0",
            args[0],
            args[1],
        ]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("invalid value") && err.contains(args[0]),
            "{args:?}: {err}"
        );
    }
}
