//! Local accounts signing in and out (`--auth local`): a login form, a server-side
//! session in a cookie, a device cookie for the browser that signed in, and failed
//! attempts throttled per device, or per account and per address ([`super::throttle`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use askama::Template;
use axum::Extension;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::throttle::Client;
use super::{AuthMode, LocalAuth};
use crate::domain::account::{check_account_name, fold_name};
use crate::service::accounts;
use crate::web::{AppError, AppState};

/// The cookie holding a session's id when the portal is served over plain http.
pub const SESSION_COOKIE: &str = "honestcam_session";
/// The cookie holding a session's id when the portal is served over https: the
/// `__Host-` prefix makes browsers accept it only when it is `Secure`, has `Path=/`
/// and no `Domain`, so a sibling subdomain or a plain-http page cannot set or shadow it.
pub const HOST_SESSION_COOKIE: &str = "__Host-honestcam_session";

/// The cookie holding a device id (see [`super::throttle`]) over plain http.
pub const DEVICE_COOKIE: &str = "honestcam_device";
/// The cookie holding a device id over https (`__Host-`, as [`HOST_SESSION_COOKIE`]).
pub const HOST_DEVICE_COOKIE: &str = "__Host-honestcam_device";

/// The session cookie's name for the mode in use (`https` from `--public-url`).
pub fn session_cookie_name(https: bool) -> &'static str {
    if https {
        HOST_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The device cookie's name for the mode in use.
pub fn device_cookie_name(https: bool) -> &'static str {
    if https {
        HOST_DEVICE_COOKIE
    } else {
        DEVICE_COOKIE
    }
}

