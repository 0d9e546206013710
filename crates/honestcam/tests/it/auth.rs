//! Who may change what: API tokens, roles on every route, and Cloudflare Access
//! identities as the actor of their changes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde_json::{Value, json};

use crate::support::{App, Fixture, SLUG, client, migrated};

/// Creates an API token with `role` through the command line; returns its secret.
pub fn token(f: &Fixture, role: &str) -> String {
    named_token(f, role).1
}

/// Creates an API token with `role`; returns the identity it acts as
/// (`token:{name}`) and its secret.
pub fn named_token(f: &Fixture, role: &str) -> (String, String) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("{role}-{}", N.fetch_add(1, Ordering::Relaxed));
    let secret = f
        .ok(&["token", "create", "--name", &name, "--role", role])
        .trim()
        .to_string();
    (format!("token:{name}"), secret)
}

/// A role's token, and the id of its own study user (which `{own}` in a route's path
/// or body stands for).
struct Caller {
    role: &'static str,
    secret: String,
    own: String,
}

/// What a request with each role is answered: refused (403) below `needed`, anything
/// but 401/403 from it on.
async fn check_route(app: &App, callers: &[Caller], route: &Route) {
    for Caller { role, secret, own } in callers {
        let path = route.path.replace("{own}", own);
        let mut request = client()
            .request(route.method.clone(), app.url(&path))
            .bearer_auth(secret);
        request = match &route.body {
            Body::None => request,
            Body::Form(pairs) => request.form(pairs),
            Body::Json(v) => {
                let text = v.to_string().replace("{own}", own);
                request.json(&serde_json::from_str::<Value>(&text).unwrap())
            }
        };
        let status = request.send().await.unwrap().status();
        let allowed = rank(role) >= rank(route.needs);
        if allowed {
            assert!(
                status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                "{role} {} {}: {status}",
                route.method,
                route.path
            );
        } else {
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{role} {} {}",
                route.method,
                route.path
            );
        }
    }
}

fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 0,
        "editor" => 1,
        _ => 2,
    }
}

enum Body {
    None,
    Form(Vec<(&'static str, &'static str)>),
    Json(Value),
}

struct Route {
    method: Method,
    path: String,
    body: Body,
    needs: &'static str,
}

fn route(method: Method, path: &str, body: Body, needs: &'static str) -> Route {
    Route {
        method,
        path: path.to_string(),
        body,
        needs,
    }
}

