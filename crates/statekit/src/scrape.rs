//! Who may read a metrics endpoint (`/metrics` of the portal, and of the bot's webhook
//! listener): a request made on this machine straight to the server, or one that
//! carries the bearer token from a token file. Knows nothing of metrics themselves.
//!
//! **Straight from this machine** means a loopback peer, a loopback `Host`, and none
//! of the headers a proxy or tunnel adds (`Forwarded`, `X-Forwarded-For`,
//! `X-Real-IP`, `CF-Connecting-IP`): behind Cloudflare Tunnel every request arrives
//! from 127.0.0.1, but with the public host name and `CF-Connecting-IP`, so a visitor
//! from the internet is never taken for a local scraper; a page elsewhere that made
//! its own name resolve to 127.0.0.1 sends its own `Host`, and is refused too.
//!
//! **The token** is read from a file only its owner may read (never from a flag, which
//! `ps` shows): 16 to 256 printable ASCII characters. Only its SHA-256 is kept, and a
//! request's token is compared with it in constant time.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Most bytes of a token file read.
const TOKEN_FILE_MAX: u64 = 4096;

/// Why a metrics token file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeTokenError {
    /// It could not be read.
    #[error("cannot read the metrics token file {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Others than its owner may read it.
    #[error(
        "the metrics token file {} may be read by others than its owner (mode {mode:o}): chmod 600 it",
        .path.display()
    )]
    Readable {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Its content is no token.
    #[error(
        "the metrics token file {} must hold one token of 16 to 256 printable ASCII characters (e.g. from `openssl rand -hex 32`)",
        .0.display()
    )]
    Malformed(PathBuf),
}

/// The bearer token that opens a metrics endpoint from elsewhere than this machine;
/// only its SHA-256 is kept, and its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct ScrapeToken([u8; 32]);

impl std::fmt::Debug for ScrapeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScrapeToken(..)")
    }
}

impl ScrapeToken {
    /// The token in `path`: one line of 16 to 256 printable ASCII characters, in a
    /// file only its owner may read.
    pub fn from_file(path: &Path) -> Result<ScrapeToken, ScrapeTokenError> {
        use std::io::Read;
        let read = |source| ScrapeTokenError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = file.metadata().map_err(read)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(ScrapeTokenError::Readable {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let mut text = String::new();
        file.take(TOKEN_FILE_MAX)
            .read_to_string(&mut text)
            .map_err(read)?;
        ScrapeToken::new(text.trim()).ok_or_else(|| ScrapeTokenError::Malformed(path.into()))
    }

    /// `token` if it is 16 to 256 printable ASCII characters.
    pub fn new(token: &str) -> Option<ScrapeToken> {
        let ok = (16..=256).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| ScrapeToken(Sha256::digest(token.as_bytes()).into()))
    }

    /// Whether `offered` is this token (in constant time: the digests are compared).
    pub fn matches(&self, offered: &str) -> bool {
        let offered: [u8; 32] = Sha256::digest(offered.as_bytes()).into();
        bool::from(self.0.ct_eq(&offered))
    }
}

/// Whether a request may read the metrics: with `token`, one whose
/// `Authorization: Bearer` holds it, from anywhere; else one straight from this
/// machine ([`is_local`]). A wrong token is refused even from this machine.
pub fn allows(token: Option<&ScrapeToken>, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let (Some(token), Some(offered)) = (token, bearer) {
        return token.matches(offered.trim());
    }
    is_local(peer, headers)
}

/// Whether a request came straight from this machine: a loopback peer, a loopback
/// `Host`, and none of the headers a proxy or tunnel adds.
pub fn is_local(peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    let peer_local = peer.is_some_and(|p| p.ip().to_canonical().is_loopback());
    let forwarded = [
        "forwarded",
        "x-forwarded-for",
        "cf-connecting-ip",
        "x-real-ip",
    ]
    .iter()
    .any(|h| headers.contains_key(*h));
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    peer_local && !forwarded && host_is_loopback(host)
}

/// Whether a `Host` value names this machine: `localhost` or a loopback address,
/// with or without a port.
pub fn host_is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_local() {
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:80",
            "127.0.0.2",
        ] {
            assert!(host_is_loopback(host), "{host}");
        }
        for host in [
            "portal.example.org",
            "portal.example.org:443",
            "10.0.0.1:8080",
            "[::2]:80",
            "",
        ] {
            assert!(!host_is_loopback(host), "{host}");
        }
    }

    #[test]
    fn a_tunnelled_request_is_not_local() {
        let peer = Some(SocketAddr::from(([127, 0, 0, 1], 50000)));
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(is_local(peer, &headers));
        assert!(!is_local(None, &headers), "no peer known");
        assert!(!is_local(
            Some(SocketAddr::from(([192, 0, 2, 1], 1))),
            &headers
        ));
        headers.insert("cf-connecting-ip", "203.0.113.9".parse().unwrap());
        assert!(!is_local(peer, &headers), "through cloudflared");
        let mut public = HeaderMap::new();
        public.insert(header::HOST, "portal.example.org".parse().unwrap());
        assert!(!is_local(peer, &public), "the public name");
    }

    #[test]
    fn tokens_are_bounded_and_compared_whole() {
        assert!(ScrapeToken::new("short").is_none());
        assert!(ScrapeToken::new(&"x".repeat(257)).is_none());
        assert!(ScrapeToken::new("with a space in it, long enough").is_none());
        let token = ScrapeToken::new("0123456789abcdef0123").unwrap();
        assert!(token.matches("0123456789abcdef0123"));
        assert!(!token.matches("0123456789abcdef012"));
        assert!(!token.matches(""));
        assert_eq!(format!("{token:?}"), "ScrapeToken(..)");
    }

    #[test]
    fn the_token_opens_from_anywhere_and_a_wrong_one_nowhere() {
        let token = ScrapeToken::new("0123456789abcdef0123").unwrap();
        let peer = Some(SocketAddr::from(([127, 0, 0, 1], 50000)));
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "portal.example.org".parse().unwrap());
        assert!(!allows(Some(&token), peer, &headers));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdef0123".parse().unwrap(),
        );
        assert!(allows(Some(&token), peer, &headers));
        assert!(
            !allows(None, peer, &headers),
            "no token configured: local only"
        );
        let mut local = HeaderMap::new();
        local.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(allows(Some(&token), peer, &local));
        local.insert(
            header::AUTHORIZATION,
            "Bearer wrong-token-wrong-token".parse().unwrap(),
        );
        assert!(
            !allows(Some(&token), peer, &local),
            "a wrong token is refused"
        );
    }
}
