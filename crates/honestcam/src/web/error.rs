//! One error type for every handler, and the one place that turns it into an answer.
//!
//! Handlers return [`AppError`]: the refusals the web layer decides itself (a bad
//! request, who is asking, not allowed, not found, not acceptable), the typed errors of
//! the services, and what is our fault. [`AppError::status`] maps each to its status
//! code. A 4xx answer shows the error's message; a 5xx answer logs the error with its
//! causes and shows a generic text.
//!
//! Whether the answer is a page or `{"error": ...}` depends on the request, not on the
//! handler: an [`AppError`] answers with its status and its message in the response's
//! extensions, and [`render`], a middleware around the whole app, writes the body as
//! JSON for an API request ([`is_api`]: a path under `/api/`, or `/mcp`) and as an HTML page
//! otherwise.

use askama::Template;
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use statekit::error::Chain;

use crate::service::as_of::AsOfError;
use crate::service::compliance::ChangeError;
use crate::service::feed::FeedError;
use crate::service::search::SearchError;
use crate::service::study::StudyError;
use crate::storage::StoreError;

/// What a 5xx answer shows; the error itself goes to the log.
const NOT_SHOWN: &str = "something went wrong on our side; the error was logged";

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is malformed (a query parameter that does not parse).
    #[error("{0}")]
    BadRequest(String),
    /// 401: who is asking is not known.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: who is asking may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 422: the input is understood but not acceptable.
    #[error("{0}")]
    Unprocessable(String),
    /// Storage failed: 404 for an unknown property, 503 while it is busy, else 500.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A change was refused (404 for an unknown action, 422 for an invalid or a
    /// needless change), or storage failed.
    #[error(transparent)]
    Change(#[from] ChangeError),
    /// A study request was refused (403, 404, 422), or storage failed.
    #[error(transparent)]
    Study(#[from] StudyError),
    /// A search was refused (422 for its text or page, 409 for a property without a
    /// search index), or storage failed.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// An `as_of` was refused (422), or storage failed.
    #[error(transparent)]
    AsOf(#[from] AsOfError),
    /// A page of the change feed was refused (422 for its size), or storage failed.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// 500: our fault, with the error that caused it, if any.
    #[error("{what}")]
    Internal {
        /// What failed.
        what: &'static str,
        /// Why.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl AppError {
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::BadRequest(message.into())
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::Unauthorized(message.into())
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::Forbidden(message.into())
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::NotFound(message.into())
    }

    /// 422.
    pub fn unprocessable(message: impl Into<String>) -> AppError {
        AppError::Unprocessable(message.into())
    }

    /// 500: `what` failed because of `source`; both are logged, not shown.
    pub fn internal(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> AppError {
        AppError::Internal {
            what,
            source: Some(source.into()),
        }
    }

    /// 500: something that should not happen did (`what`, logged, not shown).
    pub fn unexpected(what: &'static str) -> AppError {
        AppError::Internal { what, source: None }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Store(e)
            | AppError::Change(ChangeError::Store(e))
            | AppError::Study(StudyError::Store(e))
            | AppError::Search(SearchError::Store(e))
            | AppError::AsOf(AsOfError::Store(e))
            | AppError::Feed(FeedError::Store(e)) => store_status(e),
            AppError::Search(
                SearchError::Query(_) | SearchError::Limit { .. } | SearchError::Offset { .. },
            )
            | AppError::AsOf(AsOfError::Parse(_) | AsOfError::Range { .. })
            | AppError::Feed(FeedError::Limit { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Feed(FeedError::List { .. }) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Change(ChangeError::UnknownAction { .. }) => StatusCode::NOT_FOUND,
            AppError::Change(ChangeError::Invalid(_) | ChangeError::Unchanged(_)) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AppError::Study(
                StudyError::Name(_) | StudyError::Quiz(_) | StudyError::OtherName { .. },
            ) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Study(StudyError::NotYours { .. } | StudyError::NotEditor { .. }) => {
                StatusCode::FORBIDDEN
            }
            AppError::Study(StudyError::UnknownUser(_) | StudyError::NoProgress(_)) => {
                StatusCode::NOT_FOUND
            }
            AppError::Study(StudyError::Id(_)) | AppError::Internal { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

fn store_status(e: &StoreError) -> StatusCode {
    match e {
        StoreError::UnknownProperty { .. } => StatusCode::NOT_FOUND,
        StoreError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        StoreError::NoSearchIndex(_) => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The message an error answer shows, left in the response's extensions for
/// [`render`] to write as the body.
#[derive(Debug, Clone)]
struct Shown(String);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let shown = if status.is_server_error() {
            tracing::error!(status = %status, "{}", Chain(&self));
            NOT_SHOWN.to_string()
        } else {
            self.to_string()
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(Shown(shown));
        response
    }
}

/// Whether `request` is answered in JSON: the API's (a path under `/api/`) and the MCP
/// server's (`/mcp`).
pub fn is_api(request: &Request) -> bool {
    let path = request.uri().path();
    path.starts_with("/api/") || path == crate::mcp::MCP_PATH
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

/// The middleware that writes the body of every error answer: `{"error": message}`
/// for an API request, the error page otherwise. The answer keeps its status and the
/// headers the layers inside set (the guard's security headers among them); other
/// answers pass unchanged.
pub async fn render(request: Request, next: Next) -> Response {
    let api = is_api(&request);
    let mut response = next.run(request).await;
    let Some(Shown(shown)) = response.extensions_mut().remove::<Shown>() else {
        return response;
    };
    let status = response.status();
    let mut rendered = if api {
        (status, Json(serde_json::json!({ "error": shown }))).into_response()
    } else {
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: &shown,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, shown).into_response(),
        }
    };
    let own: Vec<HeaderName> = rendered.headers().keys().cloned().collect();
    for (name, value) in response.headers() {
        if !own.contains(name) {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    rendered
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::header;
    use axum::routing::get;
    use tower::ServiceExt;

    /// A router whose every route fails with `error`, behind [`render`] and a layer
    /// that adds a header to every answer, as the guard does.
    fn app(error: fn() -> AppError) -> Router {
        Router::new()
            .route("/api/thing", get(move || async move { error() }))
            .route("/thing", get(move || async move { error() }))
            .layer(axum::middleware::map_response(|mut r: Response| async {
                r.headers_mut()
                    .insert("x-inner", header::HeaderValue::from_static("kept"));
                r
            }))
            .layer(axum::middleware::from_fn(render))
    }

    async fn get_body(app: Router, path: &str) -> (StatusCode, String, String, bool) {
        let r = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let kind = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        let inner = r.headers().contains_key("x-inner");
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (
            status,
            kind,
            String::from_utf8(body.to_vec()).unwrap(),
            inner,
        )
    }

    #[tokio::test]
    async fn an_api_request_gets_json_and_a_page_request_gets_the_error_page() {
        let app = || app(|| AppError::not_found("no action \"A1\""));
        let (status, kind, body, inner) = get_body(app(), "/api/thing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(kind.starts_with("application/json"), "{kind}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"error": "no action \"A1\""})
        );
        assert!(inner, "the inner layers' headers are kept");
        let (status, kind, body, inner) = get_body(app(), "/thing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(kind.starts_with("text/html"), "{kind}");
        assert!(body.contains("404 Not Found"), "{body}");
        assert!(
            body.contains("no action &quot;A1&quot;") || body.contains("no action &#34;A1&#34;"),
            "{body}"
        );
        assert!(inner);
    }

    #[tokio::test]
    async fn a_5xx_shows_a_generic_text_and_not_its_cause() {
        let app = || {
            app(|| {
                AppError::internal(
                    "cannot read the account",
                    std::io::Error::other("disk on fire"),
                )
            })
        };
        for path in ["/api/thing", "/thing"] {
            let (status, _, body, _) = get_body(app(), path).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(body.contains(NOT_SHOWN), "{body}");
            assert!(
                !body.contains("disk on fire") && !body.contains("account"),
                "{body}"
            );
        }
    }

    #[test]
    fn typed_errors_map_to_their_status() {
        let store = StoreError::NotOnSqlite(crate::property::Slug::parse("p").unwrap());
        assert_eq!(
            AppError::from(store).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            AppError::from(StudyError::UnknownUser(
                crate::domain::UserId::parse("u1").unwrap()
            ))
            .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            AppError::from(ChangeError::Unchanged("A1".into())).status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            AppError::unexpected("x").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
