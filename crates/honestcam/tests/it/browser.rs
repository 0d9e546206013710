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

use honestcam::ops::demo::{DemoOptions, write_demo};

use crate::support::{SLUG, migrated};

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

/// Chromium and chromedriver, or `None` (said loudly) when they are not installed
/// and HONESTCAM_REQUIRE_BROWSER is not 1.
fn browser() -> Option<(PathBuf, PathBuf)> {
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
        return None;
    };
    Some((chromium, driver))
}

/// A headless Chromium session through `driver` with its own profile in `profile`;
/// `phone` emulates a 390 px wide phone screen, else the window is 1280 x 900.
async fn session(
    driver: &Driver,
    chromium: &Path,
    profile: &Path,
    phone: bool,
) -> fantoccini::Client {
    let mut options = json!({
        "binary": chromium,
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", "--window-size=1280,900",
            format!("--user-data-dir={}", profile.display()),
        ]
    });
    if phone {
        options["mobileEmulation"] =
            json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1, "touch": true}});
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    // chromedriver speaks plain HTTP on loopback: no TLS stack involved.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap()
}

#[tokio::test]
async fn change_a_status_and_answer_a_quiz_question_in_chromium() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let driver = start_driver(&driver);
    let profile = tempfile::tempdir().unwrap();
    let c = session(&driver, &chromium, profile.path(), false).await;

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

