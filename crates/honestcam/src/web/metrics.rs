//! `/metrics`: the portal's metrics in Prometheus' text format (0.0.4).
//!
//! **Who may read it** is `statekit::scrape`'s rule: a request made on this machine
//! straight to the portal (a loopback peer, a loopback `Host`, no proxy's forwarding
//! headers), or one carrying `Authorization: Bearer` with the token of
//! `serve --metrics-token-file`. Anything else gets the same 404 as a page that does
//! not exist: behind Cloudflare Tunnel every request arrives from 127.0.0.1, but with
//! the public host name and `CF-Connecting-IP`, so a visitor from the internet (even
//! one Access let in) is no local scraper. The route sits behind the guard (its
//! `Host` check stops a page that made its own name resolve to 127.0.0.1) and before
//! authentication, which a scraper could not pass.
//!
//! **What it shows.** Requests by matched route template (never the raw path, so
//! the label's values are bounded by the routes), method and status, and their
//! latency; storage's counters (see [`crate::storage::metrics`]); and, read at each
//! scrape, the databases open, the properties by backend and the last restore drill.

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use statekit::scrape::{self, ScrapeToken};

use super::{AppError, AppState};
use crate::ops::drills;
use crate::storage::{ALL_BACKENDS, Backend, Storage};

/// The path it is served at.
pub const METRICS_PATH: &str = "/metrics";

/// Request latency buckets, in seconds: 1 ms to 30 s.
const LATENCY: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

/// The portal's registry and the metrics it keeps beside storage's.
#[derive(Debug)]
pub struct PortalMetrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    open_databases: IntGauge,
    properties: IntGaugeVec,
    drills_recorded: IntGauge,
    drill_ok: IntGaugeVec,
    drill_at: GaugeVec,
    drill_age: GaugeVec,
    drill_lag: GaugeVec,
    token: OnceLock<ScrapeToken>,
    /// Held by a scrape while it refreshes and renders.
    scrape: Mutex<()>,
}

/// The definitions are constants: a failure is a bug that every test of the portal
/// meets first.
fn must<T>(made: prometheus::Result<T>) -> T {
    match made {
        Ok(m) => m,
        Err(e) => panic!("a portal metric is ill-defined: {e}"),
    }
}