/// Every route of the portal with a request that exercises it, and the least role it
/// needs (`{own}`: the caller's own study user).
fn every_route() -> Vec<Route> {
    let uid = "{own}";
    let p = format!("/p/{SLUG}");
    let api = format!("/api/p/{SLUG}");
    let status = Body::Form(vec![("status", "in_progress")]);
    vec![
        route(Method::GET, "/", Body::None, "viewer"),
        route(Method::GET, "/compliance/", Body::None, "viewer"),
        route(
            Method::GET,
            "/compliance/actions/ACT-001",
            Body::None,
            "viewer",
        ),
        route(
            Method::GET,
            &format!("{p}/compliance/actions/ACT-001"),
            Body::None,
            "viewer",
        ),
        route(
            Method::GET,
            &format!("{p}/compliance/"),
            Body::None,
            "viewer",
        ),
        route(Method::GET, "/study/", Body::None, "viewer"),
        route(Method::GET, &format!("{p}/study/"), Body::None, "viewer"),
        route(Method::GET, "/study/admin", Body::None, "admin"),
        route(
            Method::GET,
            &format!("{p}/study/admin"),
            Body::None,
            "admin",
        ),
        route(Method::GET, "/api/properties", Body::None, "viewer"),
        route(Method::GET, &format!("{api}/actions"), Body::None, "viewer"),
        route(
            Method::GET,
            &format!("{api}/actions.csv"),
            Body::None,
            "viewer",
        ),
        route(Method::GET, &format!("{api}/events"), Body::None, "viewer"),
        route(
            Method::GET,
            &format!("{api}/search?q=fire"),
            Body::None,
            "viewer",
        ),
        route(
            Method::GET,
            &format!("{api}/actions?as_of=2026-04-01"),
            Body::None,
            "viewer",
        ),
        route(
            Method::GET,
            &format!("{p}/compliance/?as_of=2026-04-01"),
            Body::None,
            "viewer",
        ),
        route(
            Method::GET,
            &format!("{api}/events?after=3&limit=2"),
            Body::None,
            "viewer",
        ),
        route(
            Method::GET,
            &format!("{api}/events.csv"),
            Body::None,
            "viewer",
        ),
        route(Method::GET, "/compliance/export.csv", Body::None, "viewer"),
        route(
            Method::GET,
            &format!("{p}/compliance/events.csv"),
            Body::None,
            "viewer",
        ),
        route(
            Method::GET,
            &format!("{api}/study/users"),
            Body::None,
            "viewer",
        ),
        route(
            Method::GET,
            &format!("{api}/study/progress/{uid}"),
            Body::None,
            "viewer",
        ),
        route(
            Method::GET,
            &format!("{api}/study/admin"),
            Body::None,
            "admin",
        ),
        route(
            Method::POST,
            "/compliance/actions/ACT-001",
            status,
            "editor",
        ),
        route(
            Method::POST,
            &format!("{p}/compliance/actions/ACT-001"),
            Body::Form(vec![("note", "roles"), ("due", "2027-01-31")]),
            "editor",
        ),
        route(
            Method::POST,
            "/compliance/actions/ACT-001",
            Body::Form(vec![("assignee", "kim")]),
            "editor",
        ),
        route(
            Method::POST,
            "/compliance/actions/ACT-001/status",
            Body::Form(vec![("status", "in_progress")]),
            "editor",
        ),
        route(
            Method::POST,
            &format!("{p}/compliance/actions/ACT-001/status"),
            Body::Form(vec![("status", "blocked")]),
            "editor",
        ),
        route(
            Method::POST,
            "/study/name",
            Body::Form(vec![("name", "Roles")]),
            "editor",
        ),
        route(
            Method::POST,
            "/study/answer",
            Body::Form(vec![("question", "q"), ("choice", "0")]),
            "editor",
        ),
        route(
            Method::POST,
            &format!("{api}/actions/ACT-001/events"),
            Body::Json(json!({"type": "note_added", "payload": {"note": "roles"}})),
            "editor",
        ),
        route(
            Method::POST,
            &format!("{api}/study/users"),
            Body::Json(json!({"name": "Roles"})),
            "editor",
        ),
        route(
            Method::PUT,
            &format!("{api}/study/progress/{uid}"),
            Body::Json(json!({})),
            "editor",
        ),
        route(
            Method::POST,
            &format!("{api}/study/answers"),
            Body::Json(json!({"user_id": uid, "question": "q", "choice": 0})),
            "editor",
        ),
    ]
}

#[tokio::test]
async fn roles_are_enforced_on_every_route() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    // Each caller's own study user, so that the study routes answer on their role
    // alone (whose progress may be touched is `tests/it/study.rs`'s concern). A viewer
    // cannot make one, so theirs is stored directly.
    let mut callers = Vec::new();
    for role in ["viewer", "editor", "admin"] {
        let (identity, secret) = named_token(&f, role);
        let own = format!("own-{role}");
        honestcam::service::study::upsert_user(
            &f.storage(),
            &f.slug(),
            &honestcam::domain::StudyUser {
                user_id: honestcam::domain::UserId::parse(&own).unwrap(),
                name: role.into(),
                created_at: "2026-01-01T00:00:00Z".into(),
                owner: Some(identity),
            },
        )
        .unwrap();
        callers.push(Caller { role, secret, own });
    }
    let routes = every_route();
    for r in &routes {
        check_route(&app, &callers, r).await;
    }
    // What anyone may fetch.
    for path in ["/healthz", "/assets/portal.css"] {
        let answer = crate::guard::bare()
            .get(app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
    }
}

/// Creates a read-only API token with `role`; returns the identity it acts as and
/// its secret.
pub fn read_only_token(f: &Fixture, name: &str, role: &str) -> (String, String) {
    let secret = f
        .ok(&[
            "token",
            "create",
            "--name",
            name,
            "--role",
            role,
            "--read-only",
        ])
        .trim()
        .to_string();
    (format!("token:{name}"), secret)
}

