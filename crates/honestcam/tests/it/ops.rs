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
