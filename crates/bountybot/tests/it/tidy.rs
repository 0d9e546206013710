//! The invariants a read of bountybot's source text can check.

use std::path::Path;

// The circle check is shared by every crate's tidy test.
#[path = "../../../statekit/tests/tidy/module_graph.rs"]
mod module_graph;

/// See [`module_graph`] for the rule: siblings never use each other in a circle, so
/// when two modules need the same thing it lives in a third (or in their parent).
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
