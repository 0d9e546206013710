//! What every request passes: its host, where a write comes from, the headers every
//! response carries, and what the log never holds.

use reqwest::StatusCode;

use crate::support::{SLUG, client, event_rows, migrated};

/// A client that sends only what the test gives it (no `Sec-Fetch-Site`).
pub fn bare() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_foreign_host_name_is_refused() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let page = app.url("/compliance/");
    let evil = bare()
        .get(&page)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    assert!(evil.text().await.unwrap().contains("host name"));
    let port = app.base.rsplit(':').next().unwrap();
    let local = bare()
        .get(&page)
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        local.status(),
        StatusCode::OK,
        "localhost is the loopback address"
    );

    // Behind a tunnel: the public name is accepted too, and a session cookie is Secure.
    let behind = f.spawn_app(
        &[
            "--auth",
            "local",
            "--public-url",
            "https://portal.example.org",
        ],
        &[],
    );
    let public = bare()
        .get(behind.url("/compliance/"))
        .header("host", "portal.example.org")
        .bearer_auth(crate::auth::token(&f, "viewer"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::OK);
    crate::auth::add_local(&f, "kim", "editor", "kim's long password");
    let signed_in = bare()
        .post(behind.url("/login"))
        .header("host", "portal.example.org")
        .header("origin", "https://portal.example.org")
        .form(&[("name", "kim"), ("password", "kim's long password")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

#[tokio::test]
async fn a_write_from_another_site_is_refused_and_changes_nothing() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let url = app.url("/compliance/actions/ACT-002");
    let before = event_rows(&f);
    let forged: [&[(&str, &str)]; 4] = [
        &[("origin", "http://evil.example")],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
        &[],
    ];
    for headers in forged {
        let mut request = bare().post(&url).form(&[("status", "waived")]);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{headers:?}");
    }
    let api = bare()
        .post(app.url(&format!("/api/p/{SLUG}/actions/ACT-002/events")))
        .header("origin", "http://evil.example")
        .json(&serde_json::json!({"type": "note", "note": "x", "actor": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = api.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("own pages"),
        "{body}"
    );
    assert_eq!(event_rows(&f), before, "nothing changed");

    // The portal's own pages post with their own origin.
    let own = bare()
        .post(&url)
        .header("origin", app.base.as_str())
        .form(&[("status", "waived")])
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::SEE_OTHER);
    assert_eq!(event_rows(&f), before + 1);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let refused = bare().get(app.url("/")).header("host", "evil.example");
    for (what, request) in [
        ("page", client().get(app.url("/compliance/"))),
        ("study", client().get(app.url("/study/"))),
        (
            "api",
            client().get(app.url(&format!("/api/p/{SLUG}/actions"))),
        ),
        ("not found", client().get(app.url("/nowhere"))),
        ("refused", refused),
    ] {
        let answer = request.send().await.unwrap();
        let h = answer.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{what}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(h["referrer-policy"], "same-origin", "{what}");
        assert_eq!(h["x-frame-options"], "DENY", "{what}");
        assert_eq!(h["cache-control"], "no-store", "{what}");
    }
    let css = client()
        .get(app.url("/assets/portal.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let page = client().get(app.url("/compliance/")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script") && !html.contains("<style"),
        "no inline code"
    );
}

#[tokio::test]
async fn the_study_pages_set_no_cookie_the_caller_is_the_study_identity() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let answer = client()
        .post(app.url("/study/name"))
        .form(&[("name", "Kim")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert!(answer.headers().get("set-cookie").is_none());
    // A cookie naming another study user changes nothing: the caller is who studies.
    let page = client()
        .get(app.url("/study/"))
        .header("cookie", "honestcam_study_user=u1")
        .send()
        .await
        .unwrap();
    assert!(page.headers().get("set-cookie").is_none());
    let page = page.text().await.unwrap();
    assert!(page.contains(">Kim</strong>"), "{page}");
    assert!(!page.contains("Dana Ortiz"), "u1 is Dana Ortiz");
}

#[tokio::test]
async fn the_log_never_holds_a_secret() {
    let f = migrated();
    let log = f.tmp.path().join("serve.log");
    let app = f.spawn_app_logging(&[], &[], Some(&log));
    let token = crate::auth::token(&f, "admin");
    let secrets = [&token[3..], "access-jwt-5d1b", "cookie-7e2c", "query-8e3a"];
    client()
        .get(app.url("/study/admin?key=query-8e3a"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    client()
        .get(app.url(&format!("/api/p/{SLUG}/actions?token=query-8e3a")))
        .header("authorization", "Bearer hc_wrong")
        .header("cf-access-jwt-assertion", "access-jwt-5d1b")
        .header("cookie", "honestcam_session=cookie-7e2c")
        .send()
        .await
        .unwrap();
    assert!(app.stop(), "stops cleanly");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("/study/admin"), "requests are logged: {text}");
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
}
