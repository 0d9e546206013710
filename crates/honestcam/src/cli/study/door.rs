//! How a terminal session reaches a study user's progress: [`Local`] through the data
//! dir's storage and the study service, [`Remote`] through the portal's JSON API. Both
//! save each answer when it is given, in the unit of work the portal's answers take.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use honestcam::domain::quiz::AnswerRecord;
use honestcam::domain::{Identity, Progress, StudyUser};
use honestcam::property::Slug;
use honestcam::service::study;
use honestcam::storage::Storage;
use serde_json::{Value, json};

use crate::cli::UsageError;

/// The most bytes of a portal's answer read.
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;
/// The most bytes of a token file read.
const MAX_TOKEN_FILE_BYTES: u64 = 4096;
/// The longest portal URL taken.
const MAX_URL_CHARS: usize = 2048;
/// How long one request to the portal may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A study user's progress, wherever it is kept.
pub trait Door {
    /// The study user.
    fn user(&self) -> &StudyUser;
    /// Where the progress is kept, for people: a property, or a portal's URL too.
    fn place(&self) -> String;
    /// The user's whole progress blob (empty before the first answer).
    fn progress(&mut self) -> anyhow::Result<Progress>;
    /// Records and saves an answer.
    fn answer(&mut self, question: &str, choice: usize) -> anyhow::Result<AnswerRecord>;
}

/// On this machine: the data dir's storage, as `who`.
pub struct Local {
    storage: Storage,
    slug: Slug,
    who: Identity,
    user: StudyUser,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("slug", &self.slug)
            .field("who", &self.who)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Local {
    /// `who`'s study user named `name` in property `slug`, created on first use.
    pub fn open(storage: Storage, slug: Slug, who: Identity, name: &str) -> anyhow::Result<Local> {
        let user = study::own_user_named(&storage, &slug, &who, name, true)
            .with_context(|| format!("study user {name:?} of {slug}"))?
            .ok_or_else(|| anyhow!("study user {name:?} of {slug} was not created"))?;
        Ok(Local {
            storage,
            slug,
            who,
            user,
        })
    }
}

impl Door for Local {
    fn user(&self) -> &StudyUser {
        &self.user
    }

    fn place(&self) -> String {
        format!("{} (as {})", self.slug, self.who.name)
    }

    fn progress(&mut self) -> anyhow::Result<Progress> {
        Ok(
            study::progress(&self.storage, &self.slug, &self.user.user_id)
                .with_context(|| format!("reading the progress of {}", self.user.user_id))?
                .unwrap_or_default(),
        )
    }

    fn answer(&mut self, question: &str, choice: usize) -> anyhow::Result<AnswerRecord> {
        let (record, _) = study::answer(
            &self.storage,
            &self.slug,
            &self.who,
            Some(&self.user.user_id),
            question,
            choice,
        )
        .with_context(|| format!("saving the answer to {question}"))?;
        Ok(record)
    }
}

/// An API token; never shown.
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

impl Token {
    /// The token in `file` (its first line) if given, else in the variable `var`.
    pub fn from_env_or_file(var: &str, file: Option<&Path>) -> anyhow::Result<Token> {
        let text = match file {
            Some(path) => {
                let mut text = String::new();
                std::fs::File::open(path)
                    .and_then(|f| f.take(MAX_TOKEN_FILE_BYTES).read_to_string(&mut text))
                    .with_context(|| format!("reading the token file {}", path.display()))?;
                text.lines().next().unwrap_or("").trim().to_string()
            }
            None => std::env::var(var).unwrap_or_default().trim().to_string(),
        };
        let printable = text.bytes().all(|b| b.is_ascii_graphic());
        if text.is_empty() || text.len() > 512 || !printable {
            let from = file.map_or_else(
                || format!("the environment variable {var}"),
                |p| format!("the file {}", p.display()),
            );
            return Err(UsageError(format!(
                "remote mode needs an API token in {from} (one line, as honestcam token create printed it)"
            ))
            .into());
        }
        Ok(Token(text))
    }
}

/// A running portal, through its JSON API, as a token's identity.
#[derive(Debug)]
pub struct Remote {
    api: Api,
    user: StudyUser,
}

/// The portal's study API for one property.
#[derive(Debug)]
struct Api {
    http: reqwest::blocking::Client,
    base: url::Url,
    slug: Slug,
    token: Token,
}

impl Remote {
    /// Connects to the portal at `url` and finds (or creates) the token's study user
    /// `name` in property `slug`.
    pub fn connect(url: &str, slug: Slug, token: Token, name: &str) -> anyhow::Result<Remote> {
        let base = portal_url(url)?;
        let http = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("setting up the HTTP client")?;
        let api = Api {
            http,
            base,
            slug,
            token,
        };
        let reply = api.call(
            reqwest::Method::POST,
            "users",
            Some(json!({ "name": name })),
            "finding the study user",
        )?;
        let user: StudyUser = serde_json::from_value(reply["user"].clone())
            .context("the portal's answer holds no study user")?;
        if user.name != name.trim() && user.user_id.as_str() != name {
            bail!(UsageError(format!(
                "this token studies as {:?} ({}) on {}, not as {name:?}: give --user {:?}",
                user.name, user.user_id, api.slug, user.name
            )));
        }
        Ok(Remote { api, user })
    }
}

impl Api {
    fn url(&self, path: &str) -> anyhow::Result<url::Url> {
        self.base
            .join(&format!("api/p/{}/study/{path}", self.slug))
            .with_context(|| format!("building the API address for {path}"))
    }

