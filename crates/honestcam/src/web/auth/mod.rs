//! Who is asking, and whether they may.
//!
//! [`authenticate`] runs on every request after the guard: it establishes the caller's
//! [`Identity`] and refuses a request whose role is below what [`required_role`] asks
//! for that method and path, so no route is left unguarded by mistake. Handlers get
//! the identity with the [`Caller`] extractor; it is the actor of every change.
//!
//! How a request is identified ([`AuthMode`]):
//! - an `Authorization: Bearer` API token (in every mode): the token's role, acting as
//!   `token:{name}`; a read-only token ([`Identity::read_only`]) is refused every
//!   request that is not a read ([`only_reads`]), whatever its role;
//! - `cloudflare-access`: the `Cf-Access-Jwt-Assertion` Cloudflare Access adds, checked
//!   by [`access::AccessVerifier`]; the email must be a plain ASCII address and no
//!   reserved actor name ([`identity_name`]), else 401; it is compared with ASCII case
//!   folded; the role is the account of that email, else viewer;
//! - `local`: accounts of the global database with Argon2id passwords, signing in at
//!   `/login` ([`login`]) for a server-side session; failures throttled ([`throttle`])
//!   per account and per client address (the TCP peer's, or with
//!   `--trusted-proxy-header` the one a loopback proxy passes, [`login::client_address`]);
//! - `none`: every request is `local`, an admin (allowed on a loopback address only).

pub mod access;
pub mod login;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use statekit::error::Chain;

use super::error::is_api;
use super::{AppError, AppState};
pub use crate::domain::Identity;
use crate::domain::Role;
use crate::domain::account::identity_name;
use crate::service::accounts;

/// The header Cloudflare Access adds to every request it lets through.
pub const ACCESS_HEADER: &str = "cf-access-jwt-assertion";
/// The identity of every request when authentication is off.
pub const LOCAL_IDENTITY: &str = "local";
/// Where Cloudflare Access signs a browser out (served by Cloudflare, not the portal).
pub const ACCESS_LOGOUT: &str = "/cdn-cgi/access/logout";
/// The role of an Access identity without an account.
pub const ACCESS_DEFAULT_ROLE: Role = Role::Viewer;

/// How requests are identified.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// No authentication: every request acts as [`LOCAL_IDENTITY`], an admin.
    None,
    /// Cloudflare Access in front: a valid token on every request.
    CloudflareAccess(access::AccessVerifier),
    /// Local accounts signing in with a password.
    Local(LocalAuth),
}

/// Password checks allowed to run at once.
pub const PASSWORD_CHECKS_AT_ONCE: usize = 2;

/// Settings and state of local sign-in.
#[derive(Debug, Clone)]
pub struct LocalAuth {
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// The header a proxy on this host (cloudflared, a reverse proxy) puts the client's
    /// address in, e.g. `CF-Connecting-IP`: the address sign-in limits count, when the
    /// request comes from a loopback peer ([`login::client_address`]).
    pub trusted_proxy_header: Option<axum::http::HeaderName>,
    /// Failed sign-ins, counted.
    pub throttle: Arc<throttle::Throttle>,
    /// Password checks running at once (each is slow and takes memory on purpose).
    pub checking: Arc<tokio::sync::Semaphore>,
}

impl LocalAuth {
    /// Sessions lasting `session_ttl`.
    pub fn new(session_ttl: Duration) -> LocalAuth {
        LocalAuth {
            session_ttl,
            trusted_proxy_header: None,
            throttle: Arc::default(),
            checking: Arc::new(tokio::sync::Semaphore::new(PASSWORD_CHECKS_AT_ONCE)),
        }
    }

    /// Takes the client's address from `header` when a loopback peer sends it.
    pub fn with_trusted_proxy_header(mut self, header: axum::http::HeaderName) -> LocalAuth {
        self.trusted_proxy_header = Some(header);
        self
    }
}

