//! The CLI front ends and the exact on-disk layout.

use serde_json::json;

use crate::support::{Data, files};

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

#[test]
fn group_files_have_the_documented_layout_and_shape() {
    let d = Data::new();
    let reply = d.send(
        -100123,
        456,
        "/add Fix login bug https://github.com/example/repo/issues/1 2026-12-01",
    );
    assert!(
        reply.starts_with(
            "Added bounty #1: Fix login bug\nLink: https://github.com/example/repo/issues/1\n"
        ) && reply.contains("\nDue: 2026-12-01 ("),
        "{reply}"
    );
    d.send(-100123, 456, "/track 1");
    assert_eq!(
        files(&d.dir()),
        [
            "-100123/.lock",
            "-100123/456.json",
            "-100123/group.json",
            ".lock",
            ".lock-gate"
        ]
    );

    let mut group = d.json("-100123/group.json");
    let created = group["bounties"][0]["created_at"].as_i64().unwrap();
    assert!((now() - created).abs() < 600, "created_at is now");
    group["bounties"][0]["created_at"] = json!(0);
    assert_eq!(
        group,
        json!({
            "group_id": -100123,
            "next_id": 2,
            "bounties": [{
                "id": 1,
                "created_by_user_id": 456,
                "text": "Fix login bug",
                "link": "https://github.com/example/repo/issues/1",
                "due_date_ts": 1_796_083_200,
                "created_at": 0
            }]
        })
    );
    assert_eq!(
        d.json("-100123/456.json"),
        json!({"user_id": 456, "tracked": [1]})
    );
}

#[test]
fn private_chat_files_have_the_documented_layout_and_shape() {
    let d = Data::new();
    d.send(123, 123, "/start");
    assert_eq!(
        files(&d.dir()),
        [".lock", ".lock-gate", "123/.lock", "123/user.json"]
    );
    assert_eq!(
        d.json("123/user.json"),
        json!({"user_id": 123, "next_id": 1, "bounties": [], "tracked": []})
    );
    d.send(123, 123, "/add Personal errand");
    d.send(123, 123, "/track 1");
    let user = d.json("123/user.json");
    assert_eq!(user["next_id"], 2);
    assert_eq!(user["tracked"], json!([1]));
    assert_eq!(user["bounties"][0]["text"], "Personal errand");
    assert_eq!(user["bounties"][0]["created_by_user_id"], 123);
    assert!(
        user["bounties"][0].get("link").is_none(),
        "absent optional fields are omitted"
    );
}

#[test]
fn repl_switches_sender_and_chat_and_prints_only_replies_when_piped() {
    let d = Data::new();
    let out = d.repl(
        &["--chat", "-100500", "--user", "1"],
        "/add shared task\n:as 2\n/edit 1 text=stolen\n/track 1\n:chat 2\n/add my own\nhello there\n/bounty\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0], "Added bounty #1: shared task",
        "no prompt or banner first"
    );
    assert_eq!(lines[1], "Only the creator of #1 can edit it.");
    assert!(lines[2].starts_with("Tracking #1"));
    assert_eq!(lines[3], "[Claim] [Done] [Untrack] [Delete]");
    assert_eq!(
        lines[4], "Added bounty #1: my own",
        "private chat of user 2 has its own ids"
    );
    assert_eq!(lines[5], "Your bounties");
    assert_eq!(lines[7], "[#1]", "the button that opens it");
    assert_eq!(lines.len(), 8, "plain chatter gets no reply: {stdout}");
    assert_eq!(
        files(&d.dir()),
        [
            "-100500/.lock",
            "-100500/2.json",
            "-100500/group.json",
            ".lock",
            ".lock-gate",
            "2/.lock",
            "2/user.json"
        ]
    );
}

/// Today's date in UTC, as the replies show it.
fn today() -> jiff::civil::Date {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date()
}

