//! The real pages in headless Chromium, driven through chromedriver (WebDriver).
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test says loudly
//! that it was skipped, unless HONESTCAM_REQUIRE_BROWSER=1 (set by `.ci/run`), under
//! which a missing browser fails the test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::support::migrated;

const CHROMIUM: &[&str] = &[
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];
const CHROMEDRIVER: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

fn first_existing(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.is_file())
}

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver(driver: &Path) -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait (bounded) until chromedriver accepts connections.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

#[tokio::test]
async fn change_a_status_and_answer_a_quiz_question_in_chromium() {
    let required = std::env::var("HONESTCAM_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let (Some(chromium), Some(driver)) = (first_existing(CHROMIUM), first_existing(CHROMEDRIVER))
    else {
        assert!(
            !required,
            "HONESTCAM_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed"
        );
        eprintln!(
            "\n!!!! SKIPPED browser test: chromium and chromium-driver are not installed !!!!\n"
        );
        return;
    };
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let driver = start_driver(&driver);
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    // chromedriver speaks plain HTTP on loopback: no TLS stack involved.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let c = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap();

    // Compliance: change ACT-006's status through its form and see it.
    c.goto(&app.url("/compliance/")).await.unwrap();
    let card = c.find(Locator::Css("#action-ACT-006")).await.unwrap();
    let select = card
        .find(Locator::Css("select[name=status]"))
        .await
        .unwrap();
    select.select_by_value("done").await.unwrap();
    submit_status_form(&card, "done in the browser").await;
    // After the 303 back to the page: wait for the card whose note shows the change.
    c.wait()
        .for_element(Locator::XPath(
            "//section[@id='action-ACT-006']//li[contains(., 'done in the browser')]",
        ))
        .await
        .unwrap();
    let status = c
        .find(Locator::Css("#action-ACT-006 .status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status, "Done", "the status's label");
    let card_text = c
        .find(Locator::Css("#action-ACT-006"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(card_text.contains("done in the browser"), "{card_text}");

    // Study: change the name (it starts as the caller's), answer the first question,
    // see the score.
    c.goto(&app.url("/study/")).await.unwrap();
    let name = c.find(Locator::Css("input[name=name]")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("Browser Tester").await.unwrap();
    c.find(Locator::Css("input[name=name] + button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The page before the rename has the same form and question, so wait for the
    // new name before answering.
    let mut renamed = false;
    for _ in 0..100 {
        if let Ok(e) = c.find(Locator::Css("#study-user")).await
            && e.text().await.is_ok_and(|t| t == "Browser Tester")
        {
            renamed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(renamed, "page was:\n{}", c.source().await.unwrap());
    let first = &honestcam::domain::questions::QUESTIONS[0];
    let radio = format!("input[name=choice][value='{}']", first.answer);
    c.wait()
        .for_element(Locator::Css(&radio))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css(".choices + button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // #feedback exists only on the page after an answer (the page before it already
    // has a #score), so waiting for it cannot catch the old page mid-navigation.
    let feedback = match c.wait().for_element(Locator::Css("#feedback")).await {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => panic!(
            "no feedback ({e}); page was:\n{}",
            c.source().await.unwrap()
        ),
    };
    assert!(feedback.contains("Right!"), "{feedback}");
    let score = c
        .find(Locator::Css("#score"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(score, "Score: 1 of 1 right (100%)");
    let shown = c
        .find(Locator::Css("#study-user"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(shown, "Browser Tester", "the caller's user, renamed");

    // A page on another origin whose form posts to the portal: refused, nothing changes.
    let before = crate::support::event_rows(&f);
    let target = app.url("/compliance/actions/ACT-002");
    let evil = serve_html(format!(
        "<!doctype html><form method=post action='{target}'>\
         <input type=hidden name=status value=waived><button id=go>win a prize</button></form>"
    ))
    .await;
    c.goto(&evil).await.unwrap();
    c.find(Locator::Css("#go"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let refusal = c
        .wait()
        .for_element(Locator::Css("#error-message"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        refusal.contains("did not come from the portal"),
        "{refusal}"
    );
    assert_eq!(crate::support::event_rows(&f), before, "nothing changed");

    // With local accounts: the portal sends to the login form, and after signing in
    // the forms work as before, recorded under the account's name.
    crate::auth::add_local(&f, "kim", "editor", "kim's long password");
    let local = f.spawn_app(&["--auth", "local"], &[]);
    c.goto(&local.url("/compliance/")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys("kim")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("kim's long password")
        .await
        .unwrap();
    c.find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let card = c
        .wait()
        .for_element(Locator::Css("#action-ACT-005"))
        .await
        .unwrap();
    submit_status_form(&card, "after signing in").await;
    c.wait()
        .for_element(Locator::XPath(
            "//section[@id='action-ACT-005']//span[contains(., 'last changed by kim')]",
        ))
        .await
        .unwrap();
    c.close().await.unwrap();
}

/// Types `note` into an action card's edit form and submits it.
async fn submit_status_form(card: &fantoccini::elements::Element, note: &str) {
    card.find(Locator::Css("input[name=note]"))
        .await
        .unwrap()
        .send_keys(note)
        .await
        .unwrap();
    card.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Serves `html` at `/` on a loopback port of its own (another origin than the
/// portal's); returns its URL.
async fn serve_html(html: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(html) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