/// Whether a request only reads: a GET, HEAD or OPTIONS, or anything sent to the MCP
/// server, which serves every request from read-only storage (its protocol posts
/// JSON-RPC even to read).
pub fn only_reads(method: &Method, path: &str) -> bool {
    use crate::mcp::MCP_PATH;
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || path == MCP_PATH
}

/// The least role a request needs: every page and API read needs a viewer (so does
/// the MCP server, which only reads), every change an editor, and the pages listing
/// every user's progress an admin.
pub fn required_role(method: &Method, path: &str) -> Role {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let admin = segments.windows(2).any(|w| w == ["study", "admin"]);
    if admin {
        Role::Admin
    } else if only_reads(method, path) {
        Role::Viewer
    } else {
        Role::Editor
    }
}

/// Paths anyone may fetch: the health check, the stylesheet, and signing in and out.
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/login" | "/logout") || path.starts_with("/assets/")
}

/// The bearer token of the request: `None` without an `Authorization` header,
/// `Some(None)` with one that is not `Bearer <token>` (refused, never ignored).
fn bearer(headers: &HeaderMap) -> Option<Option<&str>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    Some(token)
}

/// Establishes who is asking, refuses them if their role is too low, and hands the
/// identity to the handler.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if is_public(&path) {
        return next.run(request).await;
    }
    let identity = match identify(&state, request.headers()).await {
        Ok(identity) => identity,
        Err(Refusal::Error(e)) => return e.into_response(),
        // A browser reading a page signs in and comes back; anything else is told.
        Err(Refusal::SignIn)
            if matches!(*request.method(), Method::GET | Method::HEAD) && !is_api(&request) =>
        {
            let back = request
                .uri()
                .path_and_query()
                .map_or(path.clone(), |p| p.to_string());
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", &back)
                .finish();
            return Redirect::to(&format!("/login?{query}")).into_response();
        }
        Err(Refusal::SignIn) => {
            return AppError::unauthorized("sign in first (at /login), or use an API token")
                .into_response();
        }
    };
    let needed = required_role(request.method(), &path);
    if !identity.role.allows(needed) {
        return AppError::forbidden(format!(
            "{} is a {}; this needs an {needed}",
            identity.name, identity.role
        ))
        .into_response();
    }
    if identity.read_only && !only_reads(request.method(), &path) {
        return AppError::forbidden(format!(
            "{} is a read-only token: it reads the API and MCP, and may not change anything",
            identity.name
        ))
        .into_response();
    }
    request.extensions_mut().insert(identity);
    next.run(request).await
}

/// Why a request has no identity.
enum Refusal {
    /// Refused with this error.
    Error(AppError),
    /// Nobody is signed in (local accounts).
    SignIn,
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Refusal {
        Refusal::Error(e)
    }
}

/// Who sent `headers`.
async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Identity, Refusal> {
    if let Some(given) = bearer(headers) {
        let Some(secret) = given else {
            return Err(
                AppError::unauthorized("the Authorization header must be: Bearer <token>").into(),
            );
        };
        let secret = secret.to_string();
        let found = state
            .run(move |storage, _| {
                accounts::token(storage, &secret)
                    .map_err(|e| AppError::internal("cannot read the API tokens", e))
            })
            .await?;
        return match found {
            Some(token) => Ok(Identity {
                name: format!("token:{}", token.name),
                role: token.role,
                read_only: token.read_only,
            }),
            None => Err(AppError::unauthorized(
                "the bearer token is not valid (revoked, or mistyped)",
            )
            .into()),
        };
    }
    match state.auth() {
        AuthMode::None => Ok(Identity::new(LOCAL_IDENTITY, Role::Admin)),
        AuthMode::CloudflareAccess(verifier) => {
            let Some(token) = headers.get(ACCESS_HEADER).and_then(|v| v.to_str().ok()) else {
                return Err(AppError::unauthorized(
                    "sign in through Cloudflare Access: no Access token came with the request",
                )
                .into());
            };
            let who = match verifier.verify(token).await {
                Ok(who) => who,
                Err(e) => {
                    tracing::debug!("Access token refused: {}", Chain(&e));
                    return Err(AppError::unauthorized(
                        "the Cloudflare Access token is not valid; sign in again",
                    )
                    .into());
                }
            };
            // An email or a service token's id; compared with ASCII case folded only.
            let name = match identity_name(&who.name, !who.service_token) {
                Ok(name) => name,
                Err(e) => {
                    tracing::warn!("Access token refused: {}", Chain(&e));
                    return Err(AppError::unauthorized(
                        "the Cloudflare Access identity is not one this portal accepts",
                    )
                    .into());
                }
            };
            let who_name = name.clone();
            let role = state
                .run(move |storage, _| {
                    accounts::account(storage, &name)
                        .map_err(|e| AppError::internal("cannot read the account", e))
                })
                .await?
                .map_or(ACCESS_DEFAULT_ROLE, |a| a.role);
            Ok(Identity::new(who_name, role))
        }
        AuthMode::Local(_) => {
            let session = login::session_cookie(headers, state.site().https()).map(str::to_string);
            let found = match session {
                Some(id) => {
                    state
                        .run(move |storage, _| {
                            accounts::session(storage, &id)
                                .map_err(|e| AppError::internal("cannot read the session", e))
                        })
                        .await?
                }
                None => None,
            };
            match found {
                Some(account) => Ok(Identity::new(account.name, account.role)),
                None => Err(Refusal::SignIn),
            }
        }
    }
}