impl PortalMetrics {
    /// The metrics of a portal over `storage`, open to local requests only (see
    /// [`PortalMetrics::open_with`]).
    pub fn new(storage: &Storage) -> PortalMetrics {
        let drill =
            |name: &str, help: &str| must(GaugeVec::new(Opts::new(name, help), &["source"]));
        let m = PortalMetrics {
            registry: Registry::new(),
            requests: must(IntCounterVec::new(
                Opts::new(
                    "honestcam_http_requests_total",
                    "HTTP requests answered, by route template (unmatched: no route), method and status.",
                ),
                &["route", "method", "status"],
            )),
            latency: must(HistogramVec::new(
                HistogramOpts::new(
                    "honestcam_http_request_duration_seconds",
                    "Time to answer a request (to the response head), by route template.",
                )
                .buckets(LATENCY.to_vec()),
                &["route"],
            )),
            open_databases: must(IntGauge::new(
                "honestcam_open_databases",
                "SQLite databases the portal holds open now (the study database among them).",
            )),
            properties: must(IntGaugeVec::new(
                Opts::new(
                    "honestcam_properties",
                    "Properties in the data dir, by the backend they are on.",
                ),
                &["backend"],
            )),
            drills_recorded: must(IntGauge::new(
                "honestcam_restore_drills_recorded",
                "Restore drills (backup-verify runs) in the data dir's record (the last 30 are kept).",
            )),
            drill_ok: must(IntGaugeVec::new(
                Opts::new(
                    "honestcam_restore_drill_last_ok",
                    "Whether the last restore drill passed (1) or failed (0); absent when none is recorded.",
                ),
                &["source"],
            )),
            drill_at: drill(
                "honestcam_restore_drill_last_timestamp_seconds",
                "When the last restore drill ended, in Unix seconds.",
            ),
            drill_age: drill(
                "honestcam_restore_drill_last_age_seconds",
                "Seconds since the last restore drill ended.",
            ),
            drill_lag: drill(
                "honestcam_restore_drill_last_max_lag_seconds",
                "The largest lag behind the live data that the last restore drill found.",
            ),
            token: OnceLock::new(),
            scrape: Mutex::new(()),
        };
        let mut all: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.requests.clone()),
            Box::new(m.latency.clone()),
            Box::new(m.open_databases.clone()),
            Box::new(m.properties.clone()),
            Box::new(m.drills_recorded.clone()),
            Box::new(m.drill_ok.clone()),
            Box::new(m.drill_at.clone()),
            Box::new(m.drill_age.clone()),
            Box::new(m.drill_lag.clone()),
        ];
        all.extend(storage.metrics().collectors());
        for collector in all {
            must(m.registry.register(collector));
        }
        m
    }

    /// Lets requests that carry `token` read the metrics from anywhere (the first
    /// token given counts).
    pub fn open_with(&self, token: ScrapeToken) {
        let _ = self.token.set(token);
    }

    /// Counts one answered request.
    fn observe(&self, route: &str, method: &Method, status: u16, began: Instant) {
        let method = match *method {
            Method::GET => "GET",
            Method::HEAD => "HEAD",
            Method::POST => "POST",
            _ => "other",
        };
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route])
            .observe(began.elapsed().as_secs_f64());
    }

    /// Reads what is read at each scrape (blocking: files and the drill record).
    fn refresh(&self, storage: &Storage) {
        self.open_databases
            .set(i64::try_from(storage.databases().open_count()).unwrap_or(i64::MAX));
        let data = storage.data();
        match data.properties() {
            Ok(slugs) => {
                let on = |b: Backend| {
                    slugs
                        .iter()
                        .filter(|s| storage.backend(&data.property(s)) == b)
                        .count() as i64
                };
                for backend in ALL_BACKENDS {
                    self.properties
                        .with_label_values(&[backend.name()])
                        .set(on(backend));
                }
            }
            Err(e) => tracing::warn!(
                "/metrics cannot list the properties in {}: {e}",
                data.path().display()
            ),
        }
        for gauge in [&self.drill_at, &self.drill_age, &self.drill_lag] {
            gauge.reset();
        }
        self.drill_ok.reset();
        match drills::read(data) {
            Ok(recorded) => {
                self.drills_recorded
                    .set(i64::try_from(recorded.len()).unwrap_or(i64::MAX));
                if let Some(last) = recorded.iter().max_by_key(|d| d.at) {
                    let source = [last.source.as_str()];
                    let now = jiff::Timestamp::now();
                    self.drill_ok
                        .with_label_values(&source)
                        .set(i64::from(last.ok));
                    self.drill_at
                        .with_label_values(&source)
                        .set(last.at.as_second() as f64);
                    self.drill_age
                        .with_label_values(&source)
                        .set(last.age_secs(now) as f64);
                    self.drill_lag
                        .with_label_values(&source)
                        .set(last.max_lag_secs as f64);
                }
            }
            Err(e) => {
                // Said as none recorded: an alert on a missing drill fires.
                self.drills_recorded.set(0);
                tracing::warn!(
                    "/metrics cannot read the drill record: {}",
                    statekit::error::Chain(&e)
                );
            }
        }
    }

    /// Everything, in the text format.
    fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }

    /// Whether this request may read the metrics (see `statekit::scrape`).
    fn allows(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
        scrape::allows(self.token.get(), peer, headers)
    }
}

/// `GET /metrics`.
pub async fn page(State(state): State<AppState>, request: Request) -> Result<Response, AppError> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a);
    if !state.metrics().allows(peer, request.headers()) {
        return Err(AppError::not_found("no such page"));
    }
    let kept = state.clone();
    let text = state
        .run(move |storage, _| {
            let metrics = kept.metrics();
            // One scrape at a time: each resets and sets the gauges it reads.
            let _scrape = metrics
                .scrape
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            metrics.refresh(storage);
            metrics
                .render()
                .map_err(|e| AppError::internal("cannot render the metrics", e))
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response())
}

/// Counts every request by its matched route, method and status (the outermost
/// layer: refusals of the guard and authentication count too).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().clone();
    let began = Instant::now();
    let response = next.run(request).await;
    state
        .metrics()
        .observe(&route, &method, response.status().as_u16(), began);
    response
}
