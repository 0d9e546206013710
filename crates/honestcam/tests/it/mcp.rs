//! The MCP server: each tool over stdio (`honestcam mcp`) and over Streamable HTTP
//! (`/mcp` in `honestcam serve`, with a read-only token, a token that may write, and
//! none); writes impossible at its connections; answers bounded and paged; bad
//! arguments answered as tool errors.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use honestcam::domain::Change;
use honestcam::mcp::McpServer;
use honestcam::storage::Storage;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::auth::{access_app, access_token, read_only_token, token};
use crate::support::{Fixture, SLUG, TODAY, event_rows, migrated};

/// How long a test waits for one answer before calling the server hung.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

const TOOLS: [&str; 6] = [
    "compliance_as_of",
    "events_since",
    "get_action",
    "list_properties",
    "property_summary",
    "search",
];

/// Every tool with the arguments [`exercise_every_tool`] calls it with, in order.
fn calls() -> Vec<(&'static str, Value)> {
    vec![
        ("list_properties", json!({})),
        ("property_summary", json!({"property": SLUG})),
        (
            "property_summary",
            json!({"property": SLUG, "group": "overdue", "limit": 1}),
        ),
        (
            "get_action",
            json!({"property": SLUG, "action_id": "ACT-001"}),
        ),
        ("search", json!({"property": SLUG, "query": "fire alarm"})),
        (
            "compliance_as_of",
            json!({"property": SLUG, "as_of": "2026-01-01"}),
        ),
        (
            "compliance_as_of",
            json!({"property": SLUG, "as_of": TODAY.to_string()}),
        ),
        ("events_since", json!({"limit": 5})),
    ]
}

fn initialize() -> Value {
    json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "honestcam-tests", "version": "1"}
    })
}

/// `honestcam mcp` on a data dir, spoken to line by line.
struct StdioClient {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    next_id: u64,
}

impl StdioClient {
    /// Starts `honestcam mcp` on `f`'s data dir (its log to `log`) and initializes.
    fn start(f: &Fixture, log: &Path) -> StdioClient {
        let mut child = Command::new(env!("CARGO_BIN_EXE_honestcam"))
            .arg("mcp")
            .env("HONESTCAM_DATA_DIR", f.dir())
            .env("HONESTCAM_TIMEZONE", "UTC")
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = StdioClient {
            child,
            stdin,
            lines,
            next_id: 1,
        };
        let info = s.request("initialize", initialize());
        assert_eq!(info["result"]["serverInfo"]["name"], "honestcam", "{info}");
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, message: &Value) {
        writeln!(self.stdin, "{message}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends a request and returns the response with its id (notifications skipped).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self
                .lines
                .recv_timeout(ANSWER_WITHIN)
                .unwrap_or_else(|_| panic!("no answer to {method} (id {id})"));
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == id {
                return message;
            }
        }
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
    }