/// The `Set-Cookie` value carrying the session `value` for `max_age` seconds: `Secure`
/// over https.
fn set_session_cookie(https: bool, value: &str, max_age: u64) -> String {
    let name = session_cookie_name(https);
    let secure = if https { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// The `Set-Cookie` value carrying a device id: sent only with this site's own
/// requests (`SameSite=Strict`), read only by the login form.
fn set_device_cookie(https: bool, value: &str) -> String {
    let name = device_cookie_name(https);
    let secure = if https { "; Secure" } else { "" };
    let max_age = accounts::DEVICE_TTL.as_secs();
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    next: &'a str,
    name: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage;

/// Where to go after signing in: a path of this site, else `/`. Only printable ASCII
/// without a backslash: browsers drop tabs and newlines from a URL, so `/\t/host`
/// would become `//host`, another site.
fn safe_next(next: &str) -> &str {
    let printable = next
        .bytes()
        .all(|b| (0x21..0x7f).contains(&b) && b != b'\\');
    let local = printable && next.starts_with('/') && !next.starts_with("//");
    if local { next } else { "/" }
}

/// The session id the request's cookie carries, read from the cookie named for the
/// mode in use (see [`session_cookie_name`]); a cookie of the other name is ignored.
pub fn session_cookie(headers: &HeaderMap, https: bool) -> Option<&str> {
    cookie(headers, session_cookie_name(https))
}

/// The device id the request's device cookie carries: 64 hex digits, or nothing.
fn device_cookie(headers: &HeaderMap, https: bool) -> Option<&str> {
    cookie(headers, device_cookie_name(https))
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The value of the first non-empty cookie named `wanted`.
fn cookie<'h>(headers: &'h HeaderMap, wanted: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

fn render(page: impl Template, status: StatusCode) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => AppError::internal("cannot render the page", e).into_response(),
    }
}

fn local(state: &AppState) -> Result<&LocalAuth, AppError> {
    match state.auth() {
        AuthMode::Local(local) => Ok(local),
        _ => Err(AppError::not_found(
            "no sign-in here: this portal does not use local accounts",
        )),
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

/// `GET /login`.
pub async fn page(State(state): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    if let Err(e) = local(&state) {
        return e.into_response();
    }
    render(
        LoginPage {
            next: safe_next(&q.next),
            name: "",
            message: "",
        },
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The client's address, as sign-in limits count it: the TCP peer's, or, with a
/// `trusted` header, the address that header holds when the peer is a loopback address
/// (a proxy on this host, such as cloudflared, through which every client would
/// otherwise be 127.0.0.1). The header is used only when it appears once and holds one
/// IP address; from any other peer, or without `trusted`, it is ignored (anyone could
/// send it).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: Option<&HeaderName>) -> IpAddr {
    let Some(name) = trusted else {
        return peer;
    };
    if !peer.to_canonical().is_loopback() {
        return peer;
    }
    let mut values = headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return peer;
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .map_or(peer, |ip| ip.to_canonical())
}

/// `POST /login`: a session on the right password, 401 on a wrong one, 429 when the
/// account or the address has failed too often.
pub async fn sign_in(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let local = match local(&state) {
        Ok(l) => l.clone(),
        Err(e) => return e.into_response(),
    };
    let peer = peer.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(ConnectInfo(a))| {
        a.ip()
    });
    let address = client_address(peer, &headers, local.trusted_proxy_header.as_ref());
    let next = safe_next(&form.next).to_string();
    if check_account_name(&form.name).is_err() {
        return render(
            LoginPage {
                next: &next,
                name: "",
                message: "Wrong name or password.",
            },
            StatusCode::UNAUTHORIZED,
        );
    }
    // A browser that signed in to this account before is counted on its own.
    let device = device_cookie(&headers, state.site().https()).map(str::to_string);
    let trusted = match device.clone() {
        Some(id) => {
            let name = form.name.clone();
            let owner = state
                .run(move |storage, _| {
                    accounts::device_account(storage, &id)
                        .map_err(|e| AppError::internal("cannot read the browser's account", e))
                })
                .await;
            match owner {
                Ok(owner) => owner.is_some_and(|o| fold_name(&o) == fold_name(&name)),
                Err(e) => return e.into_response(),
            }
        }
        None => false,
    };
    let client = match (&device, trusted) {
        (Some(id), true) => Client::Device(id),
        _ => Client::Unknown(address),
    };
    // Counted as failed before the password is checked (and cleared on success), so
    // guesses sent in parallel cannot all slip under the limit.
    if let Some(wait) = local.throttle.attempt(&form.name, client, Instant::now()) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let message = format!("Too many failed sign-ins: try again in {minutes} minutes.");
        let mut response = render(
            LoginPage {
                next: &next,
                name: &form.name,
                message: &message,
            },
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let (name, password, ttl) = (form.name.clone(), form.password, local.session_ttl);
    let from_device = device.clone().filter(|_| trusted);
    // At most a few password checks at once: each takes ~19 MiB and a core for a while.
    let Ok(_permit) = local.checking.clone().acquire_owned().await else {
        return AppError::unexpected("the password check queue is closed").into_response();
    };
    let started = state
        .run(move |storage, _| {
            let internal = |e: accounts::AccountError| AppError::internal("cannot sign in", e);
            match accounts::check_password(storage, &name, &password).map_err(internal)? {
                Some(account) => accounts::start_session(
                    storage,
                    &account.name,
                    account.password_hash.as_deref(),
                    ttl,
                    from_device.as_deref(),
                )
                .map_err(internal),
                None => Ok(None),
            }
        })
        .await;
    match started {
        Ok(Some(started)) => {
            local.throttle.succeeded(&form.name, client);
            let https = state.site().https();
            let cookies = [
                set_session_cookie(https, &started.session, ttl.as_secs()),
                set_device_cookie(https, &started.device),
            ];
            let mut response = Redirect::to(&next).into_response();
            for cookie in cookies {
                match HeaderValue::from_str(&cookie) {
                    Ok(v) => {
                        response.headers_mut().append(header::SET_COOKIE, v);
                    }
                    Err(e) => return AppError::internal("cannot set a cookie", e).into_response(),
                }
            }
            response
        }
        Ok(None) => {
            // Already counted by `attempt`.
            render(
                LoginPage {
                    next: &next,
                    name: &form.name,
                    message: "Wrong name or password.",
                },
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /logout`: a button that signs out (a change needs a POST from this site).
pub async fn logout_page() -> Response {
    render(LogoutPage, StatusCode::OK)
}

/// Where to sign in next after signing out: `/login`, with `next` (a path of this
/// site, see [`safe_next`]) when the form gave one: "switch user" signs out and back in
/// as someone else, landing where it started.
fn after_sign_out(body: &[u8]) -> String {
    let next = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned());
    match next {
        Some(next) => {
            let next: String =
                url::form_urlencoded::byte_serialize(safe_next(&next).as_bytes()).collect();
            format!("/login?next={next}")
        }
        None => "/login".to_string(),
    }
}

/// `POST /logout` (a form, optionally with `next`): ends the session, clears the
/// cookie, and sends to the login form.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let https = state.site().https();
    if let Some(id) = session_cookie(&headers, https).map(str::to_string) {
        let ended = state
            .run(move |storage, _| {
                accounts::end_session(storage, &id)
                    .map_err(|e| AppError::internal("cannot end the session", e))
            })
            .await;
        if let Err(e) = ended {
            return e.into_response();
        }
    }
    let mut response = Redirect::to(&after_sign_out(&body)).into_response();
    match HeaderValue::from_str(&set_session_cookie(https, "", 0)) {
        Ok(v) => {
            response.headers_mut().insert(header::SET_COOKIE, v);
            response
        }
        Err(e) => AppError::internal("cannot set a cookie", e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_address_counts_only_from_a_loopback_peer_with_the_flag() {
        let cf = HeaderName::from_static("cf-connecting-ip");
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "198.51.100.9".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(cf.clone(), " 203.0.113.7 ".parse().unwrap());
        assert_eq!(client_address(loopback, &h, Some(&cf)), client);
        for peer in ["::1", "::ffff:127.0.0.1", "127.0.0.2"] {
            let peer: IpAddr = peer.parse().unwrap();
            assert_eq!(client_address(peer, &h, Some(&cf)), client, "{peer}");
        }
        assert_eq!(client_address(loopback, &h, None), loopback, "no flag");
        assert_eq!(client_address(remote, &h, Some(&cf)), remote, "not a proxy");
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        h.insert(cf.clone(), "2001:db8::1".parse().unwrap());
        assert_eq!(client_address(loopback, &h, Some(&cf)), v6);
        for bad in [
            "",
            "not-an-ip",
            "203.0.113.7, 198.51.100.1",
            "203.0.113.7:443",
        ] {
            h.insert(cf.clone(), bad.parse().unwrap());
            assert_eq!(client_address(loopback, &h, Some(&cf)), loopback, "{bad:?}");
        }
        h.insert(cf.clone(), "203.0.113.7".parse().unwrap());
        h.append(cf.clone(), "203.0.113.8".parse().unwrap());
        assert_eq!(client_address(loopback, &h, Some(&cf)), loopback, "twice");
        let other = HeaderName::from_static("x-real-ip");
        assert_eq!(
            client_address(loopback, &h, Some(&other)),
            loopback,
            "absent"
        );
    }

    #[test]
    fn only_local_paths_are_followed_after_signing_in() {
        for (given, kept) in [
            ("/compliance/", "/compliance/"),
            ("/p/x/study/?a=1", "/p/x/study/?a=1"),
            ("//evil.example/", "/"),
            ("https://evil.example/", "/"),
            ("/\\evil.example", "/"),
            ("/\t/evil.example", "/"),
            ("/\n/evil.example", "/"),
            ("/\r\nSet-Cookie:x", "/"),
            ("/a b", "/"),
            ("", "/"),
        ] {
            assert_eq!(safe_next(given), kept, "{given}");
        }
        assert_eq!(after_sign_out(b""), "/login");
        assert_eq!(
            after_sign_out(b"next=%2Fp%2Fx%2Fstudy%2F"),
            "/login?next=%2Fp%2Fx%2Fstudy%2F"
        );
        assert_eq!(
            after_sign_out(b"next=%2F%2Fevil.example"),
            "/login?next=%2F"
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; honestcam_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h, false), Some("abc"));
        assert_eq!(session_cookie(&h, true), None, "not the https name");
        h.insert(header::COOKIE, "honestcam_session=".parse().unwrap());
        assert_eq!(session_cookie(&h, false), None);
    }

    #[test]
    fn over_https_the_session_cookie_is_a_host_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "honestcam_session=old; __Host-honestcam_session=abc"
                .parse()
                .unwrap(),
        );
        assert_eq!(session_cookie(&h, true), Some("abc"));
        assert_eq!(session_cookie(&h, false), Some("old"));
        let set = set_session_cookie(true, "abc", 60);
        assert_eq!(
            set,
            "__Host-honestcam_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert!(!set.contains("Domain"));
        let device = set_device_cookie(true, "abc");
        assert!(
            device.starts_with("__Host-honestcam_device=abc; Path=/; HttpOnly; SameSite=Strict")
                && device.ends_with("; Secure"),
            "{device}"
        );
        let mut h = HeaderMap::new();
        let id = "0123456789abcdef".repeat(4);
        h.insert(
            header::COOKIE,
            format!("honestcam_device=short; __Host-honestcam_device={id}")
                .parse()
                .unwrap(),
        );
        assert_eq!(device_cookie(&h, true), Some(id.as_str()));
        assert_eq!(device_cookie(&h, false), None, "not 64 hex digits");
        assert_eq!(
            set_session_cookie(false, "", 0),
            "honestcam_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
    }
}