/// Where screenshots go: `HONESTCAM_SCREENSHOTS` if set, else the temp dir's
/// `honestcam-screenshots` (replaced by each run, kept after it; the paths are printed).
fn screenshot_dir() -> PathBuf {
    let dir = match std::env::var_os("HONESTCAM_SCREENSHOTS") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join("honestcam-screenshots"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves what `c` shows as `{name}.png` and prints its path.
async fn screenshot(c: &fantoccini::Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, &png).unwrap();
    println!(
        "screenshot {name}: {} ({} KB)",
        path.display(),
        png.len() / 1024
    );
}

/// Asserts that the page is no wider than the screen (nothing cut off to the right).
async fn fits_the_screen(c: &fantoccini::Client, what: &str) {
    let widths = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (page, screen) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(
        page <= screen,
        "{what}: {page} px wide on a {screen} px screen"
    );
}

/// The texts of the elements `css` finds, in page order.
async fn texts(c: &fantoccini::Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out
}

#[tokio::test]
async fn from_the_home_page_to_an_actions_history_on_a_desktop_and_a_phone() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    // Two properties dated around today (UTC, as the portal is told), so the pages show
    // what a manager would see today: a few overdue, some due soon, most later or done.
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let f = crate::support::Fixture::with(DemoOptions::dated(today));
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let harbor = honestcam::property::Slug::parse("harbor-point").unwrap();
    let opts = DemoOptions {
        actions: 14,
        events: 80,
        ..DemoOptions::dated(today)
    };
    write_demo(&f.data().property(&harbor), "Harbor Point", &opts).unwrap();
    f.plan(&["db-migrate", "harbor-point", "--execute"]);
    let app = f.spawn_app(&["--timezone", "UTC"], &[]);
    let driver = start_driver(&driver);
    let profile = tempfile::tempdir().unwrap();
    let c = session(&driver, &chromium, profile.path(), false).await;

    // The home page lists both; one click to Bamboo House.
    c.goto(&app.url("/")).await.unwrap();
    let listed = texts(&c, "section.property h3").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    c.find(Locator::Css("#property-bamboo-house h3 a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let summary = c
        .wait()
        .for_element(Locator::Css("#summary"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        summary.starts_with("8 actions") && summary.contains("2 overdue"),
        "{summary}"
    );
    screenshot(&c, "portal-desktop").await;

    // Search: only the action whose note mentions the vendor.
    let search = c.find(Locator::Css("input[name=q]")).await.unwrap();
    search.send_keys("vendor").await.unwrap();
    c.find(Locator::Css("form.search button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("input[name=q][value=vendor]"))
        .await
        .unwrap();
    let cards = c.find_all(Locator::Css("section.card")).await.unwrap();
    let mut ids = Vec::new();
    for card in cards {
        ids.push(card.attr("id").await.unwrap().unwrap_or_default());
    }
    assert_eq!(ids, ["action-ACT-001"]);

    // Edit four fields in one submit.
    let storage = f.storage();
    let events_of = |action: &str| {
        honestcam::service::compliance::load_events(&storage, &f.slug())
            .unwrap()
            .into_iter()
            .filter(|e| e.action_id == action)
            .count()
    };
    let before = events_of("ACT-001");
    let card = c.find(Locator::Css("#action-ACT-001")).await.unwrap();
    let old_due = card
        .find(Locator::Css("input[name=due]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let new_due = today.saturating_add(jiff::Span::new().days(30)).to_string();
    card.find(Locator::Css("select[name=status]"))
        .await
        .unwrap()
        .select_by_value("in_progress")
        .await
        .unwrap();
    let assignee = card
        .find(Locator::Css("input[name=assignee]"))
        .await
        .unwrap();
    assignee.clear().await.unwrap();
    assignee.send_keys("Robin").await.unwrap();
    // A date input's typing depends on the browser's locale; set its value instead.
    let due = card.find(Locator::Css("input[name=due]")).await.unwrap();
    c.execute(
        "arguments[0].value = arguments[1];",
        vec![serde_json::to_value(&due).unwrap(), json!(new_due)],
    )
    .await
    .unwrap();
    submit_status_form(&card, "Booked for the first week").await;
    c.wait()
        .for_element(Locator::XPath(
            "//section[@id='action-ACT-001']//div[contains(., 'assigned to Robin')]",
        ))
        .await
        .unwrap();
    assert!(
        c.current_url().await.unwrap().as_str().contains("q=vendor"),
        "back to the same search"
    );
    assert_eq!(
        events_of("ACT-001"),
        before + 4,
        "one event per changed field"
    );

    // The action's page tells its history, newest first.
    c.find(Locator::Css("#action-ACT-001 h3 a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#history"))
        .await
        .unwrap();
    let history = texts(&c, "ol.history li .what").await;
    assert_eq!(
        history,
        [
            "local added a note: Booked for the first week".to_string(),
            format!("local changed the due date from {old_due} to {new_due}"),
            "local changed the assignee from Lee to Robin".into(),
            "local set status to In progress (was Open)".into(),
            "lee added a note: Called the vendor, visit booked".into(),
            "sam assigned it to Lee".into(),
        ]
    );
    c.close().await.unwrap();

    // On a phone: the pages fit the screen, the admin table included.
    let phone_profile = tempfile::tempdir().unwrap();
    let p = session(&driver, &chromium, phone_profile.path(), true).await;
    p.goto(&app.url("/p/bamboo-house/compliance/"))
        .await
        .unwrap();
    p.wait()
        .for_element(Locator::Css("#summary"))
        .await
        .unwrap();
    let width = p
        .execute("return window.innerWidth;", vec![])
        .await
        .unwrap();
    assert_eq!(width, json!(390), "a phone's width");
    fits_the_screen(&p, "a property's page").await;
    screenshot(&p, "portal-phone").await;
    for (path, what) in [
        ("/", "the home page"),
        (
            "/p/bamboo-house/compliance/actions/ACT-001",
            "an action's page",
        ),
        ("/p/bamboo-house/study/", "the study page"),
        ("/p/bamboo-house/study/admin", "the study admin page"),
    ] {
        p.goto(&app.url(path)).await.unwrap();
        p.wait().for_element(Locator::Css("main")).await.unwrap();
        fits_the_screen(&p, what).await;
    }
    let labels = p
        .execute(
            "return Array.from(document.querySelectorAll('#study-admin td')).map(td => getComputedStyle(td, '::before').content);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        labels.as_array().unwrap()[..2],
        [json!("\"User\""), json!("\"Belongs to\"")],
        "each cell labelled by its column"
    );
    screenshot(&p, "study-admin-phone").await;
    p.close().await.unwrap();
}