    /// Closes stdin and waits: whether the server exited 0.
    fn close(self) -> bool {
        let StdioClient {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        child.wait().unwrap().success()
    }
}

/// The JSON a successful tool call answered.
fn answer(response: &Value) -> Value {
    let result = &response["result"];
    assert_eq!(result["isError"], false, "{response}");
    let text = result["content"][0]["text"].as_str().unwrap();
    serde_json::from_str(text).unwrap()
}

/// The message of a tool call answered as a tool error.
fn tool_error(response: &Value) -> String {
    let result = &response["result"];
    assert_eq!(result["isError"], true, "{response}");
    result["content"][0]["text"].as_str().unwrap().to_string()
}

/// Checks the tool list and calls every tool through `call`, checking what each
/// answers about the demo property.
fn exercise_every_tool(mut call: impl FnMut(&str, Value) -> Value, list: Value) {
    let tools = list["result"]["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, TOOLS);
    for t in tools {
        assert_eq!(t["annotations"]["readOnlyHint"], true, "{t}");
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert!(t["description"].as_str().unwrap().len() > 80, "{t}");
    }

    let properties = answer(&call("list_properties", json!({})));
    assert_eq!(properties["total"], 1);
    let line = &properties["properties"][0];
    assert_eq!(line["slug"], SLUG);
    assert_eq!(line["name"], "Bamboo House");
    assert_eq!(line["actions"], 8);
    assert!(line["overdue"].as_u64().unwrap() > 0, "{line}");

    let summary = answer(&call("property_summary", json!({"property": SLUG})));
    assert_eq!(summary["actions"], 8);
    let groups = summary["groups"].as_array().unwrap();
    assert_eq!(
        groups[0]["group"], "overdue",
        "most urgent first: {summary}"
    );
    let listed: u64 = groups.iter().map(|g| g["count"].as_u64().unwrap()).sum();
    assert_eq!(listed, 8, "every action in one group");
    let overdue = answer(&call(
        "property_summary",
        json!({"property": SLUG, "group": "overdue", "limit": 1}),
    ));
    assert_eq!(overdue["groups"].as_array().unwrap().len(), 1);
    assert_eq!(overdue["groups"][0]["actions"].as_array().unwrap().len(), 1);

    let action = answer(&call(
        "get_action",
        json!({"property": SLUG, "action_id": "ACT-001"}),
    ));
    assert_eq!(action["action"]["id"], "ACT-001");
    let history = action["history"].as_array().unwrap();
    assert!(!history.is_empty());
    assert_eq!(
        history.len() as u64,
        action["history_total"].as_u64().unwrap()
    );
    for entry in history {
        assert!(
            entry["actor"].is_string() && entry["at"].is_string(),
            "{entry}"
        );
        assert!(entry["change"]["type"].is_string(), "{entry}");
    }

    let found = answer(&call(
        "search",
        json!({"property": SLUG, "query": "fire alarm"}),
    ));
    let hits = found["hits"].as_array().unwrap();
    assert!(!hits.is_empty(), "{found}");
    assert_eq!(hits[0]["action_id"], "ACT-001", "{found}");
    assert!(
        hits[0]["snippet"].as_str().unwrap().contains("**"),
        "{found}"
    );

    // Before the demo's story began: every action as listed, none assigned yet.
    let before = answer(&call(
        "compliance_as_of",
        json!({"property": SLUG, "as_of": "2026-01-01"}),
    ));
    assert_eq!(before["events_folded"], 0, "{before}");
    assert_eq!(before["actions_total"], 8);
    let first = |v: &Value| {
        v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == "ACT-001")
            .cloned()
            .unwrap()
    };
    assert!(first(&before)["assignee"].is_null(), "{before}");
    let now = answer(&call(
        "compliance_as_of",
        json!({"property": SLUG, "as_of": TODAY.to_string()}),
    ));
    assert!(now["events_folded"].as_u64().unwrap() > 0, "{now}");
    assert_eq!(
        first(&now)["assignee"],
        action["action"]["assignee"],
        "{now}"
    );

    let feed = answer(&call("events_since", json!({"limit": 5})));
    let events = feed["events"].as_array().unwrap();
    assert_eq!(events.len(), 5, "{feed}");
    assert_eq!(feed["more"], true);
    assert!(
        feed["next_cursor"].as_str().unwrap().starts_with("v1."),
        "{feed}"
    );
    for e in events {
        assert_eq!(e["property"]["slug"], SLUG, "{e}");
        assert!(
            e["event"]["event_id"].is_string() && e["action"]["id"].is_string(),
            "{e}"
        );
    }
}

#[test]
fn every_tool_answers_over_stdio_as_the_local_operator() {
    let f = migrated();
    let log = f.tmp.path().join("mcp.log");
    let mut mcp = StdioClient::start(&f, &log);
    let list = mcp.request("tools/list", json!({}));
    let mut expected = calls().into_iter();
    exercise_every_tool(
        |tool, args| {
            assert_eq!(
                expected.next(),
                Some((tool, args.clone())),
                "calls() lists it"
            );
            mcp.call(tool, args)
        },
        list,
    );
    assert!(mcp.close(), "the server ends when its client closes stdin");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("mcp tool call")
            && log.contains("caller=local")
            && log.contains("tool=get_action")
            && log.contains("ACT-001"),
        "each call is logged with its caller, tool and arguments:\n{log}"
    );
}

/// `/mcp` of a running portal, spoken to as an MCP client does.
struct Http {
    url: String,
    client: reqwest::Client,
}

