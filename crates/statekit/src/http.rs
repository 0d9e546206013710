//! The accept loop: serves an axum [`Router`] over HTTP/1.1 with bounded connections.
//!
//! It owns what `axum::serve` leaves open: how long a client may take to send a request
//! head, how long a keep-alive connection may sit idle, and how many connections are
//! open at once. It knows nothing of the routes it serves.
//!
//! - A connection that has not sent a whole request head within
//!   [`Limits::header_read`] is closed: a new connection counts from its accept, a
//!   kept-alive one from the first byte of its next request.
//! - A kept-alive connection that sends nothing for [`Limits::idle`] after its last
//!   answer is closed.
//! - At most [`Limits::max_connections`] connections are served at once. At the cap
//!   the loop accepts one more and closes, to make room, the connection that has been
//!   waiting longest for a request head (half-sent or idle); when every connection is
//!   busy with a request, the new one waits for a free place and further clients wait
//!   in the kernel's backlog. Descriptors held for clients never exceed the cap + 1.
//! - An accept error (EMFILE, ENFILE and the like) does not end the loop: it backs off
//!   briefly and goes on.
//! - When `shutdown` completes, the listener closes and the loop waits until every
//!   connection is done: requests in flight finish, idle connections close at once.
//!
//! It serves both applications' listeners (the portal, the bot's webhook); behind the
//! `http` feature, so that a user of the storage kit alone builds no HTTP stack.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};

/// How long an accept error (such as EMFILE) pauses the loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// At most one warning about accept errors in this time.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(10);

/// The bounds on client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to send a whole request head.
    pub header_read: Duration,
    /// Time a kept-alive connection may stay silent between requests.
    pub idle: Duration,
    /// Connections served at once.
    pub max_connections: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            max_connections: 64,
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then waits
/// for the requests in flight. Each request carries the client's address as
/// [`ConnectInfo<SocketAddr>`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = limits.max_connections.max(1);
    let places = Arc::new(Semaphore::new(max as usize));
    let open = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    let mut last_warned: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                if last_warned.is_none_or(|t| t.elapsed() >= ACCEPT_WARN_EVERY) {
                    tracing::warn!("accepting a connection failed (retrying): {e}");
                    last_warned = Some(Instant::now());
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let permit = match Arc::clone(&places).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                open.evict_longest_waiting();
                tokio::select! {
                    () = &mut shutdown => break,
                    p = Arc::clone(&places).acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                }
            }
        };
        let conn = open.add();
        let registry = Arc::clone(&open);
        let router = router.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            // Dropped last: the place frees once the socket is closed.
            let _permit = permit;
            let _listed = Listed {
                registry,
                id: conn.id,
            };
            let _ = stream.set_nodelay(true);
            let io = TokioIo::new(Watched {
                io: stream,
                conn: Arc::clone(&conn),
            });
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(addr));
                let router = router.clone();
                async move {
                    let res: Result<axum::response::Response, Infallible> =
                        tower::ServiceExt::oneshot(router, req).await;
                    res
                }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(HeadTimer {
                    conn: Arc::clone(&conn),
                    limits,
                })
                .header_read_timeout(limits.header_read)
                .keep_alive(true);
            let connection = builder.serve_connection(io, service);
            tokio::pin!(connection);
            loop {
                tokio::select! {
                    r = connection.as_mut() => break log_end(r),
                    () = conn.evict.notified() => {
                        // Closed only if still waiting for a head: a request that
                        // began meanwhile finishes.
                        let mut s = conn.state();
                        if s.waiting.is_some() {
                            break;
                        }
                        s.evicted = false;
                    }
                    () = async { drop(stop.wait_for(|s| *s).await) } => {
                        connection.as_mut().graceful_shutdown();
                        break log_end(connection.as_mut().await);
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every place back: every connection closed.
    let _ = places.acquire_many(max).await;
    Ok(())
}

fn log_end(r: Result<(), hyper::Error>) {
    if let Err(e) = r {
        tracing::debug!("connection closed: {e}");
    }
}

/// Errors of one connection that came and went, not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}

/// One open connection, as the loop sees it.
#[derive(Debug)]
struct Conn {
    id: u64,
    state: Mutex<ConnState>,
    /// Told to close (to make room for a new connection).
    evict: Notify,
}

#[derive(Debug, Default)]
struct ConnState {
    /// Request heads waited for so far (the one being waited for among them).
    heads: u64,
    /// The wait for a request head under way: its number and since when.
    waiting: Option<(u64, Instant)>,
    /// When the first byte of the head waited for arrived.
    first_byte: Option<Instant>,
    evicted: bool,
}

impl Conn {
    fn state(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The open connections.
#[derive(Debug, Default)]
struct Registry {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn conns(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(ConnState::default()),
            evict: Notify::new(),
        });
        self.conns().insert(conn.id, Arc::clone(&conn));
        conn
    }

    /// Tells the connection waiting longest for a request head to close, if any.
    fn evict_longest_waiting(&self) {
        let conns = self.conns();
        let oldest = conns
            .values()
            .filter_map(|c| {
                let s = c.state();
                match s.waiting {
                    Some((_, since)) if !s.evicted => Some((since, c)),
                    _ => None,
                }
            })
            .min_by_key(|(since, _)| *since)
            .map(|(_, c)| Arc::clone(c));
        drop(conns);
        if let Some(c) = oldest {
            c.state().evicted = true;
            c.evict.notify_one();
        }
    }
}

/// Takes a connection off the registry when its task ends.
struct Listed {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.registry.conns().remove(&self.id);
    }
}

/// The socket, noting when the first byte of an awaited request head arrives.
struct Watched {
    io: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            let mut s = self.conn.state();
            if s.waiting.is_some() && s.first_byte.is_none() {
                s.first_byte = Some(Instant::now());
            }
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// hyper's timer for one connection. hyper asks it for one sleep per request head,
/// made when it starts waiting for the head and dropped once the head is read; its
/// deadline is ours: for the first head, `header_read` after the accept; for later
/// ones `idle` after the wait began, or `header_read` after the head's first byte once
/// one came.
#[derive(Debug, Clone)]
struct HeadTimer {
    conn: Arc<Conn>,
    limits: Limits,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let now = Instant::now();
        let mut s = self.conn.state();
        let number = s.heads;
        s.heads += 1;
        s.waiting = Some((number, now));
        s.first_byte = None;
        drop(s);
        Box::pin(HeadSleep {
            conn: Arc::clone(&self.conn),
            limits: self.limits,
            number,
            since: now,
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
        })
    }
}

/// The wait for one request head.
struct HeadSleep {
    conn: Arc<Conn>,
    limits: Limits,
    number: u64,
    since: Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl HeadSleep {
    fn deadline(&self) -> Instant {
        if self.number == 0 {
            return self.since + self.limits.header_read;
        }
        match self.conn.state().first_byte {
            Some(t) => t + self.limits.header_read,
            None => self.since + self.limits.idle,
        }
    }
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = tokio::time::Instant::from_std(self.deadline());
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadSleep {}

impl Drop for HeadSleep {
    fn drop(&mut self) {
        let mut s = self.conn.state();
        if s.waiting.is_some_and(|(n, _)| n == self.number) {
            s.waiting = None;
        }
    }
}