/// A read-only token, even an admin's, reads every route its role reads and is
/// refused every write with a 403 that says why; the log is left as it was, and a
/// token created without --read-only still writes.
#[tokio::test]
async fn a_read_only_token_reads_what_its_role_reads_and_every_write_is_refused() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let (identity, secret) = read_only_token(&f, "assistant", "admin");
    let own = "own-assistant";
    honestcam::service::study::upsert_user(
        &f.storage(),
        &f.slug(),
        &honestcam::domain::StudyUser {
            user_id: honestcam::domain::UserId::parse(own).unwrap(),
            name: "assistant".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            owner: Some(identity),
        },
    )
    .unwrap();
    let events_before = crate::support::event_rows(&f);
    let routes = every_route();
    let writes = routes.iter().filter(|r| r.needs == "editor").count();
    assert!(writes >= 5 && routes.len() > writes, "reads and writes");
    for route in &routes {
        let path = route.path.replace("{own}", own);
        let mut request = client()
            .request(route.method.clone(), app.url(&path))
            .bearer_auth(&secret);
        request = match &route.body {
            Body::None => request,
            Body::Form(pairs) => request.form(pairs),
            Body::Json(v) => {
                let text = v.to_string().replace("{own}", own);
                request.json(&serde_json::from_str::<Value>(&text).unwrap())
            }
        };
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        if route.needs == "editor" {
            assert_eq!(status, StatusCode::FORBIDDEN, "{} {path}", route.method);
            assert!(
                text.contains("token:assistant is a read-only token"),
                "{} {path}: {text}",
                route.method
            );
        } else {
            // Allowed: answered for what it asks (a user without progress is a 404).
            assert!(
                status.is_success() || status == StatusCode::NOT_FOUND,
                "{} {path}: {status} {text}",
                route.method
            );
        }
    }
    assert_eq!(
        crate::support::event_rows(&f),
        events_before,
        "nothing was written"
    );
    let listed = f.ok(&["token", "list"]);
    let line = listed
        .lines()
        .find(|l| l.starts_with("assistant "))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains("read-only"), "{line}");

    let writer = token(&f, "editor");
    let answer = client()
        .post(app.url(&format!("/api/p/{SLUG}/actions/ACT-003/events")))
        .bearer_auth(writer)
        .json(&json!({"type": "note_added", "payload": {"note": "still writes"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::CREATED,
        "other tokens keep their rights"
    );
}

#[tokio::test]
async fn a_token_acts_under_its_name_until_revoked() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let secret = token(&f, "editor");
    let name = f.ok(&["token", "list"]);
    let name = name.split_whitespace().next().unwrap().to_string();
    let post = |secret: String| {
        client()
            .post(app.url(&format!("/api/p/{SLUG}/actions/ACT-003/events")))
            .bearer_auth(secret)
            .json(&json!({"type": "note_added", "payload": {"note": "by token"}}))
            .send()
    };
    let answer = post(secret.clone()).await.unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["event"]["actor"], format!("token:{name}"));
    for bad in ["hc_0000", "not-a-token", ""] {
        let answer = post(bad.to_string()).await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
    }
    f.ok(&["token", "revoke", "--name", &name]);
    let answer = post(secret).await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "revoked");
    let listed = f.ok(&["token", "list"]);
    assert!(!listed.contains(&name), "{listed}");
}

#[test]
fn serve_refuses_a_missing_or_unsafe_authentication_mode() {
    let f = migrated();
    for (args, says) in [
        (vec!["serve", "--addr", "127.0.0.1:0"], "--auth"),
        (
            vec![
                "serve",
                "--addr",
                "0.0.0.0:0",
                "--auth",
                "none",
                "--public-url",
                "http://127.0.0.1:1",
            ],
            "loopback",
        ),
        (
            vec![
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--auth",
                "none",
                "--public-url",
                "https://portal.example.org",
            ],
            "public URL",
        ),
        (
            vec![
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--auth",
                "cloudflare-access",
            ],
            "--access-team-domain",
        ),
        (
            vec![
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--auth",
                "cloudflare-access",
                "--access-team-domain",
                "http://team.example.org",
                "--access-aud",
                "tag",
            ],
            "https",
        ),
        (
            vec![
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--auth",
                "local",
                "--trusted-proxy-header",
                "CF Connecting IP",
            ],
            "--trusted-proxy-header",
        ),
    ] {
        let out = f.run_env(&args, &[("HONESTCAM_AUTH", "")]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// One signing key and the key set that publishes it, made once (slow in debug).
fn signing_key() -> &'static (EncodingKey, JwkSet) {
    static KEY: OnceLock<(EncodingKey, JwkSet)> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let signing = EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes());
        let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some("drill-key".into());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        (signing, JwkSet { keys: vec![jwk] })
    })
}