impl Http {
    fn new(app: &crate::support::App) -> Http {
        Http {
            url: app.url("/mcp"),
            // No browser headers: an MCP client.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(ANSWER_WITHIN)
                .build()
                .unwrap(),
        }
    }

    async fn post(&self, bearer: Option<&str>, message: &Value) -> reqwest::Response {
        let mut request = self
            .client
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(message);
        if let Some(secret) = bearer {
            request = request.bearer_auth(secret);
        }
        request.send().await.unwrap()
    }

    async fn request(&self, bearer: &str, id: u64, method: &str, params: Value) -> Value {
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self.post(Some(bearer), &message).await;
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        response.json().await.unwrap()
    }
}

#[tokio::test]
async fn every_tool_answers_over_http_to_a_read_only_token_and_to_one_that_may_write() {
    let f = migrated();
    let log = f.tmp.path().join("serve.log");
    let app = f.spawn_app_logging(&["--auth", "local"], &[], Some(&log));
    let http = Http::new(&app);
    let (_, reader) = read_only_token(&f, "assistant", "viewer");
    let writer = token(&f, "editor");

    for secret in [&reader, &writer] {
        let init = http.request(secret, 1, "initialize", initialize()).await;
        assert_eq!(init["result"]["serverInfo"]["name"], "honestcam", "{init}");
        let list = http.request(secret, 2, "tools/list", json!({})).await;
        let mut answered = Vec::new();
        for (tool, args) in calls() {
            let params = json!({"name": tool, "arguments": args});
            answered.push(http.request(secret, 3, "tools/call", params).await);
        }
        let mut answers = answered.into_iter();
        exercise_every_tool(|_, _| answers.next().unwrap(), list);
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("caller=token:assistant") && log.contains("transport=\"http\""),
        "the caller of each call is logged:\n{log}"
    );
}

/// An MCP client behind Cloudflare Access (a service token, say) posts JSON with the
/// Access assertion and no browser headers: it passes the cross-site check, acts as
/// its Access identity, and is logged as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_identity_reaches_mcp_as_itself() {
    let f = migrated();
    let log = f.tmp.path().join("serve.log");
    let (app, team) = access_app(&f, &log).await;
    let http = Http::new(&app);
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "list_properties", "arguments": {}}});
    let answered = http
        .client
        .post(&http.url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .header(
            "cf-access-jwt-assertion",
            access_token(&team, "portal-aud", "kim@example.org"),
        )
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    let body: Value = answered.json().await.unwrap();
    assert_eq!(answer(&body)["total"], 1, "{body}");
    let without = http.post(None, &call).await;
    assert_eq!(
        without.status(),
        StatusCode::UNAUTHORIZED,
        "no Access token"
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("caller=kim@example.org"), "{log}");
}

