//! Cloudflare Access: checks the token Access puts in the `Cf-Access-Jwt-Assertion`
//! header of every request it lets through, and says who sent it.
//!
//! [`AccessVerifier::verify`] accepts RS256 tokens only (any other `alg`, `none` and
//! HMAC included, is refused before a key is looked up), picks the key by the header's
//! `kid` from the team's key set (a JWKS), and checks `iss`, `aud`, `exp` and `nbf`
//! with 60 s of leeway. The identity is the token's `email`, or its `common_name` for a
//! service token.
//!
//! The key set is fetched on first use and cached. A `kid` the cache lacks causes a
//! refetch, at most once per [`AccessConfig::min_refetch`] and one fetch at a time
//! however many requests wait, so Cloudflare's key rotation is picked up while made-up
//! `kid`s cannot hammer the key set's URL. A cached set older than
//! [`AccessConfig::max_key_age`] is fetched again by the next verification, so a key
//! Cloudflare drops stops being trusted; verifications meanwhile, and after a failed
//! fetch, use the old set.
//!
//! Not here: reading the header from a request, what a user may do, where the
//! configuration comes from (the web layer and the CLI own those). Keys a token points
//! at itself (`jku`, `x5u`, `jwk`) are never used. Tokens and keys never appear in
//! `Debug` output or error messages; a `kid` may.
//!
//! ```no_run
//! # async fn demo(header_value: &str) -> Result<(), honestcam::web::auth::access::AccessError> {
//! use honestcam::web::auth::access::{AccessConfig, AccessVerifier};
//!
//! let config = AccessConfig::new("https://myteam.cloudflareaccess.com", "4714c1358e65fe4b")?;
//! let verifier = AccessVerifier::new(config);
//! let who = verifier.verify(header_value).await?;
//! assert!(!who.name.is_empty());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use url::{Host, Url};

/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;
/// Where a team serves its key set, below the team domain.
pub const CERTS_PATH: &str = "/cdn-cgi/access/certs";
/// The default [`AccessConfig::min_refetch`].
pub const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(60);
/// The default [`AccessConfig::max_key_age`].
pub const DEFAULT_MAX_KEY_AGE: Duration = Duration::from_secs(60 * 60);

/// Longest token accepted; Access tokens are about 1 KiB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest `kid` accepted (Cloudflare's are 64 hex digits).
const MAX_KID_BYTES: usize = 256;
/// Largest key set accepted (Cloudflare's is about 4 KiB).
const MAX_KEY_SET_BYTES: usize = 256 * 1024;
/// Longest an `alg` is quoted in an error.
const MAX_QUOTED_ALG: usize = 32;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the verifier needs.
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// The team domain, e.g. `https://myteam.cloudflareaccess.com` (the token's `iss`
    /// must equal it; a trailing slash is ignored).
    pub team_domain: String,
    /// The application's AUD tag (must be in the token's `aud`).
    pub aud: String,
    /// Where the JWKS is fetched: by default `{team_domain}/cdn-cgi/access/certs`.
    /// It must be https, or http to a loopback host.
    pub certs_url: String,
    /// Least time between two fetches of the JWKS caused by an unknown `kid` (rate
    /// limit); tests set it to zero.
    pub min_refetch: Duration,
    /// Age after which the cached JWKS is fetched again by the next verification (at
    /// most once per `min_refetch`; others meanwhile use the old set, as they do when
    /// the fetch fails), so that keys removed from it stop being accepted.
    pub max_key_age: Duration,
}

impl AccessConfig {
    /// A configuration for `team_domain` (https, or http to a loopback host for tests;
    /// a bare origin) and the application's `aud` tag, with the default certs URL,
    /// [`DEFAULT_MIN_REFETCH`] and [`DEFAULT_MAX_KEY_AGE`].
    pub fn new(team_domain: &str, aud: &str) -> Result<AccessConfig, AccessError> {
        let bad_domain = |reason| AccessError::BadConfig {
            field: "team domain",
            value: team_domain.to_owned(),
            reason,
        };
        let url = Url::parse(team_domain).map_err(|_| bad_domain("is not a URL"))?;
        check_transport(&url).map_err(bad_domain)?;
        if !url.username().is_empty() || url.password().is_some() {
            let mut shown = url.clone();
            // Cannot fail on a URL that holds a user name.
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            return Err(AccessError::BadConfig {
                field: "team domain",
                value: shown.to_string(),
                reason: "must not hold a user name or password",
            });
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad_domain(
                "must be a bare origin such as https://myteam.cloudflareaccess.com",
            ));
        }
        let bad_aud = |reason| AccessError::BadConfig {
            field: "aud tag",
            value: aud.to_owned(),
            reason,
        };
        if aud.is_empty() {
            return Err(bad_aud("is empty"));
        }
        if aud.chars().any(char::is_whitespace) {
            return Err(bad_aud("holds white space"));
        }
        let team_domain = url.origin().ascii_serialization();
        Ok(AccessConfig {
            certs_url: format!("{team_domain}{CERTS_PATH}"),
            team_domain,
            aud: aud.to_owned(),
            min_refetch: DEFAULT_MIN_REFETCH,
            max_key_age: DEFAULT_MAX_KEY_AGE,
        })
    }
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessIdentity {
    /// The token's `email`, or `common_name` (the client id) for a service token.
    pub name: String,
    /// Whether the token is a service token's (no email).
    pub service_token: bool,
}