#[test]
fn repl_taps_the_last_replys_buttons_as_the_current_sender() {
    let d = Data::new();
    let out = d.repl(
        &["--chat", "-100500", "--user", "1"],
        "/show 1\n/add shared task\n/show 1\n:as 2\ntap Claim\n:as 3\ntap done\n\
         :as 1\ntap [Done]\ntap Delete\ntap Yes, delete\ntap Keep it\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let at = |i: usize| lines.get(i).copied().unwrap_or_default();
    assert!(at(0).starts_with("There is no bounty #1"), "{stdout}");
    assert_eq!(at(1), "Added bounty #1: shared task", "{stdout}");
    let shown = lines
        .iter()
        .position(|l| l.starts_with("Bounty #1"))
        .unwrap();
    let rest = &lines[shown..];
    let buttons = rest.iter().position(|l| l.starts_with('[')).unwrap();
    // Each tap's notice, then the message as it is now (its first line) and its
    // buttons.
    let seen: Vec<&str> = rest[buttons..]
        .iter()
        .copied()
        .filter(|l| {
            l.starts_with(['(', '['])
                || l.starts_with("Bounty #")
                || l.starts_with("Delete")
                || l.starts_with("tap:")
        })
        .collect();
    assert_eq!(
        seen,
        [
            "[Claim] [Done] [Track] [Delete]",
            // User 2 taps Claim: they claim it.
            "(toast) You claimed #1: shared task. /done 1 when it is finished.",
            "Bounty #1 (open)",
            "[Unclaim] [Done] [Track] [Delete]",
            // User 3 may not finish it: the same rule as /done.
            "(alert) Only the creator of #1, its claimer or a group administrator can finish it.",
            "Bounty #1 (open)",
            "[Unclaim] [Done] [Track] [Delete]",
            // Its creator may.
            "(toast) Done: bounty #1: shared task. /reopen 1 if it is not.",
            &format!("Bounty #1 (done on {})", today()),
            "[Unclaim] [Reopen] [Track] [Delete]",
            // Delete asks first.
            "Delete bounty #1: shared task? This cannot be undone.",
            "[Yes, delete] [Keep it]",
            "Deleted bounty #1.",
            "tap: the last reply has no buttons",
        ],
        "{stdout}"
    );
    assert_eq!(d.json("-100500/group.json")["bounties"], json!([]));
}

#[test]
fn repl_turns_a_listings_page_opens_a_bounty_and_claims_it_by_taps() {
    let d = Data::new();
    let mut input: String = (1..=21).map(|n| format!("/add task {n}\n")).collect();
    input.push_str("/bounty\n:as 2\ntap next\ntap #21\ntap Claim\ntap [◀ Prev]\n");
    let out = d.repl(&["--chat", "-100500", "--user", "1"], &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().skip(21).collect();
    let at = |i: usize| lines.get(i).copied().unwrap_or_default();
    // Page 1: its title, 20 lines, how to see the next, then the buttons.
    assert_eq!(at(0), "Bounties in this group (page 1 of 2)", "{stdout}");
    assert_eq!(
        at(22),
        "[#1] [#2] [#3] [#4] [#5] [#6] [#7] [#8]",
        "{stdout}"
    );
    assert_eq!(at(23), "[#9] [#10] [#11] [#12] [#13] [#14] [#15] [#16]");
    assert_eq!(at(24), "[#17] [#18] [#19] [#20]");
    assert_eq!(at(25), "[Next ▶]");
    // User 2 taps Next: page 2 of the same listing.
    assert_eq!(at(26), "Bounties in this group (page 2 of 2)", "{stdout}");
    assert!(at(27).starts_with("#21 task 21"), "{stdout}");
    assert_eq!(at(28), "[#21]");
    assert_eq!(at(29), "[◀ Prev]");
    // Taps #21: its view, with its actions.
    assert!(at(30).starts_with("Bounty #21"), "{stdout}");
    let buttons = 30 + lines[30..].iter().position(|l| l.starts_with('[')).unwrap();
    assert_eq!(
        lines[buttons], "[Claim] [Done] [Track] [Delete]",
        "{stdout}"
    );
    // Taps Claim: user 2 claims it; Prev is no longer offered.
    assert_eq!(
        lines[buttons + 1..]
            .iter()
            .copied()
            .filter(|l| l.starts_with(['(', '[']) || l.starts_with("tap:"))
            .collect::<Vec<_>>(),
        [
            "(toast) You claimed #21: task 21. /done 21 when it is finished.",
            "[Unclaim] [Done] [Track] [Delete]",
            "tap: no such button; there are [Unclaim] [Done] [Track] [Delete]",
        ],
        "{stdout}"
    );
    let group = d.json("-100500/group.json");
    assert_eq!(group["bounties"][20]["id"], json!(21));
    assert_eq!(group["bounties"][20]["claimed_by_user_id"], json!(2));
}

#[test]
fn send_shows_the_buttons_under_the_reply() {
    let d = Data::new();
    d.send(-100123, 7, "/add shared");
    assert_eq!(
        d.send(-100123, 8, "/claim 1"),
        "You claimed #1: shared. /done 1 when it is finished.\n\
         [Unclaim] [Done] [Track] [Delete]\n"
    );
    assert_eq!(
        send_with(&d, &["--raw"], "/done 1"),
        "Only the creator of #1, its claimer or a group administrator can finish it.\n\
         [Unclaim] [Done] [Track] [Delete]\n",
        "user 456 sees the buttons as they stand for them"
    );
    assert_eq!(
        send_with(&d, &["--raw"], "/track 1"),
        "Tracking #1. See your list with /my.\n[Unclaim] [Done] [Untrack] [Delete]\n"
    );
}

#[test]
fn repl_defaults_to_a_private_chat() {
    let d = Data::new();
    let out = d.repl(&[], "/add solo\n");
    assert!(out.status.success());
    assert_eq!(d.json("1/user.json")["bounties"][0]["text"], "solo");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let d = Data::new();
    let out = d.cmd().args(["send", "--chat", "5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = d
        .cmd()
        .args(["send", "--chat", "0", "--user", "1", "/bounty"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = d.cmd().args(["repl", "--user", "-3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let help = d.cmd().arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("repl") && help.contains("send"));
}

#[test]
fn bot_username_decides_which_addressed_commands_are_answered() {
    let d = Data::new();
    let out = d
        .cmd()
        .args([
            "--bot-username",
            "TrackerBot",
            "send",
            "--chat",
            "-1",
            "--user",
            "1",
            "/bounty@OtherBot",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let out = d
        .cmd()
        .args([
            "--bot-username",
            "TrackerBot",
            "send",
            "--chat",
            "-1",
            "--user",
            "1",
            "/bounty@trackerbot",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("No bounties yet")
    );
}

#[test]
fn a_damaged_file_is_reported_kept_and_leaves_everything_else_working() {
    let d = Data::new();
    d.send(-300, 7, "/add shared");
    d.send(-300, 7, "/track 1");
    d.send(-300, 8, "/track 1");
    let member = d.dir().join("-300/7.json");
    std::fs::write(&member, "{\"user_id\": 7,\n \"tracked\": [1,]}\n").unwrap();
    let before = std::fs::read(&member).unwrap();

    for cmd in ["/my", "/track 1", "/untrack 1"] {
        assert_eq!(
            d.send(-300, 7, cmd),
            "⚠️ stored data of chat -300 is damaged (-300/7.json, line 2, column 16); nothing was changed\n",
            "{cmd}"
        );
    }
    assert_eq!(std::fs::read(&member).unwrap(), before, "never overwritten");
    // The group's bounties, another member's bookmarks and other chats still work.
    assert!(d.send(-300, 7, "/bounty").contains("shared"));
    assert!(d.send(-300, 8, "/my").contains("shared"));
    assert_eq!(d.send(-300, 8, "/add more"), "Added bounty #2: more\n");
    assert_eq!(
        d.send(-400, 7, "/add elsewhere"),
        "Added bounty #1: elsewhere\n"
    );
}

fn run_webhook_with_secret(secret: &str, token: Option<&str>) -> std::process::Output {
    let d = Data::new();
    let mut cmd = d.cmd();
    cmd.args([
        "run",
        "--webhook",
        "https://bot.example.org/hook",
        "--listen",
        "127.0.0.1:1",
    ])
    .env("BOUNTYBOT_WEBHOOK_SECRET", secret)
    .env_remove("BOUNTYBOT_TOKEN")
    .env_remove("TELOXIDE_TOKEN");
    if let Some(token) = token {
        cmd.env("BOUNTYBOT_TOKEN", token);
    }
    cmd.output().unwrap()
}

#[test]
fn webhook_mode_refuses_a_short_or_malformed_secret_and_says_how_to_make_one() {
    for (secret, why) in [
        ("0123456789abcde", "15 characters, fewer than the 16"),
        ("0123456789abcdef!", "which Telegram does not accept"),
    ] {
        let out = run_webhook_with_secret(secret, Some("123456:TEST"));
        assert_eq!(out.status.code(), Some(2), "{secret}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{err}");
        assert!(err.contains("openssl rand -hex 32"), "{err}");
        assert!(!err.contains(secret), "the secret is not echoed: {err}");
    }
}

#[test]
fn webhook_mode_accepts_a_16_character_secret() {
    // Without a token the run stops at the next check, after the secret's.
    let out = run_webhook_with_secret("0123456789abcdef", None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no bot token"), "{err}");
    assert!(!err.contains("webhook secret"), "{err}");
}

#[test]
fn webhook_mode_refuses_to_start_without_a_secret() {
    let d = Data::new();
    let out = d
        .cmd()
        .args([
            "run",
            "--webhook",
            "https://bot.example.org/hook",
            "--listen",
            "127.0.0.1:1",
        ])
        .env("BOUNTYBOT_TOKEN", "123456:TEST")
        .env_remove("BOUNTYBOT_WEBHOOK_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a secret"), "{err}");
}

#[cfg(unix)]
#[test]
fn the_first_write_creates_only_owner_only_files_and_directories_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    for sqlite in [false, true] {
        let d = Data::new();
        let mut args = vec!["-c", "umask 022; exec \"$0\" \"$@\"", crate::support::BIN];
        if sqlite {
            args.extend(["--storage", "sqlite"]);
        }
        args.extend(["send", "--chat", "-300", "--user", "7", "/add first"]);
        let out = std::process::Command::new("sh")
            .args(&args)
            .env("BOUNTYBOT_DATA_DIR", d.dir())
            .env_remove("BOUNTYBOT_USERNAME")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut todo = vec![d.dir()];
        let mut seen = 0;
        while let Some(p) = todo.pop() {
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            let want = if meta.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(mode, want, "{} is {mode:o} (sqlite: {sqlite})", p.display());
            seen += 1;
            if meta.is_dir() {
                for e in std::fs::read_dir(&p).unwrap() {
                    todo.push(e.unwrap().path());
                }
            }
        }
        assert!(seen >= 3, "the write made files (sqlite: {sqlite})");
    }
}

/// `bountybot send` with `args` before the message; stdout, asserting success.
fn send_with(d: &Data, args: &[&str], message: &str) -> String {
    let out = d
        .cmd()
        .args(["send", "--chat", "-100123", "--user", "456"])
        .args(args)
        .arg(message)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn send_prints_the_reply_as_read_and_raw_keeps_the_html() {
    let d = Data::new();
    let add = "/add Pay <Bob> & \"Ann\" https://x.org/?a=1&b=2 \u{1b}[2J";
    assert_eq!(
        send_with(&d, &[], add),
        "Added bounty #1: Pay <Bob> & \"Ann\" https://x.org/?a=1&b=2 \u{FFFD}[2J\n\
         Link: https://x.org/?a=1&b=2\n",
        "read as text; someone's escape sequence is not passed to the terminal"
    );
    let shown = send_with(&d, &[], "/show 1");
    assert!(
        shown.starts_with("Bounty #1 (open)\nPay <Bob> & \"Ann\" https://x.org/?a=1&b=2 "),
        "{shown}"
    );
    assert!(
        !shown.contains("</") && !shown.contains("<a ") && !shown.contains("&lt;"),
        "{shown}"
    );
    assert_eq!(
        send_with(&d, &["--raw"], "/add Fix <this>"),
        "Added bounty <b>#2</b>: Fix &lt;this&gt;\n"
    );
    let raw = send_with(&d, &["--raw"], "/show 1");
    assert!(
        raw.starts_with("<b>Bounty #1</b> (open)\nPay &lt;Bob&gt; &amp; &quot;Ann&quot; <a href=\"https://x.org/?a=1&amp;b=2\">"),
        "{raw}"
    );
}

/// Runs `bountybot send` on a pseudo-terminal (through `script`), or `None` (said
/// loudly) when `script` is missing and `BOUNTYBOT_REQUIRE_SCRIPT=1` is not set.
fn send_on_a_terminal(d: &Data, no_color: Option<&str>, message: &str) -> Option<String> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|p| p.join("script").is_file()));
    if !found {
        if std::env::var("BOUNTYBOT_REQUIRE_SCRIPT").is_ok_and(|v| v == "1") {
            panic!("BOUNTYBOT_REQUIRE_SCRIPT=1 but script (util-linux) is not installed");
        }
        eprintln!(
            "\n!!!! SKIPPED terminal check of send: script not found; install util-linux !!!!\n"
        );
        return None;
    }
    let mut cmd = std::process::Command::new("script");
    cmd.args([
        "-qec",
        "exec \"$BB_BIN\" send --chat -100123 --user 456 \"$BB_MESSAGE\"",
        "/dev/null",
    ])
    .env("BOUNTYBOT_DATA_DIR", d.dir())
    .env_remove("BOUNTYBOT_USERNAME")
    .env("BB_BIN", crate::support::BIN)
    .env("BB_MESSAGE", message)
    .stdin(std::process::Stdio::null());
    match no_color {
        Some(v) => cmd.env("NO_COLOR", v),
        None => cmd.env_remove("NO_COLOR"),
    };
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap().replace("\r\n", "\n"))
}

#[test]
fn on_a_terminal_bold_is_bold_unless_no_color_is_set() {
    let d = Data::new();
    let Some(bold) = send_on_a_terminal(&d, None, "/add On a terminal") else {
        return;
    };
    assert_eq!(bold, "Added bounty \u{1b}[1m#1\u{1b}[22m: On a terminal\n");
    let Some(plain) = send_on_a_terminal(&d, Some("1"), "/add No colour") else {
        return;
    };
    assert_eq!(plain, "Added bounty #2: No colour\n");
}

/// The line before each transcript in the docs that this test runs.
const CHECKED: &str = "<!-- transcript checked by crates/bountybot/tests/it/cli.rs -->";

/// Each `$ command` of the transcripts marked [`CHECKED`] in `docs`, with the output
/// shown under it. A command goes on over lines ending in `\`.
fn transcripts(docs: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut lines = docs.lines();
    while let Some(line) = lines.next() {
        if line != CHECKED {
            continue;
        }
        assert_eq!(lines.next(), Some("```console"), "a console block follows");
        let mut current: Option<(String, String)> = None;
        let mut continued = false;
        for line in lines.by_ref() {
            if line == "```" {
                break;
            }
            if continued {
                let (command, _) = current.as_mut().unwrap();
                command.push('\n');
                command.push_str(line);
                continued = line.ends_with('\\');
            } else if let Some(command) = line.strip_prefix("$ ") {
                found.extend(current.take());
                current = Some((command.to_string(), String::new()));
                continued = line.ends_with('\\');
            } else {
                let (_, output) = current.as_mut().expect("output after a command");
                output.push_str(line);
                output.push('\n');
            }
        }
        found.extend(current);
    }
    found
}

#[test]
fn the_transcripts_in_the_docs_are_what_the_commands_print() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/bountybot.md");
    let docs = std::fs::read_to_string(path).unwrap();
    let shown = transcripts(&docs);
    assert!(
        !shown.is_empty(),
        "no transcript marked {CHECKED} in {path}"
    );
    let bin_dir = std::path::Path::new(crate::support::BIN).parent().unwrap();
    let path_var = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (command, want) in shown {
        let d = Data::new();
        let out = std::process::Command::new("bash")
            .args(["-c", &format!("set -o pipefail; {command}")])
            .env("PATH", &path_var)
            .env("BOUNTYBOT_DATA_DIR", d.dir())
            .env_remove("BOUNTYBOT_USERNAME")
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The docs were written on 2026-12-07.
        let got = String::from_utf8(out.stdout)
            .unwrap()
            .replace(&today().to_string(), "2026-12-07");
        assert_eq!(got, want, "{command}");
    }
}