#[tokio::test]
async fn mcp_without_credentials_is_401_and_a_read_only_token_still_cannot_write_the_api() {
    let f = migrated();
    let app = f.spawn_app(&["--auth", "local"], &[]);
    let http = Http::new(&app);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize()});
    let answer = http.post(None, &init).await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("API token"),
        "{body}"
    );
    assert_eq!(
        http.post(Some("hc_not-a-token"), &init).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let (_, reader) = read_only_token(&f, "assistant", "editor");
    let before = event_rows(&f);
    let write = http
        .client
        .post(app.url(&format!("/api/p/{SLUG}/actions/ACT-003/events")))
        .bearer_auth(&reader)
        .json(&json!({"type": "note_added", "payload": {"note": "from the assistant"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    let body: Value = write.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("read-only"),
        "{body}"
    );
    assert_eq!(event_rows(&f), before);

    // A page of another site cannot post to /mcp in a browser's name.
    let cross = http
        .client
        .post(&http.url)
        .header("origin", "https://evil.example")
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(&reader)
        .json(&init);
    assert_eq!(
        cross.send().await.unwrap().status(),
        StatusCode::OK,
        "a token is no cookie"
    );
    let foreign = http
        .client
        .post(&http.url)
        .header("origin", "https://evil.example")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(init.to_string());
    assert_eq!(
        foreign.send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}

/// The MCP server's storage, as `honestcam mcp` and `serve` open it.
fn mcp_storage(f: &Fixture) -> Storage {
    Storage::open_read_only(f.data(), statekit::sqlite::OpenOptions::read_only(), 4).unwrap()
}

#[test]
fn a_write_at_the_mcp_servers_connections_fails_in_sqlite() {
    let f = migrated();
    let before = event_rows(&f);
    let server = McpServer::stdio(mcp_storage(&f), jiff::tz::TimeZone::UTC).unwrap();
    let storage = server.storage();
    assert!(storage.is_read_only());
    let db = storage
        .databases()
        .property_existing(&f.prop().join("honestcam.db"))
        .unwrap()
        .unwrap();
    let insert = "INSERT INTO compliance_events (event_id, action_id, type, payload, actor, at)
                  VALUES ('ev-mcp', 'ACT-001', 'note_added', '{\"note\":\"x\"}', 'mcp', '2026-04-10T00:00:00Z')";
    let read_only = |e: &honestcam::storage::sqlite::DbError| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            let sqlite = c.downcast_ref::<rusqlite::Error>().or_else(|| {
                c.downcast_ref::<std::sync::Arc<rusqlite::Error>>()
                    .map(|a| &**a)
            });
            if sqlite.is_some_and(|s| s.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly))
            {
                return true;
            }
            cause = c.source();
        }
        e.to_string().contains("readonly")
    };
    let through_writer = db
        .write(move |c| Ok::<_, honestcam::storage::sqlite::DbError>(c.execute(insert, [])?))
        .unwrap_err();
    assert!(read_only(&through_writer), "{through_writer}");
    let through_reader = db
        .read(|c| Ok::<_, honestcam::storage::sqlite::DbError>(c.execute(insert, [])?))
        .unwrap_err();
    assert!(read_only(&through_reader), "{through_reader}");
    let e = storage.write(&f.slug()).unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
    assert!(
        storage.study_db().is_err(),
        "the study database is not opened to write"
    );
    assert_eq!(event_rows(&f), before, "nothing was written");

    let read_write = Storage::open(f.data(), statekit::sqlite::OpenOptions::default()).unwrap();
    assert!(
        McpServer::http(read_write, jiff::tz::TimeZone::UTC).is_err(),
        "the server refuses storage that may write"
    );
}

#[test]
fn a_database_that_needs_a_migration_is_answered_with_the_command_and_left_as_it_is() {
    let f = migrated();
    let db = f.prop().join("honestcam.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "DELETE FROM _statekit_migrations WHERE version = (SELECT max(version) FROM _statekit_migrations)",
            [],
        )
        .unwrap();
    }
    let versions = || -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM _statekit_migrations", [], |r| {
                r.get(0)
            })
            .unwrap()
    };
    let before = versions();
    let log = f.tmp.path().join("mcp.log");
    let mut mcp = StdioClient::start(&f, &log);
    let message = tool_error(&mcp.call("property_summary", json!({"property": SLUG})));
    assert!(
        message.contains("schema version") && message.contains("honestcam db-reindex"),
        "{message}"
    );
    let listed = answer(&mcp.call("list_properties", json!({})));
    assert!(
        listed["properties"][0]["error"]
            .as_str()
            .unwrap()
            .contains("db-reindex"),
        "{listed}"
    );
    assert!(mcp.close());
    assert_eq!(versions(), before, "not migrated");
}

