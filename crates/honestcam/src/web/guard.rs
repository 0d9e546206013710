//! What every request passes before a handler, and what every response carries.
//!
//! - **Host.** The `Host` must be the public URL's or the listening address's (with
//!   `localhost` for a loopback address): a page on another site that made its own
//!   name resolve to 127.0.0.1 (DNS rebinding) gets 403.
//! - **Cross-site writes.** A state-changing request (anything but GET, HEAD, OPTIONS)
//!   must come from the portal's own pages: its `Origin` is the public URL's or the
//!   listening address's, or, without an `Origin`, the browser says
//!   `Sec-Fetch-Site: same-origin`. A request with neither is refused too. Requests
//!   that carry `Authorization: Bearer` are for the API and no browser sends them on
//!   its own, so they pass here (the token itself is checked by authentication).
//! - **MCP clients.** `/mcp` also takes JSON-RPC posts from programs that are no
//!   browser (an assistant's MCP client using Cloudflare Access service tokens, or
//!   `--auth none` on loopback): a post with neither `Origin` nor `Sec-Fetch-Site`
//!   and a `Content-Type` of `application/json` passes. It cannot come from another
//!   site's page: browsers send `Origin` with every cross-origin post, and a page may
//!   post `application/json` across origins only after a CORS preflight, which the
//!   portal never approves. A post that carries a foreign `Origin` is refused as
//!   anywhere else. And nothing at `/mcp` writes: its server reads through read-only
//!   storage.
//! - **Headers.** A Content-Security-Policy without inline script (nor any script),
//!   `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`, no framing, and
//!   `Cache-Control: no-store` unless the handler chose otherwise: pages show people's
//!   names and progress.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppError, AppState};

/// The policy every response carries: only the portal's own stylesheet, no script at
/// all, forms posting back to the portal, never in a frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Why a public URL was refused.
#[derive(Debug, thiserror::Error)]
#[error("public URL {url:?}: {reason} (e.g. --public-url https://portal.example.org)")]
pub struct SiteError {
    url: String,
    reason: String,
}

/// Where the portal is reached: its public URL and the address it listens on.
#[derive(Debug, Clone)]
pub struct Site {
    /// Origins whose pages may post: the public URL's and the listening address's.
    origins: Vec<String>,
    /// Accepted `Host` values, lowercase.
    hosts: Vec<String>,
    /// Whether the public URL is https (cookies are then `Secure`).
    https: bool,
}

fn host_port(host: &str, port: Option<u16>, default_port: u16) -> String {
    match port {
        Some(p) if p != default_port => format!("{host}:{p}"),
        _ => host.to_string(),
    }
}

impl Site {
    /// The portal listening on `bound`, reached from outside at `public_url` if given
    /// (behind a tunnel or proxy), else at the listening address.
    pub fn new(public_url: Option<&str>, bound: SocketAddr) -> Result<Site, SiteError> {
        if bound.ip().is_unspecified() && public_url.is_none() {
            return Err(SiteError {
                url: String::new(),
                reason: format!(
                    "listening on every address ({bound}): give --public-url, the URL people open, so the portal knows its name"
                ),
            });
        }
        let local = match bound {
            SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        let mut hosts = vec![local.clone()];
        if bound.ip().is_loopback() {
            hosts.push(format!("localhost:{}", bound.port()));
        }
        let mut origins: Vec<String> = hosts.iter().map(|h| format!("http://{h}")).collect();
        let mut https = false;
        if let Some(text) = public_url {
            let bad = |reason: &str| SiteError {
                url: text.to_string(),
                reason: reason.to_string(),
            };
            let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
            let default_port = match url.scheme() {
                "https" => 443,
                "http" => 80,
                _ => return Err(bad("the scheme must be http or https")),
            };
            let host = url
                .host_str()
                .ok_or_else(|| bad("it has no host"))?
                .to_ascii_lowercase();
            if !matches!(url.path(), "" | "/")
                || url.query().is_some()
                || !url.username().is_empty()
            {
                return Err(bad("it is an origin only: scheme, host and port"));
            }
            let authority = host_port(&host, url.port(), default_port);
            origins.insert(0, format!("{}://{authority}", url.scheme()));
            hosts.insert(0, authority);
            https = url.scheme() == "https";
        }
        Ok(Site {
            origins,
            hosts,
            https,
        })
    }

    /// Whether the public URL is https (the sign-in cookie is then `Secure`).
    pub fn https(&self) -> bool {
        self.https
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase);
        host.is_some_and(|h| {
            self.hosts.contains(&h)
                || (self.https
                    && self
                        .hosts
                        .first()
                        .is_some_and(|ok| format!("{ok}:443") == h))
        })
    }

