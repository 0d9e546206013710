//! Running it for years: restore drills recorded where `doctor`, `/metrics` and the
//! admins' home page read them.

use crate::auth::token;
use crate::support::{App, Fixture, client, migrated};

/// Takes a snapshot into `{tmp}/backups` and drills it; returns the folder.
pub fn drilled(f: &Fixture) -> String {
    let backups = f.tmp.path().join("backups");
    let arg = backups.to_string_lossy().into_owned();
    f.ok(&["backup", "--to", &arg]);
    f.ok(&["backup-verify", "--from", &arg]);
    arg
}

/// The home page as the holder of `secret` sees it.
async fn home_as(app: &App, secret: &str) -> String {
    let answer = client()
        .get(app.url("/"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.text().await.unwrap()
}

#[tokio::test]
async fn the_last_drill_shows_in_the_admins_footer_only() {
    let f = migrated();
    let (admin, viewer) = (token(&f, "admin"), token(&f, "viewer"));
    let app = f.spawn_app(&["--auth", "local"], &[]);
    let page = home_as(&app, &admin).await;
    assert!(page.contains("No restore drill recorded"), "{page}");

    let backups = drilled(&f);
    let page = home_as(&app, &admin).await;
    let footer = &page[page.find("id=\"restore-drill\"").unwrap()..];
    assert!(footer.contains("passed"), "{footer}");
    assert!(footer.contains(&backups), "{footer}");
    let page = home_as(&app, &viewer).await;
    assert!(!page.contains("restore-drill"), "{page}");
    assert!(!page.contains(&backups), "{page}");

    // A drill that fails is recorded too, with why.
    let gone = f.tmp.path().join("no-such-backup");
    let out = f.run(&["backup-verify", "--from", gone.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let page = home_as(&app, &admin).await;
    let footer = &page[page.find("id=\"restore-drill\"").unwrap()..];
    assert!(footer.contains("FAILED"), "{footer}");
    assert!(footer.contains("no-such-backup"), "{footer}");
}

/// `promtool`, or `None` (said loudly) when it is missing and not required.
fn promtool() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    let required = std::env::var("HONESTCAM_REQUIRE_PROMTOOL").is_ok_and(|v| v == "1");
    match found {
        Some(p) => Some(p),
        None if required => panic!("HONESTCAM_REQUIRE_PROMTOOL=1 but promtool is not installed"),
        None => {
            eprintln!(
                "\n!!!! SKIPPED promtool check: promtool not found; install Debian's prometheus package !!!!\n"
            );
            None
        }
    }
}

/// Asserts that `promtool check metrics` accepts `text` (lint included).
fn assert_promtool_accepts(text: &str) {
    use std::io::Write;
    let Some(promtool) = promtool() else { return };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused the output:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the sample `name` whose labels include every one of `labels`; `None`
/// when there is no such sample.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|line| {
            let (series, _) = line.rsplit_once(' ').unwrap();
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|line| line.rsplit_once(' ').unwrap().1.parse().unwrap())
}

/// `GET /metrics` from this machine: its body, after checking the status and type.
async fn scrape(app: &App) -> String {
    let answer = client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let kind = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    answer.text().await.unwrap()
}

#[tokio::test]
async fn metrics_pass_promtool_and_move_with_requests_and_writes() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let before = scrape(&app).await;
    assert_promtool_accepts(&before);
    assert_eq!(
        sample(&before, "honestcam_properties", &[("backend", "sqlite")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&before, "honestcam_properties", &[("backend", "json")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&before, "honestcam_restore_drills_recorded", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&before, "honestcam_restore_drill_last_ok", &[]),
        None
    );

    let home = client().get(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let page = client()
        .get(app.url("/p/bamboo-house/compliance/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let missing = client()
        .get(app.url("/no/such/page/42"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // A note through the edit form: one event appended, durably.
    let edit = client()
        .post(app.url("/compliance/actions/ACT-004"))
        .form(&[("note", "metrics move")])
        .send()
        .await
        .unwrap();
    assert!(edit.status().is_redirection(), "{}", edit.status());

    let after = scrape(&app).await;
    assert_promtool_accepts(&after);
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels).unwrap_or(0.0) - sample(&before, name, labels).unwrap_or(0.0)
    };
    let requests = "honestcam_http_requests_total";
    let get_ok = |route| [("route", route), ("method", "GET"), ("status", "200")];
    assert_eq!(moved(requests, &get_ok("/")), 1.0, "{after}");
    assert_eq!(moved(requests, &get_ok("/p/{slug}/compliance/")), 1.0);
    assert_eq!(moved(requests, &get_ok("/metrics")), 1.0);
    assert_eq!(
        moved(requests, &[("route", "unmatched"), ("status", "404")]),
        1.0,
        "an unknown path is counted as unmatched, never by its text"
    );
    assert!(!after.contains("/no/such/page"));
    assert_eq!(
        moved(
            requests,
            &[
                ("route", "/compliance/actions/{id}"),
                ("method", "POST"),
                ("status", "303")
            ]
        ),
        1.0,
        "{after}"
    );
    assert_eq!(moved("honestcam_events_appended_total", &[]), 1.0);
    assert_eq!(
        moved(
            "honestcam_durable_write_seconds_count",
            &[("backend", "sqlite")]
        ),
        1.0
    );
    assert!(moved("honestcam_group_commit_batch_units_count", &[]) >= 1.0);
    assert!(
        moved(
            "honestcam_lock_wait_seconds_count",
            &[("lock", "property_shared")]
        ) >= 3.0,
        "the pages and the write each held the property"
    );
    assert!(
        moved(
            "honestcam_http_request_duration_seconds_count",
            &[("route", "/")]
        ) == 1.0
    );
    assert!(sample(&after, "honestcam_open_databases", &[]).unwrap() >= 1.0);

    // A drill recorded shows at the next scrape.
    drilled(&f);
    let drilled = scrape(&app).await;
    assert_promtool_accepts(&drilled);
    assert_eq!(
        sample(&drilled, "honestcam_restore_drills_recorded", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&drilled, "honestcam_restore_drill_last_ok", &[]),
        Some(1.0)
    );
    let age = sample(&drilled, "honestcam_restore_drill_last_age_seconds", &[]).unwrap();
    assert!((0.0..600.0).contains(&age), "{age}");
}

/// Writes `token` to a file only its owner reads; returns its path.
fn token_file(f: &Fixture, token: &str, mode: u32) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = f.tmp.path().join(format!("metrics-token-{mode:o}"));
    std::fs::write(&path, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_string_lossy().into_owned()
}

/// `GET /metrics` with extra headers; the status.
async fn metrics_status(app: &App, headers: &[(&str, &str)]) -> u16 {
    let mut request = client().get(app.url("/metrics"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn metrics_from_elsewhere_need_the_token() {
    let f = migrated();
    let secret = "c0ffee-metrics-token-0123456789";
    let file = token_file(&f, secret, 0o600);
    let app = f.spawn_app(
        &[
            "--auth",
            "local",
            "--public-url",
            "https://portal.example.org",
            "--metrics-token-file",
            &file,
        ],
        &[],
    );
    // On this machine, straight to the portal: no authentication asked.
    assert_eq!(metrics_status(&app, &[]).await, 200);
    // Through the tunnel: the public name, cloudflared's headers, a loopback peer.
    let tunnel = [
        ("host", "portal.example.org"),
        ("cf-connecting-ip", "203.0.113.7"),
        ("x-forwarded-for", "203.0.113.7"),
    ];
    assert_eq!(metrics_status(&app, &tunnel).await, 404);
    assert_eq!(
        metrics_status(&app, &[("cf-connecting-ip", "203.0.113.7")]).await,
        404
    );
    let wrong = "Bearer c0ffee-metrics-token-0123456780";
    let mut with_wrong = tunnel.to_vec();
    with_wrong.push(("authorization", wrong));
    assert_eq!(metrics_status(&app, &with_wrong).await, 404);
    let right = format!("Bearer {secret}");
    let mut with_right = tunnel.to_vec();
    with_right.push(("authorization", &right));
    assert_eq!(metrics_status(&app, &with_right).await, 200);
    // The pages still want a sign-in.
    let home = client().get(app.url("/")).send().await.unwrap();
    assert_ne!(home.status(), 200);
    drop(app);

    // A token file others may read is refused at start, and so is no token.
    for (file, says) in [
        (token_file(&f, secret, 0o644), "chmod 600"),
        (token_file(&f, "short", 0o600), "16 to 256"),
    ] {
        let out = f.run(&[
            "serve",
            "--auth",
            "none",
            "--addr",
            "127.0.0.1:0",
            "--metrics-token-file",
            &file,
        ]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says) && err.contains(&file), "{err}");
    }
}

/// `honestcam doctor --json <args>`: its exit code and report.
pub fn doctor(f: &Fixture, args: &[&str], env: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_honestcam"))
        .args(["doctor", "--json"])
        .args(args)
        .env("HONESTCAM_DATA_DIR", f.dir())
        // Only what the test gives: not the environment of whoever runs the tests.
        .env_remove("HONESTCAM_AUTH")
        .env_remove("HONESTCAM_PUBLIC_URL")
        .env_remove("HONESTCAM_REPLICA")
        .env_remove("HONESTCAM_MAX_OPEN_DATABASES")
        .env_remove("HONESTCAM_MAX_OPEN_CONNECTIONS")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

/// The check named `name` of a report.
pub fn check<'r>(report: &'r serde_json::Value, name: &str) -> &'r serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))
}

/// Asserts that the check `name` came out `status`, and that a check that is not ok
/// says what to do.
fn assert_check(report: &serde_json::Value, name: &str, status: &str) {
    let c = check(report, name);
    assert_eq!(c["status"], status, "{name}: {c:#}");
    if status != "ok" {
        assert!(!c["fix"].as_str().unwrap().is_empty(), "{c:#}");
    }
}

const LOCAL: [&str; 2] = ["--auth", "none"];

#[test]
fn doctor_passes_a_healthy_data_dir_and_says_what_to_do_about_each_problem() {
    let f = migrated();
    // No drill yet: a failure, and the only one.
    let (code, report) = doctor(&f, &LOCAL, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["ok"], false);
    assert_eq!(report["failures"], 1, "{report:#}");
    assert_check(&report, "restore drill", "fail");

    let backups = drilled(&f);
    let (code, report) = doctor(&f, &LOCAL, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    for name in [
        "data dir",
        "free space",
        "restore",
        "database bamboo-house",
        "study database",
        "durability",
        "descriptor limit",
        "authentication",
        "restore drill",
    ] {
        assert_check(&report, name, "ok");
    }
    for c in report["checks"].as_array().unwrap() {
        for key in ["name", "status", "detail", "fix"] {
            assert!(c.get(key).is_some(), "{key} missing in {c}");
        }
    }
    assert!(
        check(&report, "restore drill")["detail"]
            .as_str()
            .unwrap()
            .contains(&backups)
    );
    assert!(
        check(&report, "durability")["detail"]
            .as_str()
            .unwrap()
            .starts_with("wal, synchronous FULL, foreign keys on")
    );
    // Litestream not configured: a warning, not a failure.
    assert_check(&report, "litestream", "warn");
    assert!(report["warnings"].as_u64().unwrap() >= 1);

    // The text report says the same, with each fix.
    let text = f.run(&["doctor", "--auth", "none", "--addr", "0.0.0.0:8080"]);
    assert_eq!(text.status.code(), Some(1));
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let line = text.lines().find(|l| l.contains("authentication")).unwrap();
    assert!(
        line.starts_with("FAIL") && line.contains("0.0.0.0:8080"),
        "{text}"
    );
    assert!(text.contains("fix: use --auth cloudflare-access"), "{text}");

    // --auth none on a public URL, as behind a tunnel.
    let (code, report) = doctor(
        &f,
        &[
            "--auth",
            "none",
            "--public-url",
            "https://portal.example.org",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert_check(&report, "authentication", "fail");
    // Not given at all: the exposure cannot be checked.
    let (code, report) = doctor(&f, &[], &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_check(&report, "authentication", "warn");

    // Not enough free space.
    let (code, report) = doctor(&f, &["--auth", "none", "--min-free", "1000000T"], &[]);
    assert_eq!(code, 1);
    assert_check(&report, "free space", "fail");

    // A bad flag is a usage error.
    let out = f.run(&["doctor", "--min-free", "plenty"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn doctor_fails_a_descriptor_limit_below_what_serve_may_use() {
    let f = migrated();
    let bin = env!("CARGO_BIN_EXE_honestcam");
    let under = |limit: u32| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n {limit} && exec \"$0\" doctor --json --auth none"
            ))
            .arg(bin)
            .env("HONESTCAM_DATA_DIR", f.dir())
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), report)
    };
    let (code, report) = under(128);
    assert_eq!(code, Some(1));
    assert_check(&report, "descriptor limit", "fail");
    let detail = check(&report, "descriptor limit")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.starts_with("128 descriptors"), "{detail}");
    assert!(
        check(&report, "descriptor limit")["fix"]
            .as_str()
            .unwrap()
            .contains("NumberOfFiles")
    );
    // 256, launchd's default, fits the default bounds.
    let (_, report) = under(256);
    assert_check(&report, "descriptor limit", "ok");
    // More properties than serve keeps databases open: a warning that says how to
    // raise the bound (the limit allows it here).
    f.ok(&["demo-data", "harbor"]);
    f.plan(&["db-migrate", "harbor", "--execute"]);
    let (code, report) = doctor(&f, &["--auth", "none", "--max-open-databases", "2"], &[]);
    assert_check(&report, "descriptor limit", "warn");
    let fix = check(&report, "descriptor limit")["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fix.contains("--max-open-databases 3"), "{fix}");
    assert_eq!(code, 1, "no drill yet: the warning alone would pass");
}

#[test]
fn doctor_fails_a_damaged_database_and_a_stale_or_failed_drill() {
    let f = migrated();
    drilled(&f);
    // A drill three days old.
    let old = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(72))
        .unwrap();
    let data = f.data();
    let mut drills = honestcam::ops::drills::read(&data).unwrap();
    let mut stale = drills.pop().unwrap();
    stale.at = old;
    let record = data.path().join("_ops/restore-drills.json");
    std::fs::remove_file(&record).unwrap();
    honestcam::ops::drills::record(&data, stale).unwrap();
    let (code, report) = doctor(&f, &LOCAL, &[]);
    assert_eq!(code, 1);
    assert_check(&report, "restore drill", "fail");
    assert!(
        check(&report, "restore drill")["detail"]
            .as_str()
            .unwrap()
            .contains("older than 48 h")
    );
    // A longer bound lets it pass; a failed drill fails whatever its age.
    let (code, _) = doctor(&f, &["--auth", "none", "--max-drill-age", "96h"], &[]);
    assert_eq!(code, 0);
    let gone = f.tmp.path().join("gone");
    let out = f.run(&["backup-verify", "--from", gone.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let (code, report) = doctor(&f, &["--auth", "none", "--max-drill-age", "96h"], &[]);
    assert_eq!(code, 1);
    assert!(
        check(&report, "restore drill")["detail"]
            .as_str()
            .unwrap()
            .contains("the last drill failed")
    );

    // A damaged database: pages in the middle overwritten.
    drilled(&f);
    let db = f.prop().join("honestcam.db");
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 8192, "{} bytes", bytes.len());
    let middle = bytes.len() / 2 / 4096 * 4096;
    for b in &mut bytes[middle..middle + 4096] {
        *b = 0x5a;
    }
    std::fs::write(&db, bytes).unwrap();
    let (code, report) = doctor(&f, &LOCAL, &[]);
    assert_eq!(code, 1);
    assert_check(&report, "database bamboo-house", "fail");
    assert_check(&report, "study database", "ok");

    // A data dir others may read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(f.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_, report) = doctor(&f, &LOCAL, &[]);
    assert_check(&report, "data dir", "fail");
}
