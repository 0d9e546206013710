//! The invariants ARCHITECTURE.md states that a grep can check: honestcam's `src/`
//! (outside `#[cfg(test)]` modules) opens no SQLite connection and writes no state
//! file but through `statekit`, keeps errors' causes (and its error messages do not
//! repeat them), its layers only use the layers below them, and no two of its modules
//! use each other in a circle.
//!
//! The one place that writes a database without a journal (the bulk load of an
//! import) is `statekit::staged`, so it is not an exception here.

use std::path::{Path, PathBuf};

// The circle check is shared by every crate's tidy test.
#[path = "../../../statekit/tests/tidy/module_graph.rs"]
mod module_graph;

// So is the check of error messages.
#[path = "../../../statekit/tests/tidy/error_messages.rs"]
mod error_messages;

/// Every `.rs` file under `dir`, with its text up to its first `#[cfg(test)]` (the
/// test module, which [`test_modules_come_last`] checks is the end of the file).
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = match text.find("#[cfg(test)]") {
                    Some(at) => text[..at].to_string(),
                    None => text,
                };
                out.push((path, code));
            }
        }
    }
    assert!(!out.is_empty(), "no source files under {}", dir.display());
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Lines of code (comments skipped) under `dir` that contain any of `needles`.
fn offending(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, code) in sources(dir) {
        for (n, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            if let Some(needle) = needles.iter().find(|w| line.contains(*w)) {
                found.push(format!(
                    "{}:{}: {needle}: {}",
                    path.display(),
                    n + 1,
                    trimmed
                ));
            }
        }
    }
    found
}

#[test]
fn application_code_opens_sqlite_and_writes_state_only_through_statekit() {
    assert!(
        sources(&src()).len() > 20,
        "the walk found the crate's files"
    );
    let found = offending(
        &src(),
        &[
            "Connection::open",
            "open_with_flags",
            "journal_mode",
            "fs::write(",
            "File::create(",
            "OpenOptions::new(",
            "fs::rename(",
            "fs::remove_file(",
            "fs::hard_link(",
            "fs::copy(",
        ],
    );
    assert!(
        found.is_empty(),
        "use statekit instead:\n{}",
        found.join("\n")
    );
}

#[test]
fn test_modules_come_last() {
    let mut checked = 0;
    let mut misplaced = Vec::new();
    let mut stack = vec![src()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let Some(at) = text.find("#[cfg(test)]") else {
                continue;
            };
            checked += 1;
            // After the marker: the module's opening line, then only indented lines,
            // blank lines and its closing brace.
            let mut lines = text[at..].lines().skip(1);
            let opens = lines.next().is_some_and(|l| l.starts_with("mod tests"));
            let top_level: Vec<_> = lines
                .filter(|l| !l.is_empty() && !l.starts_with(' ') && *l != "}")
                .collect();
            if !opens || !top_level.is_empty() {
                misplaced.push(format!("{}: {top_level:?}", path.display()));
            }
        }
    }
    assert!(checked > 10, "found {checked} test modules");
    assert!(
        misplaced.is_empty(),
        "code after the test module:\n{}",
        misplaced.join("\n")
    );
}

#[test]
fn errors_keep_their_cause() {
    let found = offending(&src(), &["Error::other(", "io::Error::new("]);
    assert!(
        found.is_empty(),
        "wrap the error as a source:\n{}",
        found.join("\n")
    );
}

#[test]
fn layers_only_use_the_layers_below_them() {
    let rules: [(&str, &[&str]); 8] = [
        (
            "domain",
            &[
                "crate::storage",
                "crate::service",
                "crate::ops",
                "crate::mcp",
                "crate::web",
                "crate::config",
                "statekit",
                "rusqlite",
                "std::fs",
                "std::env",
                "tracing::",
                "Timestamp::now",
            ],
        ),
        (
            "storage",
            &["crate::service", "crate::ops", "crate::mcp", "crate::web"],
        ),
        ("service", &["crate::ops", "crate::mcp", "crate::web"]),
        ("ops", &["crate::web", "crate::mcp", "crate::service"]),
        // The MCP server sits beside the web layer, which mounts it: it uses the
        // services and storage, never the web layer's code, nor the commands'.
        ("mcp", &["crate::web", "crate::ops"]),
        // The two backends side by side: neither uses the other.
        (
            "storage/sqlite",
            &["legacy::", "crate::storage::legacy", "crate::storage::json"],
        ),
        (
            "storage/legacy",
            &["sqlite::", "crate::storage::sqlite", "rusqlite"],
        ),
        (
            "storage/json",
            &["sqlite::", "crate::storage::sqlite", "rusqlite"],
        ),
    ];
    let mut found = Vec::new();
    for (layer, banned) in rules {
        found.extend(offending(&src().join(layer), banned));
    }
    assert!(
        found.is_empty(),
        "an arrow points up or sideways:\n{}",
        found.join("\n")
    );
}

/// Which backend a property is on is decided in one place, `storage/resolve.rs`, which
/// hands out the backend as a value; code anywhere else that matches on
/// `storage::Backend` (`Backend::Json =>`, `if let Backend::Sqlite`, `matches!`, or
/// its variants imported) is per-backend code spreading again. A command may still
/// ask whether a property is on one backend (`store.backend() == Backend::Sqlite`).
#[test]
fn only_the_resolver_matches_on_the_backend() {
    let resolver = src().join("storage").join("resolve.rs");
    let mut in_resolver = 0;
    let mut found = Vec::new();
    for (path, code) in sources(&src()) {
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("Backend::") {
                let before = &line[..at];
                if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue; // another type's name ending in `Backend`
                }
                if path == resolver {
                    in_resolver += 1;
                    continue;
                }
                let variant = ["Sqlite", "Json"]
                    .iter()
                    .any(|v| line[at + "Backend::".len()..].starts_with(v));
                let compared =
                    before.trim_end().ends_with("==") || before.trim_end().ends_with("!=");
                if !(variant && compared) {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        in_resolver >= 4,
        "the resolver names both backends (found {in_resolver} mentions)"
    );
    assert!(
        found.is_empty(),
        "match on the backend only in storage/resolve.rs (give the backends a method instead):\n{}",
        found.join("\n")
    );
}

/// See [`module_graph`] for the rule: siblings never use each other in a circle, so
/// when two modules need the same thing it lives in a third (or in their parent).
#[test]
fn modules_do_not_use_each_other_in_a_circle() {
    let found = module_graph::circles(&src());
    assert!(
        found.is_empty(),
        "import circles (move what both sides need to a third module):\n{}",
        found.join("\n")
    );
}

/// See [`error_messages`]: a message names what failed; its source is shown by the
/// chain, not by the message.
#[test]
fn error_messages_do_not_repeat_their_source() {
    let found = error_messages::repeated_sources(&src());
    assert!(
        found.is_empty(),
        "messages that show their source (the chain shows it already):\n{}",
        found.join("\n")
    );
}