    fn same_site(&self, headers: &HeaderMap) -> bool {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or_default().to_ascii_lowercase();
            return self.origins.contains(&origin);
        }
        headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"same-origin")
    }
}

fn is_bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a request to `path` is an MCP client's JSON-RPC post that no browser sends
/// across sites (see the module docs).
fn is_mcp_client(path: &str, headers: &HeaderMap) -> bool {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    path == crate::mcp::MCP_PATH
        && json
        && !headers.contains_key(header::ORIGIN)
        && !headers.contains_key("sec-fetch-site")
}

/// The middleware: refuses a foreign `Host` and a cross-site write (403), and adds the
/// security headers to every response.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let site = state.site();
    let path = request.uri().path();
    let headers = request.headers();
    let mut response = if !site.host_ok(headers) {
        AppError::forbidden("this portal does not answer to that host name").into_response()
    } else if !is_safe(request.method())
        && !is_bearer(headers)
        && !site.same_site(headers)
        && !is_mcp_client(path, headers)
    {
        AppError::forbidden("refused: the request did not come from the portal's own pages")
            .into_response()
    } else {
        next.run(request).await
    };
    let out = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    for (name, value) in fixed {
        out.insert(name, value);
    }
    if !out.contains_key(header::CACHE_CONTROL) {
        out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn hosts_and_origins_are_the_public_urls_and_the_listening_addresses() {
        let bound: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let site = Site::new(Some("https://Portal.Example.org/"), bound).unwrap();
        assert!(site.https());
        for ok in [
            "portal.example.org",
            "portal.example.org:443",
            "127.0.0.1:8080",
            "localhost:8080",
        ] {
            assert!(site.host_ok(&headers(&[("host", ok)])), "{ok}");
        }
        for bad in [
            "evil.example",
            "127.0.0.1:8081",
            "portal.example.org.evil.example",
        ] {
            assert!(!site.host_ok(&headers(&[("host", bad)])), "{bad}");
        }
        assert!(!site.host_ok(&HeaderMap::new()), "no Host");
        assert!(site.same_site(&headers(&[("origin", "https://portal.example.org")])));
        assert!(site.same_site(&headers(&[("origin", "http://127.0.0.1:8080")])));
        assert!(!site.same_site(&headers(&[("origin", "http://portal.example.org")])));
        assert!(!site.same_site(&headers(&[("origin", "null")])));
        assert!(!site.same_site(&headers(&[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(site.same_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!site.same_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!site.same_site(&HeaderMap::new()), "neither header");
        assert!(is_bearer(&headers(&[("authorization", "Bearer abc")])));
        let json = ("content-type", "application/json");
        assert!(is_mcp_client("/mcp", &headers(&[json])));
        assert!(is_mcp_client(
            "/mcp",
            &headers(&[("content-type", "Application/JSON; charset=utf-8")])
        ));
        assert!(!is_mcp_client("/api/p/x/events", &headers(&[json])));
        assert!(!is_mcp_client(
            "/mcp",
            &headers(&[("content-type", "text/plain")])
        ));
        assert!(!is_mcp_client("/mcp", &HeaderMap::new()));
        assert!(!is_mcp_client(
            "/mcp",
            &headers(&[json, ("origin", "https://evil.example")])
        ));
        assert!(!is_mcp_client(
            "/mcp",
            &headers(&[json, ("sec-fetch-site", "cross-site")])
        ));
        assert!(!is_bearer(&headers(&[("authorization", "Basic abc")])));

        let lan = Site::new(
            Some("http://mini.lan:8080"),
            "0.0.0.0:8080".parse().unwrap(),
        )
        .unwrap();
        assert!(!lan.https());
        assert!(lan.host_ok(&headers(&[("host", "mini.lan:8080")])));
        assert!(!lan.host_ok(&headers(&[("host", "localhost:8080")])));
        assert!(Site::new(None, "0.0.0.0:8080".parse().unwrap()).is_err());
        for bad in ["ftp://x", "https://x/path", "https://u@x", "not a url"] {
            assert!(Site::new(Some(bad), bound).is_err(), "{bad}");
        }
    }
}