#[test]
fn answers_stay_within_64_kib_and_paging_visits_every_history_entry_once() {
    let f = migrated();
    let storage = f.storage();
    let long = "n".repeat(honestcam::domain::text::MAX_NOTE_CHARS);
    for i in 0..40 {
        let note = Change::Note(format!("{i:03} {long}")[..long.len()].to_string());
        honestcam::service::compliance::record_change(&storage, &f.slug(), "ACT-002", &note, "kim")
            .unwrap();
    }
    drop(storage);
    let log = f.tmp.path().join("mcp.log");
    let mut mcp = StdioClient::start(&f, &log);
    let mut seen = Vec::new();
    let mut offset = 0;
    let mut pages = 0;
    loop {
        let response = mcp.call(
            "get_action",
            json!({"property": SLUG, "action_id": "ACT-002", "limit": 200, "offset": offset}),
        );
        let text = response["result"]["content"][0]["text"].as_str().unwrap();
        assert!(
            text.len() <= honestcam::mcp::tools::MAX_RESULT_BYTES,
            "{} bytes",
            text.len()
        );
        let page = answer(&response);
        pages += 1;
        for entry in page["history"].as_array().unwrap() {
            seen.push(entry["event_id"].as_str().unwrap().to_string());
        }
        match page["next_offset"].as_u64() {
            Some(next) => offset = next,
            None => break,
        }
        assert!(pages < 100, "paging ends");
    }
    assert!(pages > 1, "the history did not fit one answer");
    let total = answer(&mcp.call(
        "get_action",
        json!({"property": SLUG, "action_id": "ACT-002", "limit": 1}),
    ))["history_total"]
        .as_u64()
        .unwrap();
    assert!(total >= 40);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (total as usize, total as usize));
    assert!(mcp.close());
}

#[test]
fn bad_arguments_are_tool_errors_and_the_server_keeps_answering() {
    let f = migrated();
    let log = f.tmp.path().join("mcp.log");
    let mut mcp = StdioClient::start(&f, &log);
    for (tool, args, says) in [
        (
            "property_summary",
            json!({"property": "../etc"}),
            "invalid property slug",
        ),
        (
            "property_summary",
            json!({"property": "nowhere"}),
            "no property nowhere",
        ),
        (
            "property_summary",
            json!({"property": SLUG, "group": "late"}),
            "group must be one of",
        ),
        (
            "property_summary",
            json!({"property": SLUG, "offset": 3}),
            "give group too",
        ),
        (
            "list_properties",
            json!({"limit": 0}),
            "limit must be 1 to 200",
        ),
        (
            "list_properties",
            json!({"limit": 100000}),
            "limit must be 1 to 200",
        ),
        (
            "get_action",
            json!({"property": SLUG, "action_id": "NOPE"}),
            "has no action",
        ),
        (
            "get_action",
            json!({"property": SLUG, "action_id": "x".repeat(201)}),
            "action_id must be 1 to 200",
        ),
        (
            "search",
            json!({"property": SLUG, "query": "w ".repeat(20)}),
            "at most 16 words",
        ),
        (
            "search",
            json!({"property": SLUG, "query": "x", "limit": 101}),
            "limit must be 1 to 100",
        ),
        (
            "search",
            json!({"property": SLUG, "query": "x", "offset": 20000}),
            "offset can be at most",
        ),
        (
            "compliance_as_of",
            json!({"property": SLUG, "as_of": "30/11/2026"}),
            "neither a date",
        ),
        ("events_since", json!({"cursor": "v2.abc"}), "not a cursor"),
        (
            "events_since",
            json!({"limit": 201}),
            "limit must be 1 to 200",
        ),
        ("get_action", json!({"property": 5}), "parameters"),
        ("get_action", json!({"property": SLUG}), "action_id"),
    ] {
        let message = tool_error(&mcp.call(tool, args.clone()));
        assert!(message.contains(says), "{tool} {args}: {message}");
    }
    let unknown = mcp.call("write_note", json!({}));
    assert!(unknown["error"]["code"].is_i64(), "no such tool: {unknown}");
    let still = answer(&mcp.call("list_properties", json!({})));
    assert_eq!(still["total"], 1, "the server still answers");
    assert!(mcp.close());
}

/// A property still on the legacy JSON files is served from them, and the data dir
/// is left byte for byte as it was (but the property's lock files, which every reader
/// takes): no database created, nothing migrated or rewritten.
#[test]
fn a_property_on_the_legacy_files_is_read_and_the_data_dir_left_as_it_was() {
    let f = Fixture::new();
    let before = crate::support::snapshot(&f.dir());
    let log = f.tmp.path().join("mcp.log");
    let mut mcp = StdioClient::start(&f, &log);
    let summary = answer(&mcp.call("property_summary", json!({"property": SLUG})));
    assert_eq!(summary["actions"], 8, "{summary}");
    let action = answer(&mcp.call(
        "get_action",
        json!({"property": SLUG, "action_id": "ACT-001"}),
    ));
    assert!(action["history_total"].as_u64().unwrap() > 0, "{action}");
    assert!(mcp.close());
    assert_eq!(crate::support::snapshot(&f.dir()), before);
    assert!(!f.prop().join("honestcam.db").exists());
    assert!(!f.dir().join("honestcam-study.db").exists());
}

