//! The invariants a read of statekit's source text can check: no two of its modules
//! use each other in a circle, and its error messages do not repeat their source. The
//! checks live in `tidy/` and are shared with the applications' tidy tests.

#[path = "tidy/module_graph.rs"]
mod module_graph;

use std::path::Path;

#[test]
fn modules_do_not_use_each_other_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = module_graph::circles(&src);
    assert!(
        found.is_empty(),
        "import circles (move what both sides need to a third module):\n{}",
        found.join("\n")
    );
}

/// The check itself: on a small crate it finds a circle between siblings, through a
/// child module, a `use` group and an inline `super::` path, and nothing else.
#[test]
fn the_circle_check_finds_a_circle_between_siblings() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |rel: &str, text: &str| {
        let path = src.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n");
    write(
        "a/mod.rs",
        "pub mod inner;\nuse self::inner::X;\npub fn helper() {}\n",
    );
    write("a/inner.rs", "use crate::{c::Z, b::{self, Y}};\n");
    // `b` names `c` only in a comment, a string and its test module: no circle.
    write(
        "b.rs",
        "pub struct Y;\n// crate::c::Z\nfn f() {\n    super::a::helper();\n    \
         let _ = \"crate::c::Z\";\n}\n#[cfg(test)]\nmod tests {\n    use crate::c::Z;\n}\n",
    );
    write(
        "c.rs",
        "pub struct Z;\nfn g() {\n    crate::a::helper();\n    crate::b::f();\n}\n",
    );
    let found = module_graph::circles(src);
    assert_eq!(
        found,
        [
            "a -> b (a/inner.rs:1: crate::b) -> a (b.rs:4: super::a::helper)",
            "a -> c (a/inner.rs:1: crate::c::Z) -> a (c.rs:3: crate::a::helper)",
        ],
    );
}

#[path = "tidy/error_messages.rs"]
mod error_messages;

#[test]
fn error_messages_do_not_repeat_their_source() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = error_messages::repeated_sources(&src);
    assert!(
        found.is_empty(),
        "messages that show their source (the chain shows it already):\n{}",
        found.join("\n")
    );
}

/// The check itself, on made-up error types.
#[test]
fn the_message_check_finds_a_message_that_shows_its_source() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lib.rs"),
        r#"
#[derive(Debug, thiserror::Error)]
pub enum E {
    /// Shows it: found.
    #[error("cannot open {path}: {source}")]
    Named { path: String, source: std::io::Error },
    /// Shows it through `#[from]`: found.
    #[error("sqlite: {0}")]
    Tuple(#[from] rusqlite::Error),
    /// Names the path only; a comment may say {source}: fine.
    #[error("cannot read {}", .path.display())]
    Fine {
        /// The file, e.g. "a, b".
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    /// No source: showing the field is fine.
    #[error("no such user {0}")]
    Plain(String),
    #[error(transparent)]
    Wraps(#[from] std::fmt::Error),
    #[error("unit")]
    Unit,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot lock {}: {}", .path.display(), .source)]
pub struct Lock {
    path: PathBuf,
    source: std::io::Error,
}
"#,
    )
    .unwrap();
    let found = error_messages::repeated_sources(dir.path());
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with("lib.rs:5: \"cannot open"),
        "{found:#?}"
    );
    assert!(found[1].starts_with("lib.rs:8: \"sqlite"), "{found:#?}");
    assert!(found[2].contains("cannot lock"), "{found:#?}");
}
