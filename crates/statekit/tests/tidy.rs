//! The invariants a read of statekit's source text can check.

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