/// Pages through `events_since` from `cursor` until `more` is false; the event ids
/// seen, in order, and the last cursor.
fn drain_feed(mcp: &mut StdioClient, mut cursor: Option<String>) -> (Vec<String>, String) {
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let mut args = json!({"limit": 3});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = answer(&mcp.call("events_since", args));
        for line in page["events"].as_array().unwrap() {
            seen.push(line["event"]["event_id"].as_str().unwrap().to_string());
        }
        cursor = Some(page["next_cursor"].as_str().unwrap().to_string());
        if page["more"] == false {
            return (seen, cursor.unwrap_or_default());
        }
    }
    panic!("the feed never ended");
}

#[test]
fn the_feed_visits_every_event_once_and_a_restarted_server_resumes_from_the_cursor() {
    let f = migrated();
    let log = f.tmp.path().join("mcp.log");
    let mut mcp = StdioClient::start(&f, &log);
    let (seen, cursor) = drain_feed(&mut mcp, None);
    assert!(mcp.close());
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(seen.len(), unique.len(), "each event once");
    assert_eq!(seen.len() as i64, event_rows(&f), "every event");

    // A change while no server runs; a new server, the old cursor: just that change.
    let written = honestcam::service::compliance::record_change(
        &f.storage(),
        &f.slug(),
        "ACT-004",
        &Change::Note("boiler serviced, certificate filed".into()),
        "kim",
    )
    .unwrap();
    let mut again = StdioClient::start(&f, &log);
    let (after, _) = drain_feed(&mut again, Some(cursor));
    assert_eq!(after, [written.event_id]);
    assert!(again.close());
}

#[tokio::test]
async fn a_note_written_through_the_api_is_found_over_mcp_at_once_exact_phrase_first() {
    let f = migrated();
    let app = f.spawn_app(&["--auth", "local"], &[]);
    let http = Http::new(&app);
    let (_, reader) = read_only_token(&f, "assistant", "viewer");
    let writer = token(&f, "editor");
    let call = |tool: &'static str, args: Value| {
        let http = &http;
        let reader = reader.clone();
        async move {
            let params = json!({"name": tool, "arguments": args});
            answer(&http.request(&reader, 7, "tools/call", params).await)
        }
    };
    let feed = call("events_since", json!({"limit": 200})).await;
    assert_eq!(feed["more"], false, "{feed}");
    let cursor = feed["next_cursor"].as_str().unwrap().to_string();

    for note in [
        "the sprinkler valve on level two is stiff",
        "valve replaced, the sprinkler test is due",
    ] {
        let written = http
            .client
            .post(app.url(&format!("/api/p/{SLUG}/actions/ACT-005/events")))
            .bearer_auth(&writer)
            .json(&json!({"type": "note_added", "payload": {"note": note}}))
            .send()
            .await
            .unwrap();
        assert_eq!(written.status(), StatusCode::CREATED);
    }
    let found = call(
        "search",
        json!({"property": SLUG, "query": "sprinkler valve"}),
    )
    .await;
    let hits = found["hits"].as_array().unwrap();
    assert!(hits.len() >= 2, "{found}");
    assert_eq!(hits[0]["exact"], true, "the exact phrase first: {found}");
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("**sprinkler** **valve**"),
        "{found}"
    );
    let actor = hits[0]["event"]["actor"].as_str().unwrap();
    assert!(actor.starts_with("token:editor"), "who wrote it: {found}");

    let since = call("events_since", json!({"cursor": cursor})).await;
    let notes: Vec<&str> = since["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["event"]["payload"]["note"].as_str().unwrap())
        .collect();
    assert_eq!(
        notes,
        [
            "the sprinkler valve on level two is stiff",
            "valve replaced, the sprinkler test is due"
        ],
        "the feed from the earlier cursor holds the two notes, once"
    );
}