/// Who is signed in, as every page's header shows it, with where to sign out.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The caller's name.
    pub name: String,
    /// Where signing out happens (empty when there is nothing to sign out of).
    pub sign_out: &'static str,
}

impl SignedIn {
    /// The header of a page for `caller` under `mode`.
    pub fn new(caller: &Identity, mode: &AuthMode) -> SignedIn {
        let sign_out = match mode {
            AuthMode::Local(_) => "/logout",
            AuthMode::CloudflareAccess(_) => ACCESS_LOGOUT,
            AuthMode::None => "",
        };
        SignedIn {
            name: caller.name.clone(),
            sign_out,
        }
    }
}

/// The caller of a request, as [`authenticate`] established it.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Caller, AppError> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| AppError::unexpected("a route without authentication"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_need_a_viewer_changes_an_editor_and_everyones_progress_an_admin() {
        let cases = [
            (Method::GET, "/compliance/", Role::Viewer),
            (Method::GET, "/api/p/x/actions", Role::Viewer),
            (Method::POST, "/compliance/actions/A/status", Role::Editor),
            (
                Method::POST,
                "/p/x/compliance/actions/A/status",
                Role::Editor,
            ),
            (
                Method::GET,
                "/api/p/x/events?after=10&limit=5",
                Role::Viewer,
            ),
            (Method::PUT, "/api/p/x/study/progress/u", Role::Editor),
            (Method::DELETE, "/api/p/x/anything", Role::Editor),
            (Method::GET, "/study/admin", Role::Admin),
            (Method::GET, "/p/x/study/admin", Role::Admin),
            (Method::GET, "/api/p/x/study/admin", Role::Admin),
            (Method::GET, "/study/admin/", Role::Admin),
            (Method::GET, "/p/x/study/admin/export", Role::Admin),
            (Method::HEAD, "/study/admin", Role::Admin),
            (Method::GET, "/p/study/compliance/", Role::Viewer),
            (Method::POST, "/mcp", Role::Viewer),
            (Method::DELETE, "/mcp", Role::Viewer),
            (Method::POST, "/mcp/x", Role::Editor),
        ];
        for (method, path, role) in cases {
            assert_eq!(required_role(&method, path), role, "{method} {path}");
            assert_eq!(
                only_reads(&method, path),
                role != Role::Editor,
                "{method} {path}"
            );
        }
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer hc_abc".parse().unwrap());
        assert_eq!(bearer(&h), Some(Some("hc_abc")));
        for refused in ["Basic abc", "Bearer", "Bearer  ", "hc_abc"] {
            h.insert(header::AUTHORIZATION, refused.parse().unwrap());
            assert_eq!(bearer(&h), Some(None), "{refused}");
        }
    }
}
