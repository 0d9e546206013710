//! Reading which databases a replica holds, straight from the bucket (S3
//! `ListObjectsV2`, signed with the same credentials Litestream uses).

use std::time::Duration;

use rusty_s3::actions::{ListObjectsV2, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};

use super::{PROPERTIES, Replica};
use crate::config::STUDY_DB;
use crate::property::{PROPERTY_DB, Slug};

/// How long a signed request stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(300);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a replica could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The replica's endpoint or bucket cannot be addressed.
    #[error("replica {replica}: {reason}")]
    Address {
        /// The replica.
        replica: String,
        /// What is wrong.
        reason: String,
    },
    /// The request failed (network, TLS, timeout).
    #[error("listing {replica}")]
    Request {
        /// The replica.
        replica: String,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// No credentials in the environment.
    #[error(
        "listing {replica}: no credentials; set LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    )]
    NoCredentials {
        /// The replica.
        replica: String,
    },
    /// The storage answered with an error.
    #[error("listing {replica}: the storage answered {status}: {body}")]
    Status {
        /// The replica.
        replica: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer.
        body: String,
    },
    /// The answer was not a listing.
    #[error("listing {replica}: unreadable answer: {reason}")]
    Parse {
        /// The replica.
        replica: String,
        /// What the parser said.
        reason: String,
    },
}

/// The credentials Litestream would use, in its order: `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN` if set), else
/// `LITESTREAM_ACCESS_KEY_ID` and `LITESTREAM_SECRET_ACCESS_KEY`.
fn credentials() -> Option<Credentials> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let aws = var("AWS_ACCESS_KEY_ID")
        .zip(var("AWS_SECRET_ACCESS_KEY"))
        .map(|(id, secret)| match var("AWS_SESSION_TOKEN") {
            Some(token) => Credentials::new_with_token(id, secret, token),
            None => Credentials::new(id, secret),
        });
    aws.or_else(|| {
        var("LITESTREAM_ACCESS_KEY_ID")
            .zip(var("LITESTREAM_SECRET_ACCESS_KEY"))
            .map(|(id, secret)| Credentials::new(id, secret))
    })
}

/// A client for one replica's bucket.
struct Lister {
    replica: Replica,
    bucket: Bucket,
    credentials: Credentials,
    http: reqwest::blocking::Client,
}

impl Lister {
    fn new(replica: &Replica) -> Result<Lister, ListError> {
        let address = |reason: String| ListError::Address {
            replica: replica.to_string(),
            reason,
        };
        let credentials = credentials().ok_or_else(|| ListError::NoCredentials {
            replica: replica.to_string(),
        })?;
        // As Litestream: AWS S3 in us-east-1 unless a region is given (a bucket
        // elsewhere needs its region=); path style whenever an endpoint is given.
        let region = replica.region().unwrap_or("us-east-1").to_string();
        let endpoint = match replica.endpoint() {
            Some(e) => e.to_string(),
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        let endpoint = url::Url::parse(&endpoint).map_err(|e| address(e.to_string()))?;
        let style = if replica.force_path_style() || replica.endpoint().is_some() {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(endpoint, style, replica.bucket().to_string(), region)
            .map_err(|e| address(e.to_string()))?;
        let http = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|source| ListError::Request {
                replica: replica.to_string(),
                source,
            })?;
        Ok(Lister {
            replica: replica.clone(),
            bucket,
            credentials,
            http,
        })
    }

    /// Every key and common prefix under `prefix` (grouped at `delimiter` if given),
    /// following continuation tokens; stops after `limit` keys when given.
    fn list(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        limit: Option<usize>,
    ) -> Result<(Vec<String>, Vec<String>), ListError> {
        let who = || self.replica.to_string();
        let mut keys = Vec::new();
        let mut prefixes = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
            action.with_prefix(prefix);
            if let Some(d) = delimiter {
                action.with_delimiter(d);
            }
            if let Some(n) = limit {
                action.with_max_keys(n);
            }
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let url = action.sign(SIGNED_FOR);
            // The signed URL carries a signature: keep it out of errors.
            let answer = self
                .http
                .get(url)
                .send()
                .map_err(|source| ListError::Request {
                    replica: who(),
                    source: source.without_url(),
                })?;
            let status = answer.status();
            let body = answer.text().map_err(|source| ListError::Request {
                replica: who(),
                source: source.without_url(),
            })?;
            if !status.is_success() {
                return Err(ListError::Status {
                    replica: who(),
                    status: status.as_u16(),
                    body: body.chars().take(300).collect(),
                });
            }
            let page = ListObjectsV2::parse_response(&body).map_err(|e| ListError::Parse {
                replica: who(),
                reason: e.to_string(),
            })?;
            keys.extend(page.contents.into_iter().map(|c| c.key));
            prefixes.extend(page.common_prefixes.into_iter().map(|p| p.prefix));
            token = page.next_continuation_token;
            let enough = limit.is_some_and(|n| keys.len() >= n);
            if token.is_none() || enough {
                return Ok((keys, prefixes));
            }
        }
    }

    /// Whether any object lies under `prefix`.
    fn any_under(&self, prefix: &str) -> Result<bool, ListError> {
        Ok(!self.list(prefix, None, Some(1))?.0.is_empty())
    }
}

/// What a replica holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    /// Properties with a replicated database, sorted.
    pub properties: Vec<Slug>,
    /// Whether the study database is replicated.
    pub study: bool,
}

/// Lists the databases of `replica`: every `properties/{slug}/honestcam.db` (archived
/// databases further down, such as a rollback's, are not properties) and the study
/// database.
pub fn list_properties(replica: &Replica) -> Result<Contents, ListError> {
    let lister = Lister::new(replica)?;
    let base = format!("{}/", replica.key(PROPERTIES));
    let (_, folders) = lister.list(&base, Some("/"), None)?;
    let mut properties = Vec::new();
    for folder in folders {
        let name = folder
            .strip_prefix(&base)
            .unwrap_or(&folder)
            .trim_end_matches('/');
        let Ok(slug) = Slug::parse(name) else {
            continue;
        };
        if lister.any_under(&format!("{folder}{PROPERTY_DB}/"))? {
            properties.push(slug);
        }
    }
    properties.sort();
    let study = lister.any_under(&format!("{}/", replica.key(STUDY_DB)))?;
    Ok(Contents { properties, study })
}
