//! The portal: server-rendered pages, the JSON API and health check, over [`Storage`],
//! and the MCP server at `/mcp` when given one ([`AppState::with_mcp`]).
//!
//! [`router`] builds the whole app from an [`AppState`], so tests call it in-process
//! or serve it on a real listener with [`serve`]. Every page and API route exists for
//! each property under `/p/{slug}/...`; the bare routes use the default property.
//! Storage calls run on the blocking pool ([`AppState::run`]).

pub mod api;
pub mod auth;
pub mod compliance;
pub mod error;
pub mod export;
pub mod guard;
pub mod home;
pub mod metrics;
pub mod rendered;
pub mod study;

use std::collections::HashMap;
use std::future::Future;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::{get, post};
use jiff::tz::TimeZone;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::mcp::McpServer;
use crate::property::Slug;
use crate::service::snapshot::Snapshots;
use crate::storage::Storage;
pub use auth::AuthMode;
pub use error::AppError;
pub use guard::Site;

/// Everything handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    storage: Storage,
    snapshots: Snapshots,
    summaries: home::Summaries,
    pages: rendered::RenderedPages,
    default_property: Option<Slug>,
    site: Site,
    auth: AuthMode,
    time_zone: TimeZone,
    /// The MCP server served at `/mcp`, if any.
    mcp: std::sync::OnceLock<McpServer>,
    /// What `/metrics` shows.
    metrics: metrics::PortalMetrics,
}

impl AppState {
    /// State over `storage` for the portal at `site`, identifying requests by `auth`;
    /// bare routes use `default_property`; pages show times (and decide what is
    /// overdue) in `time_zone`. Stored times stay UTC.
    pub fn new(
        storage: Storage,
        default_property: Option<Slug>,
        site: Site,
        auth: AuthMode,
        time_zone: TimeZone,
    ) -> AppState {
        let metrics = metrics::PortalMetrics::new(&storage);
        AppState {
            inner: Arc::new(Inner {
                metrics,
                storage,
                snapshots: Snapshots::new(),
                summaries: home::Summaries::default(),
                pages: rendered::RenderedPages::default(),
                default_property,
                site,
                auth,
                time_zone,
                mcp: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Serves `server` at `/mcp` as well (the first one given), behind the guard and
    /// authentication like every route: API tokens, read-only ones included, and
    /// Access identities. Give it before building the [`router`].
    pub fn with_mcp(self, server: McpServer) -> AppState {
        let _ = self.inner.mcp.set(server);
        self
    }

    /// Lets `/metrics` be read with `token` from anywhere, not only from this machine
    /// (see [`metrics`]).
    pub fn with_metrics_token(self, token: statekit::scrape::ScrapeToken) -> AppState {
        self.inner.metrics.open_with(token);
        self
    }

    /// What `/metrics` shows.
    pub fn metrics(&self) -> &metrics::PortalMetrics {
        &self.inner.metrics
    }

    /// The zone pages show times in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.inner.time_zone
    }

    /// Today's date in the portal's zone.
    pub fn today(&self) -> jiff::civil::Date {
        jiff::Timestamp::now()
            .to_zoned(self.inner.time_zone.clone())
            .date()
    }

    /// The home page's line of each property, as last read.
    pub fn summaries(&self) -> &home::Summaries {
        &self.inner.summaries
    }

    /// Property pages as rendered.
    pub fn pages(&self) -> &rendered::RenderedPages {
        &self.inner.pages
    }

    /// How requests are identified.
    pub fn auth(&self) -> &AuthMode {
        &self.inner.auth
    }

    /// Where the portal is reached.
    pub fn site(&self) -> &Site {
        &self.inner.site
    }

    /// The storage.
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// Runs storage work on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Storage, &Snapshots) -> Result<T, AppError> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || f(&state.inner.storage, &state.inner.snapshots))
            .await
            .map_err(|e| AppError::internal("a storage task failed", e))?
    }
}

/// The property a request is about, and the URL prefix its links use.
#[derive(Debug, Clone)]
pub struct Prop {
    /// The property.
    pub slug: Slug,
    /// `""` for the bare routes, `/p/{slug}` otherwise.
    pub base: String,
}

impl FromRequestParts<AppState> for Prop {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Prop, AppError> {
        let params = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| p)
            .unwrap_or_default();
        // Under `nest("/api", ...)` the URI has lost its prefix; the original has it.
        match params.get("slug") {
            Some(raw) => {
                let slug = Slug::parse(raw).map_err(|e| AppError::not_found(e.to_string()))?;
                if state.storage().property(&slug).is_err() {
                    return Err(AppError::not_found(format!("no property {slug}")));
                }
                Ok(Prop {
                    base: format!("/p/{slug}"),
                    slug,
                })
            }
            None => match &state.inner.default_property {
                Some(slug) => Ok(Prop {
                    slug: slug.clone(),
                    base: String::new(),
                }),
                None => Err(AppError::not_found(
                    "no default property: the home page (/) lists every property; or start with --property",
                )),
            },
        }
    }
}

fn property_pages() -> Router<AppState> {
    Router::new()
        .route("/compliance/", get(compliance::page))
        .route("/compliance/export.csv", get(export::actions_download))
        .route("/compliance/events.csv", get(export::events_download))
        .route(
            "/compliance/actions/{id}",
            get(compliance::action_page).post(compliance::post_edit),
        )
        .route(
            "/compliance/actions/{id}/status",
            post(compliance::post_status),
        )
        .route("/study/", get(study::page))
        .route("/study/name", post(study::post_name))
        .route("/study/answer", post(study::post_answer))
        .route("/study/admin", get(study::admin))
}

/// The stylesheet of every page (served, not inline: the CSP allows no inline code).
const STYLESHEET: &str = include_str!("templates/portal.css");

async fn stylesheet() -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

/// The request's span: method and path only. The query string and the headers may
/// carry credentials, so they are never logged.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path()
    )
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new();
    if let Some(server) = state.inner.mcp.get() {
        app = app.route_service(
            crate::mcp::MCP_PATH,
            crate::mcp::http_service(server.clone()),
        );
    }
    app.route("/", get(home::page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/assets/portal.css", get(stylesheet))
        .route("/login", get(auth::login::page).post(auth::login::sign_in))
        .route(
            "/logout",
            get(auth::login::logout_page).post(auth::login::sign_out),
        )
        .merge(property_pages())
        .nest("/p/{slug}", property_pages())
        .nest("/api", api::routes())
        .fallback(|| async { AppError::not_found("no such page") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        // Behind the guard, not behind authentication: see `metrics`.
        .route(metrics::METRICS_PATH, get(metrics::page))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        // Outside the guard and authentication, so that their refusals get a body too.
        .layer(axum::middleware::from_fn(error::render))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        // Outermost: every answer is counted, refusals included.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serves the app on `listener` within `limits` (see `statekit::http`) until `shutdown`
/// completes, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: statekit::http::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    statekit::http::serve(listener, router(state), limits, shutdown).await
}

/// Resolves when the process gets SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
