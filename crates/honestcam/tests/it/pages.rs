//! What a property manager sees, in-process: the home page over several properties,
//! a property's page (summary, urgency order, search and filter, labels, older
//! notes), the one edit form (only changed fields recorded, all or nothing), an
//! action's history in words, and times in the portal's zone.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use honestcam::domain::{Baseline, BaselineAction, Change, Event, PropertyInfo, Status};
use honestcam::property::Slug;
use honestcam::service::compliance::{load_events, record_change, save_events};
use honestcam::storage::Storage;
use honestcam::web::{AppState, AuthMode, Site, router};
use jiff::tz::TimeZone;
use serde_json::json;
use tower::ServiceExt;

use crate::support::{Fixture, migrated};

/// A data dir with no property yet.
pub fn empty() -> Fixture {
    Fixture {
        tmp: tempfile::tempdir().unwrap(),
    }
}

/// The date `days` from today (UTC, as the in-process portal reckons it).
pub fn day(days: i64) -> String {
    jiff::Timestamp::now()
        .to_zoned(TimeZone::UTC)
        .date()
        .saturating_add(jiff::Span::new().days(days))
        .to_string()
}

/// An action of a test baseline: id, status, due in so many days from today.
pub fn act(id: &str, title: &str, status: Status, due: Option<i64>) -> BaselineAction {
    BaselineAction {
        id: id.into(),
        title: title.into(),
        category: "Safety".into(),
        status,
        due: due.map(day),
        source: None,
    }
}

/// Adds the property `slug` named `name` with `actions`, on SQLite.
pub fn add_property(f: &Fixture, slug: &str, name: &str, actions: Vec<BaselineAction>) {
    let slug = Slug::parse(slug).unwrap();
    let paths = f.data().property(&slug);
    std::fs::create_dir_all(&paths.dir).unwrap();
    let baseline = Baseline {
        property: PropertyInfo {
            slug: slug.to_string(),
            name: name.into(),
        },
        actions,
    };
    honestcam::storage::legacy::write_baseline(&paths, &baseline).unwrap();
    f.plan(&["db-init", slug.as_str(), "--execute"]);
}

/// The portal over `f`, without a default property unless `default`.
pub fn app(f: &Fixture, default: Option<&str>, tz: TimeZone) -> axum::Router {
    let storage = Storage::open(f.data(), statekit::sqlite::OpenOptions::default()).unwrap();
    let site = Site::new(None, "127.0.0.1:8080".parse().unwrap()).unwrap();
    router(AppState::new(
        storage,
        default.map(|d| Slug::parse(d).unwrap()),
        site,
        AuthMode::None,
        tz,
    ))
}

pub async fn get(app: &axum::Router, path: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    let r = app.clone().oneshot(request).await.unwrap();
    let status = r.status();
    let body = axum::body::to_bytes(r.into_body(), 1 << 22).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A form posted from the portal's own page; the status and the `Location`.
pub async fn post(app: &axum::Router, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let request = Request::post(path)
        .header("host", "127.0.0.1:8080")
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let r = app.clone().oneshot(request).await.unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status(), location)
}