    /// Sends a request and returns its JSON; `Value::Null` for 404 when `missing_ok`.
    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
        missing_ok: bool,
    ) -> anyhow::Result<Value> {
        let url = self.url(path)?;
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.token.0);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .with_context(|| format!("{what}: cannot reach the portal at {}", self.base))?;
        let status = response.status();
        let mut bytes = Vec::new();
        response
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut bytes)
            .with_context(|| format!("{what}: reading the portal's answer"))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        if missing_ok && status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Value::Null);
        }
        let said = value["error"].as_str().unwrap_or("(no reason given)");
        let hint = match status.as_u16() {
            401 => {
                " (check HONESTCAM_TOKEN or --token-file: honestcam token list shows the tokens)"
            }
            403 => " (studying needs a token with the editor or admin role that is not read-only)",
            _ => "",
        };
        bail!(
            "{what}: the portal at {} refused: HTTP {status}: {said}{hint}",
            self.base
        )
    }

    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> anyhow::Result<Value> {
        self.send(method, path, body, what, false)
    }
}

impl Door for Remote {
    fn user(&self) -> &StudyUser {
        &self.user
    }

    fn place(&self) -> String {
        format!("{} at {}", self.api.slug, self.api.base)
    }

    fn progress(&mut self) -> anyhow::Result<Progress> {
        let path = format!("progress/{}", self.user.user_id);
        match self.api.send(
            reqwest::Method::GET,
            &path,
            None,
            "reading the progress",
            true,
        )? {
            Value::Object(blob) => Ok(blob),
            // 404: nothing saved yet.
            Value::Null => Ok(Progress::new()),
            _ => bail!("reading the progress: the portal's answer is not a JSON object"),
        }
    }

    fn answer(&mut self, question: &str, choice: usize) -> anyhow::Result<AnswerRecord> {
        let body = json!({
            "user_id": self.user.user_id,
            "question": question,
            "choice": choice,
        });
        let what = format!("saving the answer to {question}");
        let reply = self
            .api
            .call(reqwest::Method::POST, "answers", Some(body), &what)?;
        serde_json::from_value(reply["answer"].clone())
            .with_context(|| format!("{what}: the portal's answer holds no answer record"))
    }
}

/// `url` as the portal's base: http or https, ending in `/`.
fn portal_url(url: &str) -> anyhow::Result<url::Url> {
    let refuse = |why: &str| UsageError(format!("--portal {url:?}: {why}"));
    if url.chars().count() > MAX_URL_CHARS {
        return Err(refuse("longer than 2048 characters").into());
    }
    let mut parsed = url::Url::parse(url).map_err(|e| refuse(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(refuse("give the portal's http:// or https:// address").into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(refuse("give the portal's address without ?query or #fragment").into());
    }
    if !parsed.path().ends_with('/') {
        let path = format!("{}/", parsed.path());
        parsed.set_path(&path);
    }
    Ok(parsed)
}
