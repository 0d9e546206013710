//! Study identity against the real server: each identity has its own study user,
//! nobody reads or writes another's progress but an admin, who only reads, and users
//! from before identities are read-only. Callers are API tokens (`token:{name}`),
//! which act on pages as well as on the API.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::auth::{named_token, token};
use crate::support::{App, Fixture, SLUG, client, migrated};

fn api(app: &App, path: &str) -> String {
    app.url(&format!("/api/p/{SLUG}/study{path}"))
}

/// `POST /study/users` as `secret`: status and the user.
async fn own_user(app: &App, secret: &str) -> (StatusCode, Value) {
    let r = client()
        .post(api(app, "/users"))
        .bearer_auth(secret)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json::<Value>().await.unwrap()["user"].clone())
}

async fn get_progress(app: &App, secret: &str, user: &str) -> (StatusCode, Value) {
    let r = client()
        .get(api(app, &format!("/progress/{user}")))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

async fn put_progress(app: &App, secret: &str, user: &str, blob: Value) -> StatusCode {
    client()
        .put(api(app, &format!("/progress/{user}")))
        .bearer_auth(secret)
        .json(&blob)
        .send()
        .await
        .unwrap()
        .status()
}

async fn post_answer(app: &App, secret: &str, body: Value) -> StatusCode {
    client()
        .post(api(app, "/answers"))
        .bearer_auth(secret)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

async fn page(app: &App, secret: &str) -> String {
    let r = client()
        .get(app.url("/study/"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn post_page(app: &App, secret: &str, path: &str, form: &[(&str, &str)]) -> StatusCode {
    client()
        .post(app.url(path))
        .bearer_auth(secret)
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn two_editors_each_have_their_own_progress_and_an_admin_only_reads_it() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let (a_name, a) = named_token(&f, "editor");
    let (b_name, b) = named_token(&f, "editor");
    let admin = token(&f, "admin");

    let (status, a_user) = own_user(&app, &a).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (&a_user["owner"], &a_user["name"]),
        (&json!(a_name), &json!(a_name))
    );
    let (status, b_user) = own_user(&app, &b).await;
    assert_eq!(status, StatusCode::CREATED);
    let (a_id, b_id) = (
        a_user["user_id"].as_str().unwrap().to_string(),
        b_user["user_id"].as_str().unwrap().to_string(),
    );
    assert_ne!(a_id, b_id);
    assert_eq!(own_user(&app, &a).await, (StatusCode::OK, a_user.clone()));
    let listed: Value = client()
        .get(api(&app, "/users"))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["users"],
        json!([a_user]),
        "an editor lists only theirs"
    );

    // The owner writes and reads.
    assert_eq!(
        put_progress(&app, &b, &b_id, json!({"b": "mine"})).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get_progress(&app, &b, &b_id).await,
        (StatusCode::OK, json!({"b": "mine"}))
    );
    // Another editor does neither, and cannot answer as B.
    let (status, body) = get_progress(&app, &a, &b_id).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"].as_str().unwrap().contains(&a_name), "{body}");
    assert_eq!(
        put_progress(&app, &a, &b_id, json!({"b": "overwritten"})).await,
        StatusCode::FORBIDDEN
    );
    let q = &honestcam::domain::questions::QUESTIONS[0];
    let as_b = json!({"user_id": b_id, "question": q.id, "choice": q.answer});
    assert_eq!(
        post_answer(&app, &a, as_b.clone()).await,
        StatusCode::FORBIDDEN
    );
    // An admin reads B's progress but does not write it.
    assert_eq!(
        get_progress(&app, &admin, &b_id).await,
        (StatusCode::OK, json!({"b": "mine"}))
    );
    assert_eq!(
        put_progress(&app, &admin, &b_id, json!({})).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_answer(&app, &admin, as_b.clone()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get_progress(&app, &b, &b_id).await.1,
        json!({"b": "mine"}),
        "nothing refused changed it"
    );
    // B answers as B, with or without naming the user.
    assert_eq!(post_answer(&app, &b, as_b).await, StatusCode::OK);
    let q2 = &honestcam::domain::questions::QUESTIONS[1];
    let own = json!({"question": q2.id, "choice": q2.answer});
    assert_eq!(post_answer(&app, &b, own).await, StatusCode::OK);
    let blob = get_progress(&app, &b, &b_id).await.1;
    assert_eq!(
        blob["quiz"]["answers"].as_object().unwrap().len(),
        2,
        "{blob}"
    );

    // An id nobody has: 403 to an editor (as for B's), 404 only to an admin.
    assert_eq!(
        get_progress(&app, &a, "nobody").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put_progress(&app, &a, "nobody", json!({})).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get_progress(&app, &admin, "nobody").await.0,
        StatusCode::NOT_FOUND
    );
    // The owner is told when they have saved nothing yet.
    assert_eq!(get_progress(&app, &a, &a_id).await.0, StatusCode::NOT_FOUND);

    // Pages: each caller sees and renames only their own user, answers as it.
    assert_eq!(
        post_page(&app, &a, "/study/name", &[("name", "Alice")]).await,
        StatusCode::SEE_OTHER
    );
    assert!(page(&app, &a).await.contains(">Alice</strong>"));
    let bs_page = page(&app, &b).await;
    assert!(
        bs_page.contains(&format!(">{b_name}</strong>")) && !bs_page.contains("Alice"),
        "B still studies as B"
    );
    assert_eq!(
        post_page(
            &app,
            &a,
            "/study/answer",
            &[("question", q.id), ("choice", &q.answer.to_string())]
        )
        .await,
        StatusCode::SEE_OTHER
    );
    let blob = get_progress(&app, &a, &a_id).await.1;
    assert_eq!(blob["quiz"]["answers"][q.id]["correct"], true, "{blob}");
    let (_, a_user) = own_user(&app, &a).await;
    assert_eq!(
        (a_user["user_id"].as_str(), &a_user["name"]),
        (Some(a_id.as_str()), &json!("Alice"))
    );

    // An admin lists everyone, the legacy users too.
    let all: Value = client()
        .get(api(&app, "/users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let owners: Vec<_> = all["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["owner"].clone())
        .collect();
    assert_eq!(owners.len(), 5, "three legacy users, A and B: {all}");
    assert_eq!(owners.iter().filter(|o| o.is_null()).count(), 3);
}

#[tokio::test]
async fn users_from_before_identities_are_read_by_admins_and_written_by_nobody() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let editor = token(&f, "editor");
    let admin = token(&f, "admin");
    let legacy = honestcam::service::study::users(&f.storage(), &f.slug()).unwrap();
    assert!(legacy.iter().all(|u| u.owner.is_none()) && !legacy.is_empty());
    let id = legacy[0].user_id.to_string();
    let (status, before) = get_progress(&app, &admin, &id).await;
    assert_eq!(status, StatusCode::OK, "an admin reads: {before}");
    assert_eq!(
        get_progress(&app, &editor, &id).await.0,
        StatusCode::FORBIDDEN
    );
    let q = &honestcam::domain::questions::QUESTIONS[20];
    for secret in [&editor, &admin] {
        assert_eq!(
            put_progress(&app, secret, &id, json!({})).await,
            StatusCode::FORBIDDEN
        );
        let answer = json!({"user_id": id, "question": q.id, "choice": 0});
        assert_eq!(
            post_answer(&app, secret, answer).await,
            StatusCode::FORBIDDEN
        );
    }
    // Nor the local admin (no token: `--auth none`).
    let r = client()
        .put(api(&app, &format!("/progress/{id}")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(get_progress(&app, &admin, &id).await.1, before, "unchanged");
    let listed: Value = client()
        .get(api(&app, "/users"))
        .bearer_auth(&editor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["users"], json!([]), "an editor sees no legacy user");
}

#[tokio::test]
async fn a_viewer_reads_the_quiz_but_has_no_study_user() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let viewer = token(&f, "viewer");
    let html = page(&app, &viewer).await;
    assert!(html.contains(honestcam::domain::questions::QUESTIONS[0].prompt));
    assert!(!html.contains("/study/answer") && !html.contains("/study/name"));
    assert_eq!(own_user(&app, &viewer).await.0, StatusCode::FORBIDDEN);
    let listed: Value = client()
        .get(api(&app, "/users"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["users"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_visits_at_once_by_one_identity_make_one_user() {
    for migrate in [true, false] {
        let f = if migrate { migrated() } else { Fixture::new() };
        let app = f.spawn_app(&[], &[]);
        let (identity, secret) = named_token(&f, "editor");
        let posts: Vec<_> = (0..8)
            .map(|_| {
                let (c, url, secret) = (client(), api(&app, "/users"), secret.clone());
                tokio::spawn(async move {
                    let r = c
                        .post(url)
                        .bearer_auth(secret)
                        .json(&json!({}))
                        .send()
                        .await
                        .unwrap();
                    (r.status(), r.json::<Value>().await.unwrap())
                })
            })
            .collect();
        let mut answers = Vec::new();
        for p in posts {
            answers.push(p.await.unwrap());
        }
        let created = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count();
        assert_eq!(created, 1, "migrated: {migrate}: {answers:?}");
        assert!(
            answers
                .iter()
                .all(|(s, b)| s.is_success() && b["user"] == answers[0].1["user"]),
            "{answers:?}"
        );

        // The same through the pages: a fresh identity's first answers, at once.
        let (other, other_secret) = named_token(&f, "editor");
        let questions: Vec<_> = honestcam::domain::questions::QUESTIONS
            .iter()
            .take(8)
            .collect();
        let forms: Vec<_> = questions
            .iter()
            .map(|q| {
                let (c, url, secret) = (client(), app.url("/study/answer"), other_secret.clone());
                let form = [("question", q.id.to_string()), ("choice", "0".to_string())];
                tokio::spawn(async move {
                    c.post(url)
                        .bearer_auth(secret)
                        .form(&form)
                        .send()
                        .await
                        .unwrap()
                        .status()
                })
            })
            .collect();
        for form in forms {
            assert_eq!(form.await.unwrap(), StatusCode::SEE_OTHER);
        }

        let users = honestcam::service::study::users(&f.storage(), &f.slug()).unwrap();
        for owner in [&identity, &other] {
            let theirs: Vec<_> = users
                .iter()
                .filter(|u| u.owner.as_deref() == Some(owner.as_str()))
                .collect();
            assert_eq!(theirs.len(), 1, "migrated: {migrate}: {owner}: {users:?}");
        }
        let (_, user) = own_user(&app, &other_secret).await;
        let blob = get_progress(&app, &other_secret, user["user_id"].as_str().unwrap())
            .await
            .1;
        assert_eq!(
            blob["quiz"]["answers"].as_object().unwrap().len(),
            questions.len(),
            "every answer landed on the one user: {blob}"
        );
    }
}

/// `GET path` with the session cookie `cookie`: the page.
async fn page_as(app: &App, path: &str, cookie: &str) -> String {
    let r = client()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn switch_user_signs_out_and_back_in_as_someone_else() {
    use crate::auth::{add_local, session, sign_in};
    let f = migrated();
    add_local(&f, "kim", "editor", "kim's long password");
    add_local(&f, "lee", "editor", "lee's long password");
    let app = f.spawn_app(&["--auth", "local"], &[]);
    let kim = session(&sign_in(&app, "kim", "kim's long password").await);
    let study = format!("/p/{SLUG}/study/");
    let page = page_as(&app, &study, &kim).await;
    assert!(page.contains("Studying as <strong id=\"study-user\">kim</strong>"));
    assert!(
        page.contains(&format!(
            "<form class=\"inline switch-user\" method=\"post\" action=\"/logout\">\n    <input type=\"hidden\" name=\"next\" value=\"{study}\">"
        )),
        "{page}"
    );
    assert!(page.contains("id=\"switch-user\">Switch user</button>"));

    // The form as the browser posts it: kim is signed out, and the login form will
    // lead back to the study page.
    let out = client()
        .post(app.url("/logout"))
        .header("cookie", &kim)
        .form(&[("next", study.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let login = out.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(login, format!("/login?next=%2Fp%2F{SLUG}%2Fstudy%2F"));
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let form = client().get(app.url(&login)).send().await.unwrap();
    assert!(
        form.text()
            .await
            .unwrap()
            .contains(&format!("name=\"next\" value=\"{study}\"")),
        "the login form keeps where to go"
    );
    let stale = client()
        .get(app.url(&study))
        .header("cookie", &kim)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stale.status(),
        StatusCode::SEE_OTHER,
        "kim's session is over"
    );

    // Lee signs in and studies as lee, with lee's own progress.
    let answer = client()
        .post(app.url("/login"))
        .form(&[
            ("name", "lee"),
            ("password", "lee's long password"),
            ("next", study.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()["location"], study.as_str());
    let lee = session(&answer);
    let page = page_as(&app, &study, &lee).await;
    assert!(page.contains("Studying as <strong id=\"study-user\">lee</strong>"));
    assert!(page.contains("Not lee?"));

    // A `next` to another site is not followed; signing out without one goes to the
    // login form as before.
    let out = client()
        .post(app.url("/logout"))
        .header("cookie", &lee)
        .form(&[("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(out.headers()["location"], "/login?next=%2F");
    let out = client().post(app.url("/logout")).send().await.unwrap();
    assert_eq!(out.headers()["location"], "/login");
}

#[tokio::test]
async fn without_sign_in_the_study_page_says_there_is_nobody_to_switch_to() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let page = client()
        .get(app.url("/study/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"switch-user-none\""), "{page}");
    assert!(!page.contains("action=\"/logout\""));
}
