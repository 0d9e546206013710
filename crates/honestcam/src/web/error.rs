//! One error type for every handler: status code and message, shown as an HTML page
//! or a JSON body. 4xx answers show their message; 5xx answers log the detail and show
//! a generic text.

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::service::as_of::AsOfError;
use crate::service::compliance::ChangeError;
use crate::service::feed::FeedError;
use crate::service::search::SearchError;
use crate::service::study::StudyError;
use crate::storage::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    message: String,
    json: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl AppError {
    /// 404.
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, message)
    }

    /// 400: the request is malformed (a query parameter that does not parse).
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 422: the input is understood but not acceptable.
    pub fn unprocessable(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 401: who is asking is not known.
    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 409: the request is fine, but the state of what it is about does not allow it
    /// (a search of a property that has no index yet).
    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::CONFLICT, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, message)
    }

    /// 500; `detail` is logged, not shown.
    pub fn internal(detail: impl Into<String>) -> AppError {
        AppError::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }

    fn new(status: StatusCode, message: impl Into<String>) -> AppError {
        AppError {
            status,
            message: message.into(),
            json: false,
        }
    }

    /// Answer with a JSON body instead of a page.
    pub fn json(mut self, json: bool) -> AppError {
        self.json = json;
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match &e {
            StoreError::UnknownProperty { .. } => AppError::not_found(e.to_string()),
            StoreError::Busy { .. } => {
                AppError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            StoreError::NoSearchIndex(_) => AppError::conflict(e.to_string()),
            _ => AppError::internal(chain(&e)),
        }
    }
}

impl From<ChangeError> for AppError {
    fn from(e: ChangeError) -> AppError {
        match e {
            ChangeError::UnknownAction { .. } => AppError::not_found(e.to_string()),
            ChangeError::Invalid(_) | ChangeError::Unchanged(_) => {
                AppError::unprocessable(e.to_string())
            }
            ChangeError::Store(e) => e.into(),
        }
    }
}

impl From<StudyError> for AppError {
    fn from(e: StudyError) -> AppError {
        match e {
            StudyError::Name(_) | StudyError::Quiz(_) => AppError::unprocessable(e.to_string()),
            StudyError::NotYours { .. } | StudyError::NotEditor { .. } => {
                AppError::forbidden(e.to_string())
            }
            StudyError::UnknownUser(_) | StudyError::NoProgress(_) => {
                AppError::not_found(e.to_string())
            }
            StudyError::Id(_) => AppError::internal(chain(&e)),
            StudyError::Store(e) => e.into(),
        }
    }
}

impl From<SearchError> for AppError {
    fn from(e: SearchError) -> AppError {
        match e {
            SearchError::Query(_) | SearchError::Limit { .. } | SearchError::Offset { .. } => {
                AppError::unprocessable(e.to_string())
            }
            SearchError::Store(e) => e.into(),
        }
    }
}

impl From<AsOfError> for AppError {
    fn from(e: AsOfError) -> AppError {
        match e {
            AsOfError::Parse(_) | AsOfError::Range { .. } => AppError::unprocessable(e.to_string()),
            AsOfError::Store(e) => e.into(),
        }
    }
}

impl From<FeedError> for AppError {
    fn from(e: FeedError) -> AppError {
        match e {
            FeedError::Limit { .. } => AppError::unprocessable(e.to_string()),
            FeedError::List { .. } => AppError::internal(chain(&e)),
            FeedError::Store(e) => e.into(),
        }
    }
}

/// An error and its sources, for the log.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let shown = if self.status.is_server_error() {
            tracing::error!(status = %self.status, "{}", self.message);
            "something went wrong on our side; the error was logged".to_string()
        } else {
            self.message
        };
        if self.json {
            return (self.status, Json(serde_json::json!({ "error": shown }))).into_response();
        }
        let page = ErrorPage {
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error"),
            message: &shown,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, shown).into_response(),
        }
    }
}