/// Why a token was refused, or could not be checked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AccessError {
    /// Not three base64url parts with a JSON header naming an algorithm and a key.
    #[error("access token is malformed: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm other than RS256 (at most 32 characters of it).
    #[error("access token uses algorithm {alg:?}; only RS256 is accepted")]
    BadAlgorithm {
        /// The header's `alg`, cut short.
        alg: String,
    },
    /// The key set holds no key with the header's `kid`, even after a refetch (or a
    /// refetch was not due yet).
    #[error("access token names key {kid:?}, which the team's key set does not hold")]
    UnknownKey {
        /// The header's `kid`.
        kid: String,
    },
    /// The key set could not be fetched, so the token's key could not be found.
    #[error("cannot fetch the access key set from {url}")]
    Fetch {
        /// The key set's URL.
        url: String,
        /// What went wrong.
        #[source]
        reason: Arc<FetchError>,
    },
    /// Well formed and RS256, but the signature or a claim does not hold.
    #[error("access token is invalid: {0}")]
    Invalid(InvalidReason),
    /// Valid, but carries neither `email` nor `common_name`.
    #[error("access token names nobody: it has neither email nor common_name")]
    NoIdentity,
    /// A configuration value is unusable.
    #[error("access {field} {value:?} {reason}")]
    BadConfig {
        /// Which setting.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Which check a well-formed RS256 token failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReason {
    /// The signature does not match the header and claims under the named key.
    #[error("bad signature")]
    Signature,
    /// `exp` is past, beyond the leeway.
    #[error("expired")]
    Expired,
    /// `nbf` is ahead, beyond the leeway.
    #[error("not valid yet")]
    NotYetValid,
    /// `iss` is not the team domain.
    #[error("issued by another team (iss)")]
    Issuer,
    /// `aud` does not hold the application's tag.
    #[error("meant for another application (aud)")]
    Audience,
    /// A required claim (`exp`, `iss`, `aud`) is absent.
    #[error("no {0} claim")]
    MissingClaim(String),
    /// A time claim is not a number.
    #[error("malformed {0} claim")]
    ClaimFormat(String),
    /// The key set's key for this `kid` cannot check RS256 signatures.
    #[error("the key set's key cannot check this token")]
    UnusableKey,
}

/// Why the key set could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The certs URL is unparsable, or neither https nor loopback http.
    #[error("the URL {0}")]
    Url(&'static str),
    /// The HTTP client could not be built.
    #[error("cannot start an http client")]
    Client(#[source] reqwest::Error),
    /// The request failed (connection, timeout, body).
    #[error(transparent)]
    Request(reqwest::Error),
    /// The server answered with an error status.
    #[error("the server answered {0}")]
    Status(reqwest::StatusCode),
    /// The answer is larger than the limit.
    #[error("the answer is larger than {MAX_KEY_SET_BYTES} bytes")]
    TooLarge,
    /// The answer is not a JWKS.
    #[error("the answer is not a key set")]
    Json(#[source] serde_json::Error),
    /// The JWKS holds no RSA signing key with a `kid`.
    #[error("the key set holds no RS256 key with a kid")]
    NoKeys,
}

/// Checks Access tokens against a team's key set, fetched and cached as needed.
///
/// Cheap to clone: clones share the cache.
#[derive(Clone)]
pub struct AccessVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: AccessConfig,
    validation: Validation,
    /// The current key set; replaced whole, only while `fetching` is held.
    cache: RwLock<Arc<KeyCache>>,
    /// Held while fetching, so that there is one fetch at a time; holds the HTTP
    /// client, made by the first fetch.
    fetching: tokio::sync::Mutex<Option<reqwest::Client>>,
}

/// One snapshot of the key set and of the fetches so far.
#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    /// When the keys were fetched.
    fetched_at: Option<Instant>,
    /// When the last fetch, good or not, ended.
    attempted_at: Option<Instant>,
    /// Fetches so far, good or not.
    attempts: u64,
    /// Why the last fetch failed; `None` after a good one.
    failure: Option<Arc<FetchError>>,
}

impl KeyCache {
    fn is_old(&self, max_age: Duration) -> bool {
        self.fetched_at.is_none_or(|t| t.elapsed() >= max_age)
    }

    fn attempted_within(&self, period: Duration) -> bool {
        self.attempted_at.is_some_and(|t| t.elapsed() < period)
    }
}

impl fmt::Debug for AccessVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cache = self.cache();
        let mut kids: Vec<&str> = cache.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        f.debug_struct("AccessVerifier")
            .field("config", &self.inner.config)
            .field("kids", &kids)
            .field("fetches", &cache.attempts)
            .finish_non_exhaustive()
    }
}

/// The part of a token's header looked at before any key is.
#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
}

/// The claims beyond those `jsonwebtoken` validates.
#[derive(Deserialize)]
struct IdentityClaims {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    common_name: Option<String>,
}

