//! `honestcam study` in the terminal, driven as a person or a script would: the real
//! binary in a pseudo-terminal (tmux) with keys, line by line from a pipe, against a
//! running portal with a token; and `study import` of the old quiz's progress file.
//! What the terminal saved is then read back through the portal's study page.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use honestcam::domain::questions::Question;
use honestcam::domain::quiz::{self, study_order};
use honestcam::domain::{Identity, Progress, Role};
use honestcam::service::study;
use serde_json::{Value, json};

use crate::auth::named_token;
use crate::support::{App, Fixture, SLUG, client, count, migrated, snapshot, state};

const BIN: &str = env!("CARGO_BIN_EXE_honestcam");

/// The operator, as `serve --auth none` and the terminal's default `--as` name it.
fn local() -> Identity {
    Identity::new("local", Role::Admin)
}

/// The first `n` questions a session over empty progress asks.
fn first_questions(n: usize) -> Vec<&'static Question> {
    study_order(&Progress::new()).unwrap()[..n].to_vec()
}

fn wrong(q: &Question) -> usize {
    (q.answer + 1) % q.choices.len()
}

/// Answers each of `questions` wrong through the portal's study page, all at once.
async fn answer_wrong_on_the_page(app: &App, questions: &[&Question]) {
    let posts: Vec<_> = questions
        .iter()
        .map(|q| {
            let url = app.url("/study/answer");
            let form = [
                ("question", q.id.to_string()),
                ("choice", wrong(q).to_string()),
            ];
            tokio::spawn(async move {
                client()
                    .post(url)
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for p in posts {
        assert_eq!(p.await.unwrap(), 303);
    }
}

/// The progress of `who`'s study user, and its display name.
fn saved(f: &Fixture, who: &Identity) -> (String, Progress) {
    let storage = f.storage();
    let user = study::own_user(&storage, &f.slug(), who)
        .unwrap()
        .expect("a study user");
    let blob = study::progress(&storage, &f.slug(), &user.user_id)
        .unwrap()
        .unwrap_or_default();
    (user.name, blob)
}

/// The recorded choice of each answered question.
fn choices(blob: &Progress) -> Vec<(String, usize, bool)> {
    let mut out: Vec<_> = blob["quiz"]["answers"]
        .as_object()
        .map(|a| {
            a.iter()
                .map(|(id, r)| {
                    (
                        id.clone(),
                        r["choice"].as_u64().unwrap() as usize,
                        r["correct"].as_bool().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn sorted(mut v: Vec<(String, usize, bool)>) -> Vec<(String, usize, bool)> {
    v.sort();
    v
}

/// The portal's study page for the operator (`--auth none`).
async fn study_page(app: &App) -> String {
    let r = client().get(app.url("/study/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_plain_session_from_a_script_saves_each_answer_and_the_portal_shows_them() {
    let f = migrated();
    let qs = first_questions(3);
    let input = format!(
        "{}\n{}\n{}\n",
        qs[0].answer + 1,
        wrong(qs[1]) + 1,
        qs[2].answer + 1
    );
    let out = f.run_stdin(
        &[
            "study",
            "--property",
            SLUG,
            "--user",
            "Kim",
            "--plain",
            "--count",
            "3",
        ],
        &input,
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("Studying as Kim"), "{text}");
    assert!(
        text.contains(&format!("Question 1 of 3 ({})", qs[0].topic.label())),
        "{text}"
    );
    assert!(text.contains(qs[1].explanation), "the explanation: {text}");
    assert!(text.contains("Not quite. The answer is"), "{text}");
    assert!(
        text.contains("Score: 2 of 3 right this session"),
        "running score: {text}"
    );
    assert!(
        text.contains("Session over: 3 answered, 2 right."),
        "{text}"
    );
    assert!(
        text.contains(&format!("Topics that need work: {}.", qs[1].topic.label())),
        "weak topics: {text}"
    );

    let (name, blob) = saved(&f, &local());
    assert_eq!(name, "Kim");
    assert_eq!(
        choices(&blob),
        sorted(vec![
            (qs[0].id.to_string(), qs[0].answer, true),
            (qs[1].id.to_string(), wrong(qs[1]), false),
            (qs[2].id.to_string(), qs[2].answer, true),
        ])
    );

    let app = f.spawn_app(&[], &[]);
    let page = study_page(&app).await;
    assert!(
        page.contains(r#"<strong id="study-user">Kim</strong>"#),
        "{page}"
    );
    assert!(page.contains("Score: 2 of 3 right (66%)"), "{page}");
}

#[test]
fn a_plain_session_asks_again_after_a_line_that_is_no_choice_and_stops_on_q() {
    let f = migrated();
    let qs = first_questions(2);
    let long = "9".repeat(5_000);
    let input = format!("five\n{long}\n{}\nq\n", qs[0].answer + 1);
    let out = f.run_stdin(
        &["study", "--property", SLUG, "--user", "Kim", "--plain"],
        &input,
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("type a number from 1 to"), "{text}");
    assert!(
        text.contains("that line has 5001 bytes; an answer has at most 256"),
        "{text}"
    );
    assert!(
        text.contains("Session over: 1 answered, 1 right."),
        "{text}"
    );
    assert_eq!(choices(&saved(&f, &local()).1).len(), 1);

    // Lines that are no choice, on and on: the session stops, keeping nothing.
    let out = f.run_stdin(
        &["study", "--property", SLUG, "--user", "Kim", "--plain"],
        &"x\n".repeat(1_000),
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("stopping after 5 lines"), "{text}");
    assert_eq!(choices(&saved(&f, &local()).1).len(), 1);
}

#[test]
fn each_identity_studies_as_its_own_user_and_a_viewer_is_refused() {
    let f = migrated();
    f.ok(&["user", "add", "kim@example.org", "--role", "editor"]);
    f.ok(&["user", "add", "vic@example.org", "--role", "viewer"]);
    let q = first_questions(1)[0];
    let answer = format!("{}\n", q.answer + 1);
    let args = |who: &'static str| {
        vec![
            "study",
            "--property",
            SLUG,
            "--user",
            "Kim",
            "--plain",
            "--count",
            "1",
            "--as",
            who,
        ]
    };
    let out = f.run_stdin(&args("kim@example.org"), &answer);
    assert!(out.status.success(), "{}", stderr(&out));
    let kim = Identity::new("kim@example.org", Role::Editor);
    assert_eq!(choices(&saved(&f, &kim).1).len(), 1);
    // The operator has no study user: nothing of kim's became theirs.
    assert!(
        study::own_user(&f.storage(), &f.slug(), &local())
            .unwrap()
            .is_none()
    );

    let out = f.run_stdin(&args("vic@example.org"), &answer);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "vic@example.org is a viewer; answering and keeping study progress needs an editor"
        ),
        "{}",
        stderr(&out)
    );
    let out = f.run_stdin(&args("nobody@example.org"), &answer);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no account \"nobody@example.org\""),
        "{}",
        stderr(&out)
    );
    // kim's user is "Kim": another name is a mistake, said so.
    let mut other = args("kim@example.org");
    other[4] = "Kimberly";
    let out = f.run_stdin(&other, &answer);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("studies as \"Kim\""),
        "{}",
        stderr(&out)
    );
    assert_eq!(choices(&saved(&f, &kim).1).len(), 1, "nothing more saved");
}

/// A tmux server of the test's own (its socket in the temp dir), killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// A new server running `command` in a 100x40 pane that stays after it exits;
    /// `None` (after a loud SKIPPED) when tmux is missing and not required.
    fn start(dir: &Path, command: &str) -> Option<Tmux> {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var_os("HONESTCAM_REQUIRE_TMUX").is_none(),
                "HONESTCAM_REQUIRE_TMUX=1 but tmux is not installed"
            );
            eprintln!("\n!!!! SKIPPED terminal test: tmux is not installed !!!!\n");
            return None;
        }
        let conf = dir.join("tmux.conf");
        std::fs::write(
            &conf,
            "set -g remain-on-exit on\nset -g history-limit 1000\n",
        )
        .unwrap();
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let conf = conf.to_str().unwrap().to_string();
        tmux.run(&[
            "-f",
            &conf,
            "new-session",
            "-d",
            "-s",
            "study",
            "-x",
            "100",
            "-y",
            "40",
            command,
        ]);
        Some(tmux)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.run(&["send-keys", "-t", "study", key]);
        }
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "study"])
    }

    fn format(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "study", format])
            .trim()
            .to_string()
    }

    /// Waits until the screen shows `text`, and returns the screen.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the program in the pane has exited.
    fn wait_exit(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.format("#{pane_dead}") != "1" {
            assert!(
                Instant::now() < deadline,
                "still running:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

#[tokio::test]
async fn a_keyboard_session_in_a_terminal_keeps_its_answers_when_stopped_with_ctrl_c() {
    let f = migrated();
    let qs = first_questions(4);
    // The exit status goes to a file: tmux does not always learn it.
    let status = f.tmp.path().join("status");
    let command = format!(
        "'{BIN}' --data-dir '{}' study --property {SLUG} --user Kim --count 5; echo $? > '{}'",
        f.dir().display(),
        status.display()
    );
    let Some(tmux) = Tmux::start(f.tmp.path(), &command) else {
        return;
    };
    let screen = tmux.wait_for("Question 1 of 5");
    assert!(screen.contains(qs[0].prompt), "{screen}");
    assert!(
        screen.contains("Score: 0 of 0 right this session"),
        "{screen}"
    );
    assert_eq!(tmux.format("#{alternate_on}"), "1", "a full-screen session");
    // The arrows: down once, Enter.
    tmux.keys(&["Down", "Enter"]);
    let screen = tmux.wait_for("Any key for the next question");
    let first_right = qs[0].answer == 1;
    assert!(screen.contains(&qs[0].explanation[..40]), "{screen}");
    assert!(
        screen.contains(if first_right { "Right!" } else { "Not quite" }),
        "{screen}"
    );
    tmux.keys(&["n"]);
    // A number key answers at once.
    tmux.wait_for("Question 2 of 5");
    let digit = (qs[1].answer + 1).to_string();
    tmux.keys(&[&digit]);
    let screen = tmux.wait_for("Any key for the next question");
    assert!(screen.contains("Right!"), "{screen}");
    let expected = u32::from(first_right) + 1;
    assert!(
        screen.contains(&format!("Score: {expected} of 2 right this session")),
        "the running score: {screen}"
    );
    tmux.keys(&["Space"]);
    tmux.wait_for("Question 3 of 5");
    tmux.keys(&["Down", "Down", "Up", "Down", "Enter"]);
    tmux.wait_for("Any key for the next question");
    tmux.keys(&["x"]);
    // Ctrl-C in the middle of the fourth question.
    tmux.wait_for("Question 4 of 5");
    tmux.keys(&["C-c"]);
    tmux.wait_exit();
    assert_eq!(
        std::fs::read_to_string(&status).unwrap().trim(),
        "0",
        "a clean exit"
    );
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "0",
        "back on the main screen"
    );
    let screen = tmux.wait_for("Topics that need work");
    assert!(!screen.contains("Question 4 of 5"), "{screen}");
    let all = tmux.run(&["capture-pane", "-p", "-S", "-", "-t", "study"]);
    assert!(
        all.contains("Session over: 3 answered"),
        "the report on the main screen:\n{all}"
    );
    drop(tmux);

    let (_, blob) = saved(&f, &local());
    let third = 2.min(qs[2].choices.len() - 1);
    assert_eq!(
        choices(&blob),
        sorted(vec![
            (qs[0].id.to_string(), 1, first_right),
            (qs[1].id.to_string(), qs[1].answer, true),
            (qs[2].id.to_string(), third, qs[2].answer == third),
        ])
    );
    let app = f.spawn_app(&[], &[]);
    let page = study_page(&app).await;
    assert!(
        page.contains(r#"<strong id="study-user">Kim</strong>"#),
        "{page}"
    );
    let right = choices(&blob).iter().filter(|c| c.2).count();
    assert!(
        page.contains(&format!("Score: {right} of 3 right")),
        "{page}"
    );
}

/// Runs `honestcam study` against `app` with `env` and `input`.
fn remote(
    f: &Fixture,
    app: &App,
    extra: &[&str],
    env: &[(&str, &str)],
    input: &str,
) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["study", "--portal", &app.base, "--property", SLUG])
        .args(extra)
        // Remote mode needs no data dir: point it at one that does not exist.
        .env("HONESTCAM_DATA_DIR", f.tmp.path().join("not-here"))
        .env_remove("HONESTCAM_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn remote_mode_studies_through_the_portal_as_the_tokens_identity() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let (who, secret) = named_token(&f, "editor");
    let qs = first_questions(2);
    let input = format!("{}\n{}\n", qs[0].answer + 1, wrong(qs[1]) + 1);
    let out = remote(
        &f,
        &app,
        &["--user", "Remy", "--plain", "--count", "2"],
        &[("HONESTCAM_TOKEN", &secret)],
        &input,
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains(&format!("{SLUG} at {}/", app.base)), "{text}");
    assert!(
        text.contains("Session over: 2 answered, 1 right."),
        "{text}"
    );
    assert!(!f.tmp.path().join("not-here").exists(), "no data dir made");
    let token_identity = Identity::new(who.as_str(), Role::Editor);
    let (name, blob) = saved(&f, &token_identity);
    assert_eq!(name, "Remy");
    assert_eq!(choices(&blob).len(), 2);

    // The token from a file; the session goes on where it stopped.
    let file = f.tmp.path().join("token");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let next = study_order(&blob).unwrap()[0];
    let out = remote(
        &f,
        &app,
        &[
            "--user",
            "Remy",
            "--plain",
            "--count",
            "1",
            "--token-file",
            file.to_str().unwrap(),
        ],
        &[],
        &format!("{}\n", next.answer + 1),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, blob) = saved(&f, &token_identity);
    assert_eq!(quiz::summarize(&blob).unwrap().correct, 2);
}

#[tokio::test]
async fn remote_mode_refuses_a_read_only_a_wrong_or_a_missing_token_clearly() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let read_only = f
        .ok(&[
            "token",
            "create",
            "--name",
            "indexer",
            "--role",
            "editor",
            "--read-only",
        ])
        .trim()
        .to_string();
    let args = ["--user", "Remy", "--plain"];
    let out = remote(&f, &app, &args, &[("HONESTCAM_TOKEN", &read_only)], "1\n");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("HTTP 403"), "{err}");
    assert!(err.contains("token:indexer is a read-only token"), "{err}");
    assert!(
        !err.contains(&read_only),
        "the secret is never shown: {err}"
    );

    let out = remote(
        &f,
        &app,
        &args,
        &[("HONESTCAM_TOKEN", "hc_0000000000000000")],
        "1\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(err.contains("the bearer token is not valid"), "{err}");

    let out = remote(&f, &app, &args, &[], "1\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("remote mode needs an API token in the environment variable HONESTCAM_TOKEN"),
        "{}",
        stderr(&out)
    );
    // Nobody studied: no study user was made for any of them.
    let users = study::users(&f.storage(), &f.slug()).unwrap();
    assert!(
        users
            .iter()
            .all(|u| u.owner.as_deref() != Some("token:indexer")),
        "{users:?}"
    );
}

#[tokio::test]
async fn answers_in_the_portal_and_in_the_terminal_at_once_all_land() {
    for migrate in [true, false] {
        let f = if migrate { migrated() } else { Fixture::new() };
        let app = f.spawn_app(&[], &[]);
        let order = first_questions(16);
        let (terminal, portal) = order.split_at(8);
        let mut child = Command::new(BIN)
            .args(["study", "--property", SLUG, "--user", "Kim", "--plain"])
            .args(["--count", "8"])
            .env("HONESTCAM_DATA_DIR", f.dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // The session has read the progress and chosen its questions.
        for line in lines.by_ref() {
            if line.unwrap().starts_with("Question 1 of 8") {
                break;
            }
        }
        let reader = std::thread::spawn(move || lines.map(Result::unwrap).collect::<Vec<_>>());
        let mut stdin = child.stdin.take().unwrap();
        let answers: String = terminal
            .iter()
            .map(|q| format!("{}\n", q.answer + 1))
            .collect();
        let typing = std::thread::spawn(move || {
            for line in answers.lines() {
                stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
                stdin.flush().unwrap();
            }
        });
        // Meanwhile, the portal's page answers the other questions as the same user.
        answer_wrong_on_the_page(&app, portal).await;
        typing.join().unwrap();
        let out = child.wait_with_output().unwrap();
        let text = reader.join().unwrap().join("\n");
        assert!(out.status.success(), "{text}{}", stderr(&out));
        assert!(
            text.contains("Session over: 8 answered, 8 right."),
            "{text}"
        );
        let (name, blob) = saved(&f, &local());
        assert_eq!(name, "Kim", "one user for the operator");
        let mut expected: Vec<_> = terminal
            .iter()
            .map(|q| (q.id.to_string(), q.answer, true))
            .chain(portal.iter().map(|q| (q.id.to_string(), wrong(q), false)))
            .collect();
        expected.sort();
        assert_eq!(choices(&blob), expected, "migrated: {migrate}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_while_the_portal_takes_answers_loses_neither() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let order = first_questions(17);
    let (portal, rest) = order.split_at(8);
    let (imported, first) = rest.split_at(8);
    let blob = |qs: &[&Question]| {
        let answers: serde_json::Map<String, Value> = qs
            .iter()
            .map(|q| {
                let at = "2026-01-05T10:00:00Z";
                (
                    q.id.to_string(),
                    json!({"choice": q.answer, "correct": true, "at": at}),
                )
            })
            .collect();
        json!({"quiz": {"answers": answers}}).to_string()
    };
    // The user exists, named Kim, before the two meet.
    let file = legacy_file(&f, &blob(first));
    let out = run_import(&f, &file, "Kim", &["--execute"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The import runs while the portal's page answers other questions as the same user.
    let file = legacy_file(&f, &blob(imported));
    let importing = {
        let mut args = vec!["study".to_string(), "import".into()];
        args.push(file.to_str().unwrap().into());
        args.extend(["--property", SLUG, "--user", "Kim", "--execute"].map(String::from));
        Command::new(BIN)
            .args(&args)
            .env("HONESTCAM_DATA_DIR", f.dir())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    answer_wrong_on_the_page(&app, portal).await;
    let out = tokio::task::block_in_place(|| importing.wait_with_output()).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (name, blob) = saved(&f, &local());
    assert_eq!(name, "Kim");
    let mut expected: Vec<_> = first
        .iter()
        .chain(imported)
        .map(|q| (q.id.to_string(), q.answer, true))
        .chain(portal.iter().map(|q| (q.id.to_string(), wrong(q), false)))
        .collect();
    expected.sort();
    assert_eq!(choices(&blob), expected, "every answer of both");
}

/// The old quiz's file, in a folder of its own.
fn legacy_file(f: &Fixture, content: &str) -> PathBuf {
    let dir = f.tmp.path().join("home").join(".honestcam");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cam-study-progress.json");
    std::fs::write(&path, content).unwrap();
    path
}

fn import(f: &Fixture, file: &Path, mode: &str) -> Value {
    let file = file.to_str().unwrap();
    f.plan(&[
        "study",
        "import",
        file,
        "--property",
        SLUG,
        "--user",
        "Kim",
        mode,
    ])
}

/// `honestcam study import FILE --property SLUG --user USER EXTRA...`.
fn run_import(f: &Fixture, file: &Path, user: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "study",
        "import",
        file.to_str().unwrap(),
        "--property",
        SLUG,
    ];
    args.extend(["--user", user]);
    args.extend(extra);
    f.run(&args)
}

/// A blob of the old quiz: two answers, an old and a recent one, and keys of its own.
fn old_blob() -> Value {
    let qs = first_questions(2);
    json!({
        "quiz": {"answers": {
            qs[0].id: {"choice": qs[0].answer, "correct": true, "at": "2026-01-05T10:00:00Z"},
            qs[1].id: {"choice": wrong(qs[1]), "correct": false, "at": "2026-01-06T10:00:00Z"},
        }},
        "streak": 3,
        "last_topic": "caps",
    })
}

#[test]
fn import_dry_run_changes_nothing_then_execute_merges_and_archives_and_a_rerun_is_a_no_op() {
    let f = migrated();
    let qs = first_questions(2);
    let file = legacy_file(&f, &serde_json::to_string_pretty(&old_blob()).unwrap());
    let home = file.parent().unwrap().to_path_buf();

    // The user answered qs[0] in the portal since (newer than the file's answer).
    let out = f.run_stdin(
        &[
            "study",
            "--property",
            SLUG,
            "--user",
            "Kim",
            "--plain",
            "--count",
            "1",
        ],
        &format!("{}\n", wrong(qs[0]) + 1),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let before = (state(&f.storage(), &f.slug()), snapshot(&home));
    let plan = import(&f, &file, "--dry-run");
    assert_eq!(count(&plan, "add answers"), 1, "{plan}");
    assert_eq!(count(&plan, "replace older answers"), 0, "{plan}");
    assert_eq!(count(&plan, "add other keys"), 2, "{plan}");
    assert_eq!(count(&plan, "archive the file"), 1, "{plan}");
    assert!(
        plan["notes"]
            .to_string()
            .contains("kept the user's answer to 1 questions"),
        "{plan}"
    );
    assert_eq!(
        before,
        (state(&f.storage(), &f.slug()), snapshot(&home)),
        "a dry run changes nothing"
    );

    let plan = import(&f, &file, "--execute");
    assert_eq!(plan["changes"], true);
    assert!(!file.exists(), "the file is archived");
    let archived: Vec<_> = std::fs::read_dir(home.join("_legacy"))
        .unwrap()
        .map(|e| e.unwrap().path().join("cam-study-progress.json"))
        .collect();
    assert_eq!(archived.len(), 1);
    assert!(archived[0].is_file());
    let (_, blob) = saved(&f, &local());
    assert_eq!(
        choices(&blob),
        sorted(vec![
            (qs[0].id.to_string(), wrong(qs[0]), false),
            (qs[1].id.to_string(), wrong(qs[1]), false),
        ]),
        "the newer answer of the portal's kept, the file's other answer added"
    );
    assert_eq!(blob["streak"], 3, "unknown keys kept");
    assert_eq!(blob["last_topic"], "caps");

    let after = state(&f.storage(), &f.slug());
    let plan = import(&f, &file, "--execute");
    assert_eq!(plan["changes"], false, "{plan}");
    assert!(
        plan["notes"].to_string().contains("already imported"),
        "{plan}"
    );
    assert_eq!(after, state(&f.storage(), &f.slug()), "a re-run is a no-op");

    // The file put back (a crash before the archive): nothing merged, it is archived.
    std::fs::copy(&archived[0], &file).unwrap();
    let plan = import(&f, &file, "--execute");
    assert_eq!(count(&plan, "add answers"), 0, "{plan}");
    assert_eq!(count(&plan, "add other keys"), 0, "{plan}");
    assert_eq!(count(&plan, "archive the file"), 1, "{plan}");
    assert!(!file.exists());
    assert_eq!(saved(&f, &local()).1, blob);
}

#[test]
fn import_takes_the_users_entry_of_a_map_of_progress_blobs() {
    let f = Fixture::new();
    let map = json!({"Kim": old_blob(), "Lee": {"quiz": {"answers": {}}}});
    let file = legacy_file(&f, &map.to_string());
    let plan = import(&f, &file, "--execute");
    assert_eq!(count(&plan, "add answers"), 2, "{plan}");
    let (name, blob) = saved(&f, &local());
    assert_eq!(name, "Kim");
    assert_eq!(choices(&blob).len(), 2);

    // A map without the user's entry names what it has.
    let file = legacy_file(
        &f,
        &json!({"Lee": old_blob(), "Max": old_blob()}).to_string(),
    );
    let out = run_import(&f, &file, "Kim", &["--execute"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("holds progress for Lee, Max, not for Kim"),
        "{}",
        stderr(&out)
    );
    assert!(file.exists(), "a refused file stays where it is");

    // Only an editor or admin keeps progress: a viewer's import is refused.
    f.ok(&["user", "add", "vic@example.org", "--role", "viewer"]);
    let file = legacy_file(&f, &old_blob().to_string());
    let out = run_import(&f, &file, "Vic", &["--as", "vic@example.org", "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("vic@example.org is a viewer"),
        "{}",
        stderr(&out)
    );
    assert!(file.exists());
}

#[test]
fn import_refuses_a_malformed_or_oversized_file_naming_the_fault() {
    let f = migrated();
    let file = legacy_file(
        &f,
        "{\n  \"quiz\": {\"answers\": {\n    \"x\": [1,,2]\n}}}\n",
    );
    let before = state(&f.storage(), &f.slug());
    let out = run_import(&f, &file, "Kim", &["--execute"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cam-study-progress.json at line 3, column"),
        "{err}"
    );
    assert!(file.exists());
    assert_eq!(before, state(&f.storage(), &f.slug()), "nothing changed");

    // An answer whose time is not a time.
    let qs = first_questions(1);
    let bad =
        json!({"quiz": {"answers": {qs[0].id: {"choice": 0, "correct": true, "at": "last week"}}}});
    std::fs::write(&file, bad.to_string()).unwrap();
    let out = run_import(&f, &file, "Kim", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has \"at\": \"last week\", which is not an RFC 3339 time"),
        "{}",
        stderr(&out)
    );

    // Over the bound: refused before it is read.
    let big = format!(
        "{{\"pad\": \"{}\"}}",
        "x".repeat(honestcam::ops::study_import::MAX_FILE_BYTES as usize)
    );
    std::fs::write(&file, big).unwrap();
    let out = run_import(&f, &file, "Kim", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("a progress file has at most 4194304"),
        "{}",
        stderr(&out)
    );
    assert_eq!(before, state(&f.storage(), &f.slug()), "nothing changed");
}