/// The values after each `marker` up to the next `"`, in page order.
fn all_after(page: &str, marker: &str) -> Vec<String> {
    page.match_indices(marker)
        .map(|(i, _)| {
            let rest = &page[i + marker.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// The ids of the action cards, in page order.
fn card_ids(page: &str) -> Vec<String> {
    all_after(page, " id=\"action-")
}

/// The card of `action` on a property's page.
fn card<'p>(page: &'p str, action: &str) -> &'p str {
    let start = page
        .find(&format!("id=\"action-{action}\""))
        .unwrap_or_else(|| panic!("no card {action}"));
    let rest = &page[start..];
    &rest[..rest.find("</section>").unwrap()]
}

/// The page's text as a reader sees it: tags (and their attributes) left out,
/// the escapes askama writes read back.
pub fn visible(page: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in page.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
}

/// Text with runs of white space made one space.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Three properties: Alder Yard (1 overdue, 2 due soon), Birch Hall (2 overdue),
/// Cedar Court (1 overdue, 3 due soon), Dogwood Row (nothing urgent).
fn four_properties() -> Fixture {
    let f = empty();
    use Status::*;
    add_property(
        &f,
        "alder-yard",
        "Alder Yard",
        vec![
            act("A1", "Gutters", Open, Some(-1)),
            act("A2", "Boiler", InProgress, Some(3)),
            act("A3", "Alarm", Blocked, Some(14)),
            act("A4", "Sprinklers", Done, Some(-40)),
            act("A5", "Signs", Open, Some(15)),
        ],
    );
    add_property(
        &f,
        "birch-hall",
        "Birch Hall",
        vec![
            act("B1", "Roof", Open, Some(-10)),
            act("B2", "Lift", Blocked, Some(-2)),
            act("B3", "Paint", Waived, Some(-90)),
        ],
    );
    add_property(
        &f,
        "cedar-court",
        "Cedar Court",
        vec![
            act("C1", "Drains", InProgress, Some(-5)),
            act("C2", "Fence", Open, Some(0)),
            act("C3", "Lights", Open, Some(1)),
            act("C4", "Keys", Open, Some(2)),
        ],
    );
    add_property(
        &f,
        "dogwood-row",
        "Dogwood Row",
        vec![act("D1", "Survey", Open, None)],
    );
    f
}

#[tokio::test]
async fn the_home_page_lists_every_property_most_urgent_first_with_counts() {
    let f = four_properties();
    let app = app(&f, None, TimeZone::UTC);
    let (status, page) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK, "never a 404, even with no default");
    assert_eq!(
        all_after(&page, "<section class=\"card property\" id=\"property-"),
        ["birch-hall", "cedar-court", "alder-yard", "dogwood-row"],
        "most overdue first, then most due soon"
    );
    let line = |slug: &str| {
        let start = page
            .find(&format!(
                "<section class=\"card property\" id=\"property-{slug}\""
            ))
            .unwrap();
        let rest = &page[start..];
        squeeze(&visible(&rest[..rest.find("</section>").unwrap()]))
    };
    assert_eq!(
        line("alder-yard"),
        "Alder Yard 1 overdue · 2 due within 14 days · 5 actions · 2 Open · 1 In progress · 1 Blocked · 1 Done"
    );
    assert_eq!(
        line("birch-hall"),
        "Birch Hall 2 overdue · 0 due within 14 days · 3 actions · 1 Open · 1 Blocked · 1 Waived"
    );
    assert!(
        line("cedar-court").starts_with("Cedar Court 1 overdue · 3 due within 14 days"),
        "{}",
        line("cedar-court")
    );
    assert!(
        page.contains("<a href=\"/p/birch-hall/compliance/\">Birch Hall</a>"),
        "one click to the property"
    );
    let (status, property) = get(&app, "/p/birch-hall/compliance/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(property.contains("<h1>Birch Hall</h1>"));
    let (status, bare) = get(&app, "/compliance/").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no default property");
    assert!(bare.contains("lists every property"), "{bare}");
    // With one property, the home page is a list of one.
    let one = empty();
    add_property(
        &one,
        "solo",
        "Solo",
        vec![act("S1", "Only", Status::Open, None)],
    );
    let (status, page) = get(&self::app(&one, Some("solo"), TimeZone::UTC), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        all_after(&page, "id=\"property-"),
        ["solo"],
        "a list of one"
    );
}

/// A property with one action of each kind of urgency, some assigned and noted.
fn mixed() -> (Fixture, axum::Router) {
    use Status::*;
    let f = empty();
    add_property(
        &f,
        "elm-house",
        "Elm House",
        vec![
            act("DONE", "Replace fire extinguishers", Done, Some(-100)),
            act("BLOCKED", "Elevator certificate", Blocked, None),
            act("LATER", "Repaint the lobby", Open, Some(60)),
            act("LATE-3", "Boiler service", InProgress, Some(-3)),
            act("WAIVED", "Pool fence", Waived, None),
            act("LATE-30", "Fire alarm inspection", Open, Some(-30)),
            act("SOON", "Roof drains", Open, Some(2)),
        ],
    );
    let storage = f.storage();
    let slug = Slug::parse("elm-house").unwrap();
    for (action, change) in [
        ("LATE-3", Change::Assignee(Some("Maria Lopez".into()))),
        ("LATER", Change::Assignee(Some("maria".into()))),
        ("SOON", Change::Note("Waiting for Maria's quote".into())),
        (
            "BLOCKED",
            Change::Note("fire department visit booked".into()),
        ),
    ] {
        record_change(&storage, &slug, action, &change, "kim").unwrap();
    }
    let app = app(&f, Some("elm-house"), TimeZone::UTC);
    (f, app)
}

#[tokio::test]
async fn a_property_page_summarises_and_orders_actions_by_urgency() {
    let (_f, app) = mixed();
    let (status, page) = get(&app, "/compliance/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        card_ids(&page),
        [
            "LATE-30", "LATE-3", "SOON", "LATER", "BLOCKED", "DONE", "WAIVED"
        ]
    );
    assert_eq!(
        all_after(&page, "<h2 class=\"group group-"),
        ["overdue", "due-soon", "open", "blocked", "closed"]
    );
    let summary = &page[page.find("<p class=\"summary\"").unwrap()..];
    let summary = squeeze(&visible(&summary[..summary.find("</p>").unwrap()]));
    assert_eq!(
        summary,
        "7 actions · 3 Open · 1 In progress · 1 Blocked · 1 Done · 1 Waived · 2 overdue · 1 due within 14 days"
    );
    assert!(card(&page, "LATE-30").contains("(overdue)"));
    assert!(card(&page, "SOON").contains("(due soon)"));
    assert!(
        !card(&page, "DONE").contains("(overdue)"),
        "done is never overdue"
    );
}

#[tokio::test]
async fn search_and_the_status_filter_combine() {
    let (_f, app) = mixed();
    let ids = |path: &'static str| {
        let app = app.clone();
        async move {
            let (status, page) = get(&app, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            (card_ids(&page), page)
        }
    };
    let (found, _) = ids("/compliance/?q=maria").await;
    assert_eq!(
        found,
        ["LATE-3", "SOON", "LATER"],
        "assignees and notes, any case, still by urgency"
    );
    let (found, _) = ids("/compliance/?status=open").await;
    assert_eq!(found, ["LATE-30", "SOON", "LATER"]);
    let (found, page) = ids("/compliance/?q=Maria&status=open").await;
    assert_eq!(found, ["SOON", "LATER"], "both at once");
    assert!(
        page.contains("name=\"q\" value=\"Maria\""),
        "the search is kept"
    );
    assert!(
        page.contains("<option value=\"open\" selected>Open</option>"),
        "the filter is kept"
    );
    let (found, _) = ids("/compliance/?q=fire+inspection").await;
    assert_eq!(found, ["LATE-30"], "every word must match");
    let (found, _) = ids("/compliance/?q=fire&status=blocked").await;
    assert_eq!(found, ["BLOCKED"], "a note's words count");
    let (found, page) = ids("/compliance/?q=maria&status=waived").await;
    assert!(found.is_empty());
    assert!(
        visible(&page).contains("No actions match “maria” with status Waived."),
        "{}",
        visible(&page)
    );
    let (_, page) = ids("/compliance/?q=%3Cscript%3E").await;
    assert!(
        page.contains("value=\"&#60;script&#62;\""),
        "the search is escaped"
    );
    assert!(!page.contains("<script>"));
    assert_eq!(get(&app, "/compliance/?status=finished").await.0, 422);
    // The edit form takes the search and filter back to the same view.
    let (status, location) = post(
        &app,
        "/compliance/actions/SOON",
        &[
            ("note", "seen"),
            ("back_q", "maria"),
            ("back_status", "open"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/compliance/?q=maria&status=open#action-SOON");
}

#[tokio::test]
async fn statuses_are_shown_by_their_labels_everywhere() {
    let (_f, app) = mixed();
    for path in [
        "/",
        "/compliance/",
        "/compliance/actions/LATE-3",
        "/compliance/?status=in_progress",
    ] {
        let (status, page) = get(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let text = visible(&page);
        assert!(
            !text.contains("in_progress"),
            "{path} shows a raw status:\n{text}"
        );
        // Every status badge shows its label.
        let badges = all_after(&page, "data-status=\"");
        assert_eq!(
            badges.is_empty(),
            path == "/",
            "{path}: badges on action pages only"
        );
        for raw in badges {
            let label = raw.parse::<Status>().unwrap().label();
            assert!(
                page.contains(&format!("data-status=\"{raw}\">{label}</span>")),
                "{path}: {raw}"
            );
        }
        assert!(text.contains("In progress"), "{path}");
    }
    let (_, page) = get(&app, "/compliance/").await;
    assert!(card(&page, "LATE-3").contains(">In progress</span>"));
    assert!(page.contains("<option value=\"in_progress\">In progress</option>"));
}

#[tokio::test]
async fn a_page_asked_for_again_shows_every_change_since_on_either_backend() {
    let (f, app) = mixed();
    let slug = Slug::parse("elm-house").unwrap();
    let (_, first) = get(&app, "/compliance/").await;
    let (_, again) = get(&app, "/compliance/").await;
    assert_eq!(first, again, "nothing changed");
    record_change(
        &f.storage(),
        &slug,
        "LATER",
        &Change::Status(Status::Done),
        "kim",
    )
    .unwrap();
    let (_, page) = get(&app, "/compliance/").await;
    assert!(
        card(&page, "LATER").contains(">Done</span>"),
        "a change is shown"
    );
    let (_, filtered) = get(&app, "/compliance/?status=done").await;
    assert_eq!(card_ids(&filtered), ["DONE", "LATER"]);
    // A property on the legacy files, written behind the portal's back.
    let legacy = crate::support::Fixture::new();
    let app = self::app(&legacy, Some(crate::support::SLUG), TimeZone::UTC);
    let (_, before) = get(&app, "/compliance/").await;
    assert!(!card(&before, "ACT-003").contains("seen on the roof"));
    record_change(
        &legacy.storage(),
        &legacy.slug(),
        "ACT-003",
        &Change::Note("seen on the roof".into()),
        "lee",
    )
    .unwrap();
    let (_, after) = get(&app, "/compliance/").await;
    assert!(card(&after, "ACT-003").contains("seen on the roof"));
}

#[tokio::test]
async fn older_notes_are_counted_and_linked_to_the_actions_page() {
    let (f, app) = mixed();
    let slug = Slug::parse("elm-house").unwrap();
    for n in 1..=4 {
        let note = Change::Note(format!("visit {n}"));
        record_change(&f.storage(), &slug, "LATER", &note, "kim").unwrap();
    }
    let (_, page) = get(&app, "/compliance/").await;
    let later = card(&page, "LATER");
    assert!(later.contains("visit 4") && later.contains("visit 2"));
    assert!(!later.contains("visit 1"), "only the latest three");
    assert!(
        later.contains("<a href=\"/compliance/actions/LATER#history\">1 older note</a>"),
        "{later}"
    );
    let soon = card(&page, "SOON");
    assert!(!soon.contains("older note"), "all its notes are shown");
    let (_, page) = get(&app, "/compliance/actions/LATER").await;
    for n in 1..=4 {
        assert!(page.contains(&format!("added a note: visit {n}")));
    }
}

/// The events stored for `action` of the demo property.
fn events_of(f: &Fixture, action: &str) -> Vec<Event> {
    load_events(&f.storage(), &f.slug())
        .unwrap()
        .into_iter()
        .filter(|e| e.action_id == action)
        .collect()
}

#[tokio::test]
async fn one_edit_records_only_the_fields_that_changed() {
    let f = migrated();
    let app = app(&f, Some(crate::support::SLUG), TimeZone::UTC);
    let (_, page) = get(&app, "/compliance/").await;
    let form = card(&page, "ACT-003");
    let shown = |name: &str| all_after(form, &format!("name=\"shown_{name}\" value=\""))[0].clone();
    let (status, assignee, due) = (shown("status"), shown("assignee"), shown("due"));
    assert_eq!((status.as_str(), due.as_str()), ("open", "2026-07-30"));
    let before = events_of(&f, "ACT-003").len();
    // The whole form as the browser posts it, two of four fields changed.
    let whole = |new_status: &str, new_due: &str, note: &str| {
        vec![
            ("status", new_status.to_string()),
            ("assignee", assignee.clone()),
            ("due", new_due.to_string()),
            ("note", note.to_string()),
            ("shown_status", status.clone()),
            ("shown_assignee", assignee.clone()),
            ("shown_due", due.clone()),
        ]
    };
    let submit = |fields: Vec<(&'static str, String)>| {
        let app = app.clone();
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(&app, "/compliance/actions/ACT-003", &pairs).await
        }
    };
    let (code, location) = submit(whole("in_progress", &due, "crew booked")).await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    assert_eq!(location, "/compliance/#action-ACT-003");
    let after = events_of(&f, "ACT-003");
    assert_eq!(after.len(), before + 2, "exactly two events");
    let new = &after[before..];
    assert_eq!(new[0].kind, "status_changed");
    assert_eq!(new[0].payload, json!({"status": "in_progress"}));
    assert_eq!(new[1].kind, "note_added");
    assert_eq!(new[0].at, new[1].at, "written together");
    assert!(new.iter().all(|e| e.actor == "local"));

    // The same form again, as the page now shows it, nothing changed: no event.
    let mut unchanged = whole("in_progress", &due, "   ");
    unchanged[4].1 = "in_progress".into();
    assert_eq!(submit(unchanged).await.0, StatusCode::SEE_OTHER);
    assert_eq!(
        events_of(&f, "ACT-003").len(),
        before + 2,
        "no event at all"
    );

    // All four, from the action's page: four events, and back to that page.
    let mut all = whole("done", "2026-12-24", "finished");
    all[1].1 = "Robin".into();
    all[4].1 = "in_progress".into();
    all.push(("back", "action".into()));
    let (code, location) = submit(all).await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    assert_eq!(location, "/compliance/actions/ACT-003");
    let kinds: Vec<_> = events_of(&f, "ACT-003")[before + 2..]
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    assert_eq!(
        kinds,
        [
            "status_changed",
            "assignee_changed",
            "due_changed",
            "note_added"
        ]
    );
}

#[tokio::test]
async fn an_edit_is_all_or_nothing_and_does_not_undo_anothers_change() {
    let f = migrated();
    let app = app(&f, Some(crate::support::SLUG), TimeZone::UTC);
    let before = crate::support::event_rows(&f);
    let (code, _) = post(
        &app,
        "/compliance/actions/ACT-003",
        &[("status", "done"), ("note", "done"), ("due", "31/12/2026")],
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let long = "x".repeat(honestcam::domain::compliance::MAX_NOTE_CHARS + 1);
    let (code, _) = post(
        &app,
        "/compliance/actions/ACT-003",
        &[("status", "done"), ("note", long.as_str())],
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(crate::support::event_rows(&f), before, "nothing of either");
    let (code, _) = post(&app, "/compliance/actions/NOPE", &[]).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // Kim opens the form; meanwhile Lee assigns the action to Lee. Kim then changes
    // the status only: the form still carries the old (empty) assignee, which is
    // not a change Kim made, so Lee's stays.
    record_change(
        &f.storage(),
        &f.slug(),
        "ACT-003",
        &Change::Assignee(Some("Lee".into())),
        "lee",
    )
    .unwrap();
    let (code, _) = post(
        &app,
        "/compliance/actions/ACT-003",
        &[
            ("status", "blocked"),
            ("assignee", ""),
            ("due", "2026-07-30"),
            ("shown_status", "open"),
            ("shown_assignee", ""),
            ("shown_due", "2026-07-30"),
        ],
    )
    .await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    let (_, page) = get(&app, "/compliance/").await;
    let card = card(&page, "ACT-003");
    assert!(
        card.contains("assigned to Lee") && card.contains(">Blocked<"),
        "{card}"
    );
}

#[tokio::test]
async fn an_actions_page_tells_its_whole_history_newest_first() {
    let f = empty();
    add_property(
        &f,
        "fir-lodge",
        "Fir Lodge",
        vec![BaselineAction {
            due: Some("2026-05-01".into()),
            ..act("F1", "Chimney sweep", Status::Open, None)
        }],
    );
    let slug = Slug::parse("fir-lodge").unwrap();
    let mut n = 0;
    let mut event = |actor: &str, kind: &str, payload: serde_json::Value| {
        n += 1;
        Event {
            event_id: format!("h{n}"),
            action_id: "F1".into(),
            kind: kind.into(),
            payload,
            actor: actor.into(),
            at: format!("2026-11-{n:02}T15:30:00Z"),
            extra: Default::default(),
        }
    };
    let events = vec![
        event("Maria", "status_changed", json!({"status": "in_progress"})),
        event("Maria", "assignee_changed", json!({"assignee": "Kim"})),
        event("Kim", "assignee_changed", json!({"assignee": "Lee"})),
        event("Lee", "due_changed", json!({"due": "2026-06-15"})),
        event("Lee", "due_changed", json!({"due": null})),
        event("Lee", "due_changed", json!({"due": "2026-07-01"})),
        event(
            "Maria",
            "note_added",
            json!({"note": "sweep <b>booked</b>"}),
        ),
        event("Maria", "assignee_changed", json!({"assignee": null})),
        event("Robot", "photo_added", json!({"url": "x"})),
        event("Robot", "status_changed", json!({"status": "finished"})),
        event("Maria", "status_changed", json!({"status": "done"})),
    ];
    save_events(&f.storage(), &slug, &events).unwrap();
    let app = app(&f, None, TimeZone::UTC);
    let (status, page) = get(&app, "/p/fir-lodge/compliance/actions/F1").await;
    assert_eq!(status, StatusCode::OK);
    let items: Vec<String> = page
        .split("<li class=\"event event-")
        .skip(1)
        .map(|li| squeeze(&visible(&format!("<{}", &li[..li.find("</li>").unwrap()]))))
        .collect();
    assert_eq!(
        items,
        [
            "Maria set status to Done (was In progress) 2026-11-11 15:30 UTC",
            "Robot recorded a status_changed event that could not be applied: invalid status \"finished\": expected one of open, in_progress, blocked, done, waived 2026-11-10 15:30 UTC",
            "Robot recorded a photo_added event (not a kind this portal applies) 2026-11-09 15:30 UTC",
            "Maria removed the assignee (Lee) 2026-11-08 15:30 UTC",
            "Maria added a note: sweep <b>booked</b> 2026-11-07 15:30 UTC",
            "Lee set the due date to 2026-07-01 2026-11-06 15:30 UTC",
            "Lee removed the due date (2026-06-15) 2026-11-05 15:30 UTC",
            "Lee changed the due date from 2026-05-01 to 2026-06-15 2026-11-04 15:30 UTC",
            "Kim changed the assignee from Kim to Lee 2026-11-03 15:30 UTC",
            "Maria assigned it to Kim 2026-11-02 15:30 UTC",
            "Maria set status to In progress (was Open) 2026-11-01 15:30 UTC",
        ],
        "newest first, one line per event"
    );
    assert!(!page.contains("<b>booked"), "the note is escaped");
    assert!(page.contains(">Done</span>"), "the current state above it");
    assert!(
        page.contains("action=\"/p/fir-lodge/compliance/actions/F1\""),
        "and its edit form"
    );
    assert_eq!(
        get(&app, "/p/fir-lodge/compliance/actions/NOPE").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn times_are_shown_in_the_portals_zone_and_stored_in_utc() {
    let f = migrated();
    let event = Event {
        event_id: "tz-1".into(),
        action_id: "ACT-004".into(),
        kind: "note_added".into(),
        payload: json!({"note": "late call"}),
        actor: "kim".into(),
        at: "2026-11-23T01:50:00Z".into(),
        extra: Default::default(),
    };
    save_events(&f.storage(), &f.slug(), &[event]).unwrap();
    let new_york = jiff::tz::db().get("America/New_York").unwrap();
    let ny = app(&f, Some(crate::support::SLUG), new_york);
    let (_, page) = get(&ny, "/compliance/actions/ACT-004").await;
    assert!(page.contains("2026-11-22 20:50 EST"), "{page}");
    let (_, page) = get(&ny, "/compliance/").await;
    assert!(card(&page, "ACT-004").contains("(kim, 2026-11-22 20:50 EST)"));
    let utc = app(&f, Some(crate::support::SLUG), TimeZone::UTC);
    let (_, page) = get(&utc, "/compliance/actions/ACT-004").await;
    assert!(page.contains("2026-11-23 01:50 UTC"));
    // Stored as written: UTC.
    let stored = load_events(&f.storage(), &f.slug()).unwrap();
    assert_eq!(stored.last().unwrap().at, "2026-11-23T01:50:00Z");

    // The real server with --timezone.
    let served = f.spawn_app(&["--timezone", "America/New_York"], &[]);
    let page = crate::support::client()
        .get(served.url("/compliance/actions/ACT-004"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("2026-11-22 20:50 EST"));
}

#[test]
fn a_bad_timezone_is_a_usage_error() {
    let f = migrated();
    for bad in ["Mars/Olympus_Mons", "", "New York"] {
        let out = f.run(&[
            "serve",
            "--auth",
            "none",
            "--addr",
            "127.0.0.1:0",
            "--timezone",
            bad,
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("unknown time zone") && stderr.contains("IANA"),
            "{bad:?}: {stderr}"
        );
    }
}