/// Serves the key set at `/keys` on a loopback port (not Access's own path, so the
/// portal finds it only through `--access-certs-url`); returns the team domain (its
/// origin).
async fn serve_team(keys: Arc<Mutex<JwkSet>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let team = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/keys",
        axum::routing::get(move || {
            let keys = keys.lock().unwrap().clone();
            async move { axum::Json(keys) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    team
}

pub fn access_token(team: &str, aud: &str, email: &str) -> String {
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({
        "iss": team, "aud": [aud], "email": email, "sub": "s",
        "iat": now, "nbf": now, "exp": now + 600, "type": "app",
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("drill-key".into());
    jsonwebtoken::encode(&header, &claims, &signing_key().0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_identity_is_the_actor_of_its_changes() {
    let f = migrated();
    let keys = Arc::new(Mutex::new(signing_key().1.clone()));
    let team = serve_team(keys).await;
    let app = f.spawn_app(
        &[
            "--auth",
            "cloudflare-access",
            "--access-team-domain",
            &team,
            "--access-aud",
            "portal-aud",
            "--access-certs-url",
            &format!("{team}/keys"),
        ],
        &[],
    );
    let page = app.url("/compliance/");
    let note = app.url("/compliance/actions/ACT-004");
    let kim = access_token(&team, "portal-aud", "kim@example.org");

    let anonymous = client().get(&page).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let viewer = client()
        .get(&page)
        .header("cf-access-jwt-assertion", &kim)
        .send()
        .await
        .unwrap();
    assert_eq!(viewer.status(), StatusCode::OK, "an Access identity reads");
    let refused = client()
        .post(&note)
        .header("cf-access-jwt-assertion", &kim)
        .form(&[("note", "as a viewer")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "but is a viewer");
    for forged in [
        access_token(&team, "another-app", "kim@example.org"),
        access_token(
            "https://other.cloudflareaccess.com",
            "portal-aud",
            "kim@example.org",
        ),
        format!("{kim}x"),
    ] {
        let answer = client()
            .get(&page)
            .header("cf-access-jwt-assertion", forged)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }

    f.ok(&["user", "add", "kim@example.org", "--role", "editor"]);
    let written = client()
        .post(&note)
        .header("cf-access-jwt-assertion", &kim)
        .form(&[("note", "signed in through Access")])
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), StatusCode::SEE_OTHER);
    let events = honestcam::service::compliance::load_events(&f.storage(), &f.slug()).unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.actor, "kim@example.org");
    let html = client()
        .get(&page)
        .header("cf-access-jwt-assertion", &kim)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("last changed by kim@example.org"),
        "the page shows who made the change"
    );
    assert!(
        html.contains(r#"kim@example.org · <a href="/cdn-cgi/access/logout">sign out</a>"#),
        "the header shows who is signed in"
    );
}

/// A portal behind (a stand-in for) Cloudflare Access, logging at info level to `log`;
/// returns it and the team domain its tokens must name.
pub async fn access_app(f: &crate::support::Fixture, log: &std::path::Path) -> (App, String) {
    let keys = Arc::new(Mutex::new(signing_key().1.clone()));
    let team = serve_team(keys).await;
    let app = f.spawn_app_logging(
        &[
            "--auth",
            "cloudflare-access",
            "--access-team-domain",
            &team,
            "--access-aud",
            "portal-aud",
            "--access-certs-url",
            &format!("{team}/keys"),
        ],
        &[],
        Some(log),
    );
    (app, team)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_identities_that_are_not_plain_emails_are_refused() {
    let f = migrated();
    f.ok(&["user", "add", "kim@example.org", "--role", "admin"]);
    let log = f.dir().join("serve.log");
    let (app, team) = access_app(&f, &log).await;
    let admin_page = app.url("/study/admin");
    let as_ = |email: &str| {
        client()
            .get(&admin_page)
            .header(
                "cf-access-jwt-assertion",
                access_token(&team, "portal-aud", email),
            )
            .send()
    };
    // The same address in other ASCII cases is the same account.
    for kim in ["kim@example.org", "Kim@Example.ORG"] {
        let answer = as_(kim).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{kim} is kim, an admin");
    }
    for refused in [
        // The Kelvin sign, which Unicode lowercases to `k`.
        "\u{212A}im@example.org",
        "token:x",
        "local",
        "LOCAL",
        "token:x@example.org",
        "kim@example",
        "kim lee@example.org",
    ] {
        let answer = as_(refused).await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{refused:?}");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("Access token refused") && logged.contains("token:x"),
        "{logged}"
    );
}

#[test]
fn user_commands_find_an_account_by_any_ascii_spelling() {
    let f = migrated();
    f.ok(&["user", "add", "maria@example.org", "--role", "viewer"]);
    f.ok(&["user", "role", "Maria@Example.org", "admin"]);
    let list: Value = serde_json::from_str(&f.ok(&["user", "list", "--json"])).unwrap();
    assert_eq!(list[0]["name"], "maria@example.org");
    assert_eq!(list[0]["role"], "admin");
    let second = f.run(&["user", "add", "MARIA@example.org", "--role", "viewer"]);
    assert!(!second.status.success(), "a second account for one address");
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("exists already"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let out = f.run_stdin(
        &["user", "passwd", "MARIA@EXAMPLE.ORG"],
        "maria's long password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An account added with capitals is found by the same spelling.
    f.ok(&["user", "add", "Lee@Example.org", "--role", "viewer"]);
    f.ok(&["user", "role", "Lee@Example.org", "editor"]);
    f.ok(&["user", "remove", "Maria@Example.org"]);
    let list: Value = serde_json::from_str(&f.ok(&["user", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "lee@example.org");
    assert_eq!(list[0]["role"], "editor");
}

/// Adds a local account with a password through the command line.
pub fn add_local(f: &Fixture, name: &str, role: &str, password: &str) {
    let out = f.run_stdin(
        &["user", "add", name, "--role", role, "--password-stdin"],
        &format!("{password}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs in through the login form; returns the answer.
pub async fn sign_in(app: &App, name: &str, password: &str) -> reqwest::Response {
    client()
        .post(app.url("/login"))
        .form(&[
            ("name", name),
            ("password", password),
            ("next", "/compliance/"),
        ])
        .send()
        .await
        .unwrap()
}

/// `GET path` with the session cookie `cookie`; the status.
async fn page_as(app: &App, path: &str, cookie: &str) -> StatusCode {
    client()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

/// Posts a note to ACT-004 with the session cookie `cookie`; the status.
async fn note_as(app: &App, cookie: &str, note: &str) -> StatusCode {
    client()
        .post(app.url("/compliance/actions/ACT-004"))
        .header("cookie", cookie)
        .form(&[("note", note)])
        .send()
        .await
        .unwrap()
        .status()
}

/// The session cookie an answer sets (`name=value`).
pub fn session(answer: &reqwest::Response) -> String {
    let set = answer.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn local_accounts_sign_in_change_what_their_role_allows_and_sign_out() {
    let f = migrated();
    add_local(&f, "kim", "editor", "kim's long password");
    add_local(&f, "lee", "viewer", "lee's long password");
    let weak = f.run_stdin(
        &["user", "add", "max", "--role", "viewer", "--password-stdin"],
        "short\n",
    );
    assert_eq!(weak.status.code(), Some(2), "a short password is refused");
    let app = f.spawn_app(&["--auth", "local"], &[]);

    // Not signed in: pages send to the login page, the API answers 401.
    let page = client().get(app.url("/compliance/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/login?next=%2Fcompliance%2F");
    let api = client()
        .get(app.url(&format!("/api/p/{SLUG}/actions")))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let form = client().get(app.url("/login")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);

    for (name, password) in [
        ("kim", "wrong password!"),
        ("nobody", "kim's long password"),
    ] {
        let answer = sign_in(&app, name, password).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert!(
            answer
                .text()
                .await
                .unwrap()
                .contains("Wrong name or password")
        );
    }
    let answer = sign_in(&app, "kim", "kim's long password").await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()["location"], "/compliance/");
    let set = answer.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && !set.contains("Secure"));
    let kim = session(&answer);

    let header = client()
        .get(app.url("/compliance/"))
        .header("cookie", &kim)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        header.contains(r#"kim · <a href="/logout">sign out</a>"#),
        "the header shows who is signed in, and where to sign out"
    );
    let written = note_as(&app, &kim, "signed in locally").await;
    assert_eq!(written, StatusCode::SEE_OTHER);
    let events = honestcam::service::compliance::load_events(&f.storage(), &f.slug()).unwrap();
    assert_eq!(events.last().unwrap().actor, "kim");

    let lee = session(&sign_in(&app, "lee", "lee's long password").await);
    let read = page_as(&app, "/compliance/", &lee).await;
    assert_eq!(read, StatusCode::OK, "a viewer reads");
    let refused = note_as(&app, &lee, "as a viewer").await;
    assert_eq!(refused, StatusCode::FORBIDDEN, "but changes nothing");

    // Signing out ends the session: the old cookie is worth nothing.
    let out = client()
        .post(app.url("/logout"))
        .header("cookie", &kim)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = note_as(&app, &kim, "after signing out").await;
    assert_eq!(after, StatusCode::UNAUTHORIZED);

    // An expired session is no session.
    let kim = session(&sign_in(&app, "kim", "kim's long password").await);
    let db = rusqlite::Connection::open(f.dir().join("honestcam-study.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute(
        "UPDATE sessions SET expires_at = '2000-01-01T00:00:00Z' WHERE account = 'kim'",
        [],
    )
    .unwrap();
    let expired = page_as(&app, "/compliance/", &kim).await;
    assert_eq!(expired, StatusCode::SEE_OTHER, "back to the login page");

    // A new password ends every session of the account.
    let lee_again = page_as(&app, "/compliance/", &lee).await;
    assert_eq!(lee_again, StatusCode::OK);
    let out = f.run_stdin(&["user", "passwd", "lee"], "lee's new long password\n");
    assert!(out.status.success());
    let lee_after = page_as(&app, "/compliance/", &lee).await;
    assert_eq!(lee_after, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn repeated_wrong_passwords_hold_the_account() {
    let f = migrated();
    add_local(&f, "kim", "editor", "kim's long password");
    let app = f.spawn_app(&["--auth", "local"], &[]);
    for _ in 0..5 {
        let answer = sign_in(&app, "kim", "a wrong guess!").await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let held = sign_in(&app, "kim", "kim's long password").await;
    assert_eq!(
        held.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password"
    );
    assert!(held.headers().contains_key("retry-after"));
    assert!(
        held.text()
            .await
            .unwrap()
            .contains("Too many failed sign-ins")
    );
}

/// Signs in through the login form as a proxy on this host would pass it on, with the
/// client's address in `CF-Connecting-IP`; the status.
async fn sign_in_from(app: &App, client_ip: &str, name: &str, password: &str) -> StatusCode {
    client()
        .post(app.url("/login"))
        .header("cf-connecting-ip", client_ip)
        .form(&[("name", name), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap()
        .status()
}

/// Fails `PER_ADDRESS` (20) sign-ins from `client_ip`, each for another name (so no
/// account is held).
async fn fail_twenty_from(app: &App, client_ip: &str) {
    for i in 0..20 {
        let status = sign_in_from(app, client_ip, &format!("guess{i}"), "a wrong guess!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_failed_sign_ins_count_per_forwarded_address() {
    let f = migrated();
    add_local(&f, "kim", "editor", "kim's long password");
    let app = f.spawn_app(
        &[
            "--auth",
            "local",
            "--trusted-proxy-header",
            "CF-Connecting-IP",
        ],
        &[],
    );
    fail_twenty_from(&app, "203.0.113.7").await;
    let held = sign_in_from(&app, "203.0.113.7", "kim", "kim's long password").await;
    assert_eq!(held, StatusCode::TOO_MANY_REQUESTS, "that address is held");
    let other = sign_in_from(&app, "203.0.113.8", "kim", "kim's long password").await;
    assert_eq!(other, StatusCode::SEE_OTHER, "another client is not");
}

#[tokio::test]
async fn without_the_flag_a_forwarded_address_is_ignored() {
    let f = migrated();
    add_local(&f, "kim", "editor", "kim's long password");
    let app = f.spawn_app(&["--auth", "local"], &[]);
    fail_twenty_from(&app, "203.0.113.7").await;
    let held = sign_in_from(&app, "203.0.113.8", "kim", "kim's long password").await;
    assert_eq!(
        held,
        StatusCode::TOO_MANY_REQUESTS,
        "every request came from 127.0.0.1, whatever the header says"
    );
}

/// The cookie named `name` an answer sets (`name=value`).
fn set_cookie(answer: &reqwest::Response, name: &str) -> Option<String> {
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// Signs in through the login form with the cookies `cookie`, from the forwarded
/// address `client_ip`; the answer.
async fn sign_in_with(
    app: &App,
    cookie: &str,
    client_ip: &str,
    name: &str,
    password: &str,
) -> reqwest::Response {
    client()
        .post(app.url("/login"))
        .header("cookie", cookie)
        .header("cf-connecting-ip", client_ip)
        .form(&[("name", name), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_attackers_failures_from_other_addresses_do_not_keep_the_owner_out() {
    let f = migrated();
    add_local(&f, "kim", "editor", "kim's long password");
    add_local(&f, "lee", "viewer", "lee's long password");
    let app = f.spawn_app(
        &[
            "--auth",
            "local",
            "--trusted-proxy-header",
            "CF-Connecting-IP",
        ],
        &[],
    );
    // The owner signs in once: the browser gets a device cookie for the account.
    let first = sign_in_with(&app, "", "198.51.100.1", "kim", "kim's long password").await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let set = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("honestcam_device="))
        .expect("a device cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=15552000"] {
        assert!(
            set.split("; ").any(|a| a == attribute),
            "{attribute}: {set}"
        );
    }
    let device = set_cookie(&first, "honestcam_device").unwrap();
    let lee_device = set_cookie(
        &sign_in_with(&app, "", "198.51.100.2", "lee", "lee's long password").await,
        "honestcam_device",
    )
    .unwrap();

    // Guesses at kim's password from many addresses, and a flood from one address.
    for i in 0..12 {
        let answer =
            sign_in_with(&app, "", &format!("203.0.113.{i}"), "kim", "a wrong guess!").await;
        let expected = if i < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(answer.status(), expected, "guess {i}");
    }
    fail_twenty_from(&app, "198.51.100.1").await;

    // The owner's browser, from the very address that is held, still gets in.
    let owner = sign_in_with(&app, &device, "198.51.100.1", "kim", "kim's long password").await;
    assert_eq!(
        owner.status(),
        StatusCode::SEE_OTHER,
        "the owner is not kept out"
    );
    let session = set_cookie(&owner, "honestcam_session").unwrap();
    assert_eq!(
        page_as(&app, "/compliance/", &session).await,
        StatusCode::OK
    );
    let renewed = set_cookie(&owner, "honestcam_device").unwrap();
    assert_ne!(renewed, device, "a sign-in renews the device id");
    let replaced = sign_in_with(&app, &device, "198.51.100.9", "kim", "kim's long password").await;
    assert_eq!(
        replaced.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the old device id was replaced: that browser is now unknown"
    );

    // Anyone else waits, even with the right password: guessing stays slow.
    for (cookie, from) in [
        (String::new(), "198.51.100.7"),
        (lee_device.clone(), "198.51.100.7"),
        (
            "honestcam_device=".to_string() + &"0".repeat(64),
            "198.51.100.8",
        ),
    ] {
        let answer = sign_in_with(&app, &cookie, from, "kim", "kim's long password").await;
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS, "{cookie:?}");
    }
    // Lee's browser still signs in to lee from a fresh address.
    let lee = sign_in_with(
        &app,
        &lee_device,
        "198.51.100.3",
        "lee",
        "lee's long password",
    )
    .await;
    assert_eq!(lee.status(), StatusCode::SEE_OTHER);

    // A device that guesses is held on its own.
    for i in 0..5 {
        let answer = sign_in_with(&app, &renewed, "198.51.100.4", "kim", "a wrong guess!").await;
        assert_eq!(
            answer.status(),
            StatusCode::UNAUTHORIZED,
            "device guess {i}"
        );
    }
    let held = sign_in_with(&app, &renewed, "198.51.100.4", "kim", "kim's long password").await;
    assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// The portal in-process with local accounts, reached at `public` (or at its
/// listening address when `None`); the host browsers send.
fn local_in_process(f: &Fixture, public: Option<&str>) -> (axum::Router, &'static str) {
    use honestcam::web::auth::LocalAuth;
    use honestcam::web::{AppState, AuthMode, Site, router};
    let storage =
        honestcam::storage::Storage::open(f.data(), statekit::sqlite::OpenOptions::default())
            .unwrap();
    let site = Site::new(public, "127.0.0.1:8080".parse().unwrap()).unwrap();
    let app = router(AppState::new(
        storage,
        Some(f.slug()),
        site,
        AuthMode::Local(LocalAuth::new(std::time::Duration::from_secs(3600))),
        jiff::tz::TimeZone::UTC,
    ));
    let host = if public.is_some() {
        "portal.example.org"
    } else {
        "127.0.0.1:8080"
    };
    (app, host)
}

/// Signs in as kim in-process; the `Set-Cookie` of the answer.
async fn sign_in_in_process(app: &axum::Router, host: &str, origin: &str) -> String {
    use tower::ServiceExt as _;
    let request = axum::http::Request::post("/login")
        .header("host", host)
        .header("origin", origin)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(
            "name=kim&password=kim%27s+long+password&next=%2Fcompliance%2F",
        ))
        .unwrap();
    let r = app.clone().oneshot(request).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    r.headers()["set-cookie"].to_str().unwrap().to_string()
}

/// `GET /compliance/` in-process with `cookie`; the status.
async fn page_in_process(app: &axum::Router, host: &str, cookie: &str) -> StatusCode {
    use tower::ServiceExt as _;
    let request = axum::http::Request::get("/compliance/")
        .header("host", host)
        .header("cookie", cookie)
        .body(axum::body::Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn over_https_the_session_cookie_is_a_host_cookie() {
    let f = migrated();
    add_local(&f, "kim", "editor", "kim's long password");
    let (app, host) = local_in_process(&f, Some("https://portal.example.org"));
    let set = sign_in_in_process(&app, host, "https://portal.example.org").await;
    assert!(set.starts_with("__Host-honestcam_session="), "{set}");
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    assert!(attrs.contains(&"Secure"), "{set}");
    assert!(attrs.contains(&"Path=/"), "{set}");
    assert!(!set.to_lowercase().contains("domain"), "{set}");
    let cookie = attrs[0];
    assert_eq!(page_in_process(&app, host, cookie).await, StatusCode::OK);
    let (_, value) = cookie.split_once('=').unwrap();
    let plain = format!("honestcam_session={value}");
    assert_eq!(
        page_in_process(&app, host, &plain).await,
        StatusCode::SEE_OTHER,
        "over https only the __Host- cookie is read"
    );
}

#[tokio::test]
async fn over_http_the_session_cookie_keeps_its_name() {
    let f = migrated();
    add_local(&f, "kim", "editor", "kim's long password");
    let (app, host) = local_in_process(&f, None);
    let set = sign_in_in_process(&app, host, "http://127.0.0.1:8080").await;
    assert!(set.starts_with("honestcam_session="), "{set}");
    assert!(!set.contains("Secure"), "{set}");
    let cookie = set.split(';').next().unwrap();
    assert_eq!(page_in_process(&app, host, cookie).await, StatusCode::OK);
}