impl AccessVerifier {
    /// A verifier with an empty cache: nothing is fetched until the first
    /// [`verify`](Self::verify).
    pub fn new(config: AccessConfig) -> AccessVerifier {
        // Pin the pure-Rust backend even if another crate turns on a second one (with
        // two, jsonwebtoken would refuse to choose). An already installed one stays.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[config.team_domain.trim_end_matches('/')]);
        validation.set_audience(&[&config.aud]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        AccessVerifier {
            inner: Arc::new(Inner {
                config,
                validation,
                cache: RwLock::new(Arc::default()),
                fetching: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AccessConfig {
        &self.inner.config
    }

    /// Verifies a `Cf-Access-Jwt-Assertion` value.
    pub async fn verify(&self, token: &str) -> Result<AccessIdentity, AccessError> {
        let kid = rs256_kid(token)?;
        let key = self.key_for(&kid).await?;
        let data = jsonwebtoken::decode::<IdentityClaims>(token, &key, &self.inner.validation)
            .map_err(|e| refusal(e.kind()))?;
        identity(data.claims)
    }

    fn cache(&self) -> Arc<KeyCache> {
        self.inner
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The key named `kid`, fetching the key set when it lacks the key or is old and a
    /// fetch is due.
    async fn key_for(&self, kid: &str) -> Result<DecodingKey, AccessError> {
        let config = &self.inner.config;
        let seen = self.cache();
        let current = match seen.keys.get(kid) {
            Some(key)
                if !seen.is_old(config.max_key_age)
                    || seen.attempted_within(config.min_refetch) =>
            {
                return Ok(key.clone());
            }
            // An old set: one verification fetches it again, the others go on with it.
            Some(key) => match self.inner.fetching.try_lock() {
                Ok(mut client) => self.refresh_if_due(&seen, &mut client).await,
                Err(_) => return Ok(key.clone()),
            },
            // An unknown kid waits for the fetch under way, or makes one if due.
            None => {
                let mut client = self.inner.fetching.lock().await;
                self.refresh_if_due(&seen, &mut client).await
            }
        };
        match (current.keys.get(kid), &current.failure) {
            (Some(key), _) => Ok(key.clone()),
            (None, Some(reason)) => Err(AccessError::Fetch {
                url: config.certs_url.clone(),
                reason: reason.clone(),
            }),
            (None, None) => Err(AccessError::UnknownKey {
                kid: kid.to_owned(),
            }),
        }
    }

    /// The key set after a fetch, unless one ended since `seen` was read (its result
    /// answers for this one too) or the last one is more recent than `min_refetch`.
    /// Called with `fetching` held.
    async fn refresh_if_due(
        &self,
        seen: &KeyCache,
        client: &mut Option<reqwest::Client>,
    ) -> Arc<KeyCache> {
        let current = self.cache();
        if current.attempts != seen.attempts
            || current.attempted_within(self.inner.config.min_refetch)
        {
            return current;
        }
        self.refresh(&current, client).await
    }

    /// Fetches the key set and publishes the result; a failure keeps the old keys.
    async fn refresh(&self, old: &KeyCache, client: &mut Option<reqwest::Client>) -> Arc<KeyCache> {
        let fetched = fetch_key_set(&self.inner.config.certs_url, client).await;
        let now = Instant::now();
        let next = Arc::new(match fetched {
            Ok(keys) => KeyCache {
                keys,
                fetched_at: Some(now),
                attempted_at: Some(now),
                attempts: old.attempts + 1,
                failure: None,
            },
            Err(e) => {
                tracing::warn!(
                    url = %self.inner.config.certs_url,
                    error = %statekit::error::Chain(&e),
                    "cannot fetch the Cloudflare Access key set"
                );
                KeyCache {
                    keys: old.keys.clone(),
                    fetched_at: old.fetched_at,
                    attempted_at: Some(now),
                    attempts: old.attempts + 1,
                    failure: Some(Arc::new(e)),
                }
            }
        });
        *self
            .inner
            .cache
            .write()
            .unwrap_or_else(PoisonError::into_inner) = next.clone();
        next
    }
}

/// The `kid` of a token whose header says RS256; refuses anything else before any key
/// is looked at.
fn rs256_kid(token: &str) -> Result<String, AccessError> {
    if token.is_empty() {
        return Err(AccessError::Malformed("empty"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AccessError::Malformed("longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_claims), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AccessError::Malformed("not three dot-separated parts"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AccessError::Malformed("header is not base64url"))?;
    let header: RawHeader = serde_json::from_slice(&header)
        .map_err(|_| AccessError::Malformed("header is not a JSON object"))?;
    let alg = header
        .alg
        .ok_or(AccessError::Malformed("header names no algorithm"))?;
    if alg != "RS256" {
        return Err(AccessError::BadAlgorithm {
            alg: alg.chars().take(MAX_QUOTED_ALG).collect(),
        });
    }
    match header.kid {
        None => Err(AccessError::Malformed("header names no key (kid)")),
        Some(kid) if kid.is_empty() => Err(AccessError::Malformed("header's kid is empty")),
        Some(kid) if kid.len() > MAX_KID_BYTES => {
            Err(AccessError::Malformed("header's kid is too long"))
        }
        Some(kid) => Ok(kid),
    }
}

/// Why `jsonwebtoken` refused a token that passed [`rs256_kid`].
fn refusal(kind: &ErrorKind) -> AccessError {
    let invalid = AccessError::Invalid;
    match kind {
        ErrorKind::InvalidSignature => invalid(InvalidReason::Signature),
        ErrorKind::ExpiredSignature => invalid(InvalidReason::Expired),
        ErrorKind::ImmatureSignature => invalid(InvalidReason::NotYetValid),
        ErrorKind::InvalidIssuer => invalid(InvalidReason::Issuer),
        ErrorKind::InvalidAudience => invalid(InvalidReason::Audience),
        ErrorKind::MissingRequiredClaim(claim) => {
            invalid(InvalidReason::MissingClaim(claim.clone()))
        }
        ErrorKind::InvalidClaimFormat(claim) => invalid(InvalidReason::ClaimFormat(claim.clone())),
        ErrorKind::InvalidToken => AccessError::Malformed("not a JWT"),
        ErrorKind::Base64(_) => AccessError::Malformed("a part is not base64url"),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            AccessError::Malformed("header or claims are not the expected JSON")
        }
        _ => invalid(InvalidReason::UnusableKey),
    }
}

fn identity(claims: IdentityClaims) -> Result<AccessIdentity, AccessError> {
    let present = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    if let Some(email) = present(claims.email) {
        return Ok(AccessIdentity {
            name: email,
            service_token: false,
        });
    }
    if let Some(common_name) = present(claims.common_name) {
        return Ok(AccessIdentity {
            name: common_name,
            service_token: true,
        });
    }
    Err(AccessError::NoIdentity)
}

/// Why keys may not come from `url`.
fn check_transport(url: &Url) -> Result<(), &'static str> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err("must use https (http only to a loopback host)"),
        _ => Err("must be an https URL"),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Fetches and parses the key set at `certs_url`, making the client on first use.
async fn fetch_key_set(
    certs_url: &str,
    client: &mut Option<reqwest::Client>,
) -> Result<HashMap<String, DecodingKey>, FetchError> {
    let url = Url::parse(certs_url).map_err(|_| FetchError::Url("is not a URL"))?;
    check_transport(&url).map_err(FetchError::Url)?;
    let client = match client {
        Some(client) => client,
        None => client.insert(http_client(&url)?),
    };
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| FetchError::Request(e.without_url()))?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_KEY_SET_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Request(e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_KEY_SET_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    parse_key_set(&body)
}

fn http_client(url: &Url) -> Result<reqwest::Client, FetchError> {
    let mut builder = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if is_loopback(url) {
        builder = builder.no_proxy();
    }
    builder.build().map_err(FetchError::Client)
}

/// The RS256 signing keys of a JWKS by `kid`; other keys are skipped.
fn parse_key_set(body: &[u8]) -> Result<HashMap<String, DecodingKey>, FetchError> {
    #[derive(Deserialize)]
    struct RawKeySet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawKeySet = serde_json::from_slice(body).map_err(FetchError::Json)?;
    let mut keys = HashMap::new();
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        if let Some((kid, key)) = rs256_key(&jwk) {
            keys.entry(kid).or_insert(key);
        }
    }
    if keys.is_empty() {
        return Err(FetchError::NoKeys);
    }
    Ok(keys)
}

fn rs256_key(jwk: &Jwk) -> Option<(String, DecodingKey)> {
    let kid = jwk.common.key_id.as_ref().filter(|kid| !kid.is_empty())?;
    if !matches!(jwk.algorithm, AlgorithmParameters::RSA(_)) {
        return None;
    }
    if jwk
        .common
        .key_algorithm
        .is_some_and(|alg| alg != KeyAlgorithm::RS256)
    {
        return None;
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|usage| *usage != PublicKeyUse::Signature)
    {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid.clone(), key))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, OnceLock};

    use axum::Router;
    use axum::extract::State;
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{EncodingKey, Header};
    use rsa::RsaPrivateKey;
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
    use serde_json::{Value, json};

    use super::*;

    const AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
    const EMAIL: &str = "ana@example.org";

    /// A signing key and what the key set publishes for it.
    struct TestKey {
        kid: &'static str,
        signing: EncodingKey,
        jwk: Jwk,
        public_pem: String,
    }

    /// Two 2048-bit keys, made once per test binary (slow in debug builds).
    fn keys() -> &'static [TestKey; 2] {
        static KEYS: OnceLock<[TestKey; 2]> = OnceLock::new();
        KEYS.get_or_init(|| [test_key("key-1"), test_key("key-2")])
    }

    fn test_key(kid: &'static str) -> TestKey {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let signing = EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes());
        let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let public_pem = private
            .to_public_key()
            .to_pkcs1_pem(LineEnding::LF)
            .unwrap();
        TestKey {
            kid,
            signing,
            jwk,
            public_pem,
        }
    }

    fn key1() -> &'static TestKey {
        &keys()[0]
    }

    fn key2() -> &'static TestKey {
        &keys()[1]
    }

    /// The RSA modulus as the key set publishes it.
    fn modulus(key: &TestKey) -> &str {
        match &key.jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => &rsa.n,
            _ => unreachable!("test keys are RSA"),
        }
    }

    /// What the key server answers.
    enum Served {
        Keys(String),
        Status(StatusCode),
    }

    struct ServerState {
        served: Mutex<Served>,
        fetches: AtomicUsize,
        /// When set, answers wait until the counter reaches the number (at most 10 s).
        hold_until: Mutex<Option<(Arc<AtomicUsize>, usize)>>,
    }

    /// A JWKS endpoint on 127.0.0.1 whose answer can be swapped, counting its fetches.
    struct KeyServer {
        addr: SocketAddr,
        state: Arc<ServerState>,
    }

    impl KeyServer {
        async fn start(keys: &[&TestKey]) -> KeyServer {
            let state = Arc::new(ServerState {
                served: Mutex::new(Served::Keys(key_set(keys))),
                fetches: AtomicUsize::new(0),
                hold_until: Mutex::new(None),
            });
            let app = Router::new()
                .route(CERTS_PATH, get(certs))
                .with_state(state.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            KeyServer { addr, state }
        }

        fn team(&self) -> String {
            format!("http://{}", self.addr)
        }

        fn serve_keys(&self, keys: &[&TestKey]) {
            *self.state.served.lock().unwrap() = Served::Keys(key_set(keys));
        }

        fn serve_body(&self, body: &str) {
            *self.state.served.lock().unwrap() = Served::Keys(body.to_owned());
        }

        fn serve_status(&self, status: StatusCode) {
            *self.state.served.lock().unwrap() = Served::Status(status);
        }

        fn fetches(&self) -> usize {
            self.state.fetches.load(Ordering::SeqCst)
        }
    }

    async fn certs(State(state): State<Arc<ServerState>>) -> Response {
        state.fetches.fetch_add(1, Ordering::SeqCst);
        let hold = state.hold_until.lock().unwrap().clone();
        if let Some((counter, target)) = hold {
            for _ in 0..1000 {
                if counter.load(Ordering::SeqCst) >= target {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        match &*state.served.lock().unwrap() {
            Served::Keys(body) => {
                ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
            }
            Served::Status(status) => status.into_response(),
        }
    }

    fn key_set(keys: &[&TestKey]) -> String {
        let set = JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        };
        serde_json::to_string(&set).unwrap()
    }

    /// A key server publishing `keys` and a verifier for it that refetches freely.
    async fn setup(keys: &[&TestKey]) -> (KeyServer, AccessVerifier) {
        let server = KeyServer::start(keys).await;
        let mut config = AccessConfig::new(&server.team(), AUD).unwrap();
        config.min_refetch = Duration::ZERO;
        (server, AccessVerifier::new(config))
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    /// Claims as Access writes them for a user.
    fn claims(server: &KeyServer) -> Value {
        let now = now();
        json!({
            "aud": [AUD],
            "email": EMAIL,
            "exp": now + 300,
            "iat": now,
            "nbf": now,
            "iss": server.team(),
            "type": "app",
            "identity_nonce": "6ei69kawdKzMIAPF",
            "sub": "7335d417-61da-459d-899c-0a01c76a2f94",
            "country": "NL",
        })
    }

    fn sign(key: &TestKey, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &key.signing).unwrap()
    }

    fn b64(json: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
    }

    /// Verifies `token`, expecting a refusal that does not quote the token.
    async fn refuse(verifier: &AccessVerifier, token: &str) -> AccessError {
        let error = verifier.verify(token).await.unwrap_err();
        let shown = format!("{error} {error:?}");
        for part in token.split('.').filter(|p| p.len() > 8) {
            assert!(!shown.contains(part), "error quotes the token: {shown}");
        }
        error
    }

    #[tokio::test]
    async fn a_valid_token_gives_its_email() {
        let (server, verifier) = setup(&[key1(), key2()]).await;
        let token = sign(key1(), key1().kid, &claims(&server));
        let who = verifier.verify(&token).await.unwrap();
        assert_eq!(
            who,
            AccessIdentity {
                name: EMAIL.to_owned(),
                service_token: false,
            }
        );
        // Either published key works, and the set is fetched once.
        let token = sign(key2(), key2().kid, &claims(&server));
        assert_eq!(verifier.verify(&token).await.unwrap().name, EMAIL);
        assert_eq!(server.fetches(), 1);
    }

    #[tokio::test]
    async fn aud_may_be_a_single_string_or_a_list_holding_the_tag() {
        let (server, verifier) = setup(&[key1()]).await;
        let mut claims = claims(&server);
        claims["aud"] = json!(AUD);
        assert!(
            verifier
                .verify(&sign(key1(), "key-1", &claims))
                .await
                .is_ok()
        );
        claims["aud"] = json!(["another-app", AUD]);
        assert!(
            verifier
                .verify(&sign(key1(), "key-1", &claims))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_service_token_gives_its_common_name() {
        let (server, verifier) = setup(&[key1()]).await;
        let mut claims = claims(&server);
        claims.as_object_mut().unwrap().remove("email");
        claims["common_name"] = json!("88bf3b6d86161464f6509f7219099e57.access");
        let who = verifier.verify(&sign(key1(), "key-1", &claims)).await;
        assert_eq!(
            who.unwrap(),
            AccessIdentity {
                name: "88bf3b6d86161464f6509f7219099e57.access".to_owned(),
                service_token: true,
            }
        );
        // An empty email counts as none.
        claims["email"] = json!("");
        let who = verifier.verify(&sign(key1(), "key-1", &claims)).await;
        assert!(who.unwrap().service_token);
    }

    #[tokio::test]
    async fn a_token_naming_nobody_is_refused() {
        let (server, verifier) = setup(&[key1()]).await;
        let mut claims = claims(&server);
        claims.as_object_mut().unwrap().remove("email");
        let error = refuse(&verifier, &sign(key1(), "key-1", &claims)).await;
        assert!(matches!(error, AccessError::NoIdentity), "{error:?}");
        claims["email"] = json!("  ");
        claims["common_name"] = json!("");
        let error = refuse(&verifier, &sign(key1(), "key-1", &claims)).await;
        assert!(matches!(error, AccessError::NoIdentity), "{error:?}");
    }

    #[tokio::test]
    async fn an_expired_token_is_refused_beyond_the_leeway() {
        let (server, verifier) = setup(&[key1()]).await;
        let mut claims = claims(&server);
        claims["iat"] = json!(now() - 600);
        claims["nbf"] = json!(now() - 600);
        claims["exp"] = json!(now() - 120);
        let error = refuse(&verifier, &sign(key1(), "key-1", &claims)).await;
        assert!(
            matches!(error, AccessError::Invalid(InvalidReason::Expired)),
            "{error:?}"
        );
        claims["exp"] = json!(now() - 30);
        assert!(
            verifier
                .verify(&sign(key1(), "key-1", &claims))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_token_not_yet_valid_is_refused_beyond_the_leeway() {
        let (server, verifier) = setup(&[key1()]).await;
        let mut claims = claims(&server);
        claims["nbf"] = json!(now() + 120);
        let error = refuse(&verifier, &sign(key1(), "key-1", &claims)).await;
        assert!(
            matches!(error, AccessError::Invalid(InvalidReason::NotYetValid)),
            "{error:?}"
        );
        claims["nbf"] = json!(now() + 30);
        assert!(
            verifier
                .verify(&sign(key1(), "key-1", &claims))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_token_for_another_application_is_refused() {
        let (server, verifier) = setup(&[key1()]).await;
        let mut claims = claims(&server);
        claims["aud"] = json!(["another-app"]);
        let error = refuse(&verifier, &sign(key1(), "key-1", &claims)).await;
        assert!(
            matches!(error, AccessError::Invalid(InvalidReason::Audience)),
            "{error:?}"
        );
        claims["aud"] = json!(format!("{AUD}x"));
        let error = refuse(&verifier, &sign(key1(), "key-1", &claims)).await;
        assert!(
            matches!(error, AccessError::Invalid(InvalidReason::Audience)),
            "{error:?}"
        );
        claims.as_object_mut().unwrap().remove("aud");
        let error = refuse(&verifier, &sign(key1(), "key-1", &claims)).await;
        assert!(
            matches!(&error, AccessError::Invalid(InvalidReason::MissingClaim(c)) if c == "aud"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_token_from_another_team_is_refused() {
        let (server, verifier) = setup(&[key1()]).await;
        let mut claims = claims(&server);
        claims["iss"] = json!("https://otherteam.cloudflareaccess.com");
        let error = refuse(&verifier, &sign(key1(), "key-1", &claims)).await;
        assert!(
            matches!(error, AccessError::Invalid(InvalidReason::Issuer)),
            "{error:?}"
        );
        claims.as_object_mut().unwrap().remove("iss");
        let error = refuse(&verifier, &sign(key1(), "key-1", &claims)).await;
        assert!(
            matches!(&error, AccessError::Invalid(InvalidReason::MissingClaim(c)) if c == "iss"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_trailing_slash_on_the_team_domain_is_ignored() {
        let server = KeyServer::start(&[key1()]).await;
        let config = AccessConfig::new(&format!("{}/", server.team()), AUD).unwrap();
        assert_eq!(config.team_domain, server.team());
        let verifier = AccessVerifier::new(config);
        let token = sign(key1(), "key-1", &claims(&server));
        assert_eq!(verifier.verify(&token).await.unwrap().name, EMAIL);
    }

    #[tokio::test]
    async fn an_unknown_kid_is_refused_after_one_refetch() {
        let (server, verifier) = setup(&[key1()]).await;
        let token = sign(key1(), "no-such-key", &claims(&server));
        let error = refuse(&verifier, &token).await;
        assert!(
            matches!(&error, AccessError::UnknownKey { kid } if kid == "no-such-key"),
            "{error:?}"
        );
        assert_eq!(server.fetches(), 1);
        // The cache does not remember the miss: the next one asks again.
        refuse(&verifier, &token).await;
        assert_eq!(server.fetches(), 2);
    }

    #[tokio::test]
    async fn alg_none_is_refused_before_any_key_lookup() {
        let (server, verifier) = setup(&[key1()]).await;
        for alg in ["none", "None", "NONE"] {
            let header = json!({"alg": alg, "typ": "JWT", "kid": "key-1"});
            let token = format!("{}.{}.", b64(&header), b64(&claims(&server)));
            let error = refuse(&verifier, &token).await;
            assert!(
                matches!(&error, AccessError::BadAlgorithm { alg: a } if a == alg),
                "{error:?}"
            );
        }
        assert_eq!(server.fetches(), 0);
    }

    #[tokio::test]
    async fn hs256_signed_with_the_public_key_is_refused_before_any_key_lookup() {
        let (server, verifier) = setup(&[key1()]).await;
        let claims = claims(&server);
        let secrets = [
            key1().public_pem.as_bytes().to_vec(),
            modulus(key1()).as_bytes().to_vec(),
            serde_json::to_vec(&key1().jwk).unwrap(),
        ];
        for (alg, secret) in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
            .into_iter()
            .flat_map(|alg| secrets.iter().map(move |s| (alg, s)))
        {
            let mut header = Header::new(alg);
            header.kid = Some("key-1".to_owned());
            let token =
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap();
            let error = refuse(&verifier, &token).await;
            assert!(
                matches!(&error, AccessError::BadAlgorithm { alg: a } if *a == format!("{alg:?}")),
                "{error:?}"
            );
        }
        assert_eq!(server.fetches(), 0);
    }

    #[tokio::test]
    async fn every_other_algorithm_is_refused_before_any_key_lookup() {
        let (server, verifier) = setup(&[key1()]).await;
        let claims = claims(&server);
        // Signed for real with the published RSA key, but not RS256.
        for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
            let mut header = Header::new(alg);
            header.kid = Some("key-1".to_owned());
            let token = jsonwebtoken::encode(&header, &claims, &key1().signing).unwrap();
            let error = refuse(&verifier, &token).await;
            assert!(
                matches!(error, AccessError::BadAlgorithm { .. }),
                "{error:?}"
            );
        }
        // Names no library should meet, cut short in the error.
        let long = "X".repeat(500);
        for alg in ["ES256", "EdDSA", "rs256", "RS256 ", long.as_str()] {
            let header = json!({"alg": alg, "kid": "key-1"});
            let token = format!("{}.{}.c2lnbmF0dXJl", b64(&header), b64(&claims));
            let error = refuse(&verifier, &token).await;
            match error {
                AccessError::BadAlgorithm { alg: quoted } => {
                    assert!(alg.starts_with(&quoted) && quoted.len() <= MAX_QUOTED_ALG);
                }
                other => panic!("{alg}: {other:?}"),
            }
        }
        assert_eq!(server.fetches(), 0);
    }

    #[tokio::test]
    async fn malformed_tokens_are_refused_before_any_key_lookup() {
        let (server, verifier) = setup(&[key1()]).await;
        let good = sign(key1(), "key-1", &claims(&server));
        let no_kid = format!(
            "{}.{}",
            b64(&json!({"alg": "RS256"})),
            good.split_once('.').unwrap().1
        );
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        for token in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "%%%.b.c",
            "bm90IGpzb24.b.c",
            long.as_str(),
            &format!("{good}.extra"),
            &no_kid,
        ] {
            let error = verifier.verify(token).await.unwrap_err();
            assert!(matches!(error, AccessError::Malformed(_)), "{error:?}");
        }
        assert_eq!(server.fetches(), 0);
    }

    #[tokio::test]
    async fn a_tampered_payload_fails_the_signature() {
        let (server, verifier) = setup(&[key1()]).await;
        let token = sign(key1(), "key-1", &claims(&server));
        let (header, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let mut forged = claims(&server);
        forged["email"] = json!("mallory@example.org");
        let tampered = format!("{header}.{}.{signature}", b64(&forged));
        let error = refuse(&verifier, &tampered).await;
        assert!(
            matches!(error, AccessError::Invalid(InvalidReason::Signature)),
            "{error:?}"
        );
        // A flipped signature fails too.
        let mut bad_signature = token.clone().into_bytes();
        let last = bad_signature.len() - 2;
        bad_signature[last] = if bad_signature[last] == b'A' {
            b'B'
        } else {
            b'A'
        };
        let error = refuse(&verifier, &String::from_utf8(bad_signature).unwrap()).await;
        assert!(
            matches!(error, AccessError::Invalid(InvalidReason::Signature)),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_token_signed_by_another_key_under_a_known_kid_fails_the_signature() {
        let (server, verifier) = setup(&[key1()]).await;
        let token = sign(key2(), key1().kid, &claims(&server));
        let error = refuse(&verifier, &token).await;
        assert!(
            matches!(error, AccessError::Invalid(InvalidReason::Signature)),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_rotated_key_is_picked_up_without_a_new_verifier() {
        let (server, verifier) = setup(&[key1()]).await;
        let old = sign(key1(), "key-1", &claims(&server));
        assert!(verifier.verify(&old).await.is_ok());
        assert_eq!(server.fetches(), 1);

        server.serve_keys(&[key2(), key1()]);
        let new = sign(key2(), "key-2", &claims(&server));
        assert_eq!(verifier.verify(&new).await.unwrap().name, EMAIL);
        assert_eq!(server.fetches(), 2);
        // Both keys now come from the cache.
        assert!(verifier.verify(&old).await.is_ok());
        assert!(verifier.verify(&new).await.is_ok());
        assert_eq!(server.fetches(), 2);
    }

    #[tokio::test]
    async fn unknown_kids_refetch_at_most_once_per_min_refetch() {
        let server = KeyServer::start(&[key1()]).await;
        let mut config = AccessConfig::new(&server.team(), AUD).unwrap();
        config.min_refetch = Duration::from_secs(3600);
        let verifier = AccessVerifier::new(config);
        let claims = claims(&server);

        // The first unknown kid causes the (first) fetch.
        let error = refuse(&verifier, &sign(key2(), "key-2", &claims)).await;
        assert!(matches!(error, AccessError::UnknownKey { .. }), "{error:?}");
        assert_eq!(server.fetches(), 1);

        // Later ones are refused without a fetch, even once the key is published.
        server.serve_keys(&[key1(), key2()]);
        for kid in ["key-2", "made-up-1", "made-up-2"] {
            let error = refuse(&verifier, &sign(key2(), kid, &claims)).await;
            assert!(matches!(error, AccessError::UnknownKey { .. }), "{error:?}");
        }
        assert_eq!(server.fetches(), 1);
        // Known keys still verify.
        assert!(
            verifier
                .verify(&sign(key1(), "key-1", &claims))
                .await
                .is_ok()
        );
        assert_eq!(server.fetches(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_verifications_share_one_fetch() {
        let (server, verifier) = setup(&[key1()]).await;
        let good = sign(key1(), "key-1", &claims(&server));
        let unknown = sign(key1(), "made-up", &claims(&server));
        // The key set is answered once all 16 have looked at the (empty) cache.
        let started = Arc::new(AtomicUsize::new(0));
        *server.state.hold_until.lock().unwrap() = Some((started.clone(), 16));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..16 {
            let verifier = verifier.clone();
            let started = started.clone();
            let token = if i % 2 == 0 {
                good.clone()
            } else {
                unknown.clone()
            };
            tasks.spawn(async move {
                // Counted in the same poll that reads the cache.
                started.fetch_add(1, Ordering::SeqCst);
                (i, verifier.verify(&token).await)
            });
        }
        let mut answered = 0;
        while let Some(joined) = tasks.join_next().await {
            let (i, result) = joined.unwrap();
            if i % 2 == 0 {
                assert_eq!(result.unwrap().name, EMAIL);
            } else {
                assert!(matches!(result, Err(AccessError::UnknownKey { .. })));
            }
            answered += 1;
        }
        assert_eq!(answered, 16);
        // Those that queued behind the fetch used its result, unknown kids included.
        assert_eq!(server.fetches(), 1);
    }

    #[tokio::test]
    async fn a_key_dropped_from_the_set_stops_working_once_the_set_is_old() {
        let (server, verifier) = setup(&[key1()]).await;
        let mut config = verifier.config().clone();
        config.max_key_age = Duration::ZERO;
        let verifier = AccessVerifier::new(config);
        let token = sign(key1(), "key-1", &claims(&server));
        assert!(verifier.verify(&token).await.is_ok());

        // A failed refetch keeps the old keys.
        server.serve_status(StatusCode::BAD_GATEWAY);
        assert!(verifier.verify(&token).await.is_ok());
        assert_eq!(server.fetches(), 2);

        server.serve_keys(&[key2()]);
        let error = refuse(&verifier, &token).await;
        assert!(
            matches!(&error, AccessError::UnknownKey { kid } if kid == "key-1"),
            "{error:?}"
        );
        assert_eq!(server.fetches(), 3);
    }

    #[tokio::test]
    async fn known_keys_need_not_wait_for_the_refetch_of_an_old_set() {
        let (server, verifier) = setup(&[key1()]).await;
        let mut config = verifier.config().clone();
        config.max_key_age = Duration::ZERO;
        let verifier = AccessVerifier::new(config);
        let token = sign(key1(), "key-1", &claims(&server));
        assert!(verifier.verify(&token).await.is_ok());

        // The next verification refetches, and the key server holds its answer.
        let release = Arc::new(AtomicUsize::new(0));
        *server.state.hold_until.lock().unwrap() = Some((release.clone(), 1));
        let refetching = tokio::spawn({
            let (verifier, token) = (verifier.clone(), token.clone());
            async move { verifier.verify(&token).await }
        });
        tokio::time::timeout(Duration::from_secs(10), async {
            while server.fetches() < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();

        // Meanwhile the old key still answers, at once.
        let meanwhile = tokio::time::timeout(Duration::from_secs(5), verifier.verify(&token));
        assert_eq!(meanwhile.await.unwrap().unwrap().name, EMAIL);
        assert!(!refetching.is_finished());
        release.store(1, Ordering::SeqCst);
        assert!(refetching.await.unwrap().is_ok());
        assert_eq!(server.fetches(), 2);
    }

    #[tokio::test]
    async fn fetch_failures_are_typed_name_the_url_and_are_rate_limited() {
        let (server, verifier) = setup(&[key1()]).await;
        let token = sign(key1(), "key-1", &claims(&server));
        let url = format!("{}{CERTS_PATH}", server.team());
        let expect = |error: AccessError, what: fn(&FetchError) -> bool| match error {
            AccessError::Fetch { url: named, reason } => {
                assert_eq!(named, url);
                assert!(what(&reason), "{reason:?}");
                let shown = format!("{}", AccessError::Fetch { url: named, reason });
                assert!(shown.contains(&url), "{shown}");
            }
            other => panic!("{other:?}"),
        };

        server.serve_status(StatusCode::INTERNAL_SERVER_ERROR);
        expect(
            refuse(&verifier, &token).await,
            |r| matches!(r, FetchError::Status(s) if s.as_u16() == 500),
        );
        server.serve_body("<html>not json</html>");
        expect(refuse(&verifier, &token).await, |r| {
            matches!(r, FetchError::Json(_))
        });
        server.serve_body(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "key-1"}]}"#);
        expect(refuse(&verifier, &token).await, |r| {
            matches!(r, FetchError::NoKeys)
        });
        server.serve_body(&" ".repeat(MAX_KEY_SET_BYTES + 1));
        expect(refuse(&verifier, &token).await, |r| {
            matches!(r, FetchError::TooLarge)
        });
        assert_eq!(server.fetches(), 4);

        // With a rate limit, a failure is answered again without a fetch.
        let mut config = verifier.config().clone();
        config.min_refetch = Duration::from_secs(3600);
        let limited = AccessVerifier::new(config);
        server.serve_status(StatusCode::SERVICE_UNAVAILABLE);
        for _ in 0..3 {
            expect(refuse(&limited, &token).await, |r| {
                matches!(r, FetchError::Status(_))
            });
        }
        assert_eq!(server.fetches(), 5);
    }

    #[tokio::test]
    async fn an_unreachable_or_insecure_key_set_is_a_fetch_error() {
        let closed = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        let config = AccessConfig::new(&format!("http://{closed}"), AUD).unwrap();
        let verifier = AccessVerifier::new(config);
        let token = sign(key1(), "key-1", &json!({}));
        let error = refuse(&verifier, &token).await;
        assert!(
            matches!(&error, AccessError::Fetch { reason, .. } if matches!(**reason, FetchError::Request(_))),
            "{error:?}"
        );
        assert!(error.to_string().contains(&closed.to_string()), "{error}");

        let mut config = AccessConfig::new("https://myteam.cloudflareaccess.com", AUD).unwrap();
        config.certs_url = "http://myteam.cloudflareaccess.com/cdn-cgi/access/certs".to_owned();
        let error = refuse(&AccessVerifier::new(config), &token).await;
        assert!(
            matches!(&error, AccessError::Fetch { reason, .. } if matches!(**reason, FetchError::Url(_))),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn debug_shows_no_key_material() {
        let (server, verifier) = setup(&[key1(), key2()]).await;
        let token = sign(key1(), "key-1", &claims(&server));
        verifier.verify(&token).await.unwrap();
        let shown = format!("{verifier:?} {:?}", verifier.config());
        assert!(
            shown.contains("key-1") && shown.contains("key-2"),
            "{shown}"
        );
        for key in keys() {
            assert!(!shown.contains(&modulus(key)[..16]), "{shown}");
        }
        for part in token.split('.') {
            assert!(!shown.contains(part), "{shown}");
        }
    }

    #[test]
    fn config_needs_an_https_origin_and_an_aud_tag() {
        let config = AccessConfig::new("https://MyTeam.cloudflareaccess.com/", AUD).unwrap();
        assert_eq!(config.team_domain, "https://myteam.cloudflareaccess.com");
        assert_eq!(
            config.certs_url,
            "https://myteam.cloudflareaccess.com/cdn-cgi/access/certs"
        );
        assert_eq!(config.aud, AUD);
        assert_eq!(config.min_refetch, DEFAULT_MIN_REFETCH);
        for loopback in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(AccessConfig::new(loopback, AUD).is_ok(), "{loopback}");
        }
        for bad in [
            "",
            "myteam.cloudflareaccess.com",
            "http://myteam.cloudflareaccess.com",
            "http://10.0.0.1",
            "ftp://myteam.cloudflareaccess.com",
            "https://myteam.cloudflareaccess.com/app",
            "https://myteam.cloudflareaccess.com/?x=1",
            "https://user:pw@myteam.cloudflareaccess.com",
        ] {
            let error = AccessConfig::new(bad, AUD).unwrap_err();
            assert!(!error.to_string().contains("pw"), "{error}");
            assert!(
                matches!(
                    error,
                    AccessError::BadConfig {
                        field: "team domain",
                        ..
                    }
                ),
                "{bad}: {error:?}"
            );
        }
        for bad in ["", "tag with space"] {
            let error = AccessConfig::new("https://t.cloudflareaccess.com", bad).unwrap_err();
            assert!(
                matches!(
                    error,
                    AccessError::BadConfig {
                        field: "aud tag",
                        ..
                    }
                ),
                "{bad}: {error:?}"
            );
        }
    }
}
