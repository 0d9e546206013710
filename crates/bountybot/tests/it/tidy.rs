//! The invariants a read of bountybot's source text can check: no two of its modules
//! use each other in a circle, and its error messages do not repeat their source.

use std::path::Path;

// The circle check is shared by every crate's tidy test.
#[path = "../../../statekit/tests/tidy/module_graph.rs"]
mod module_graph;

// So is the check of error messages.
#[path = "../../../statekit/tests/tidy/error_messages.rs"]
mod error_messages;

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

/// See [`error_messages`]: a message names what failed; its source is shown by the
/// chain, not by the message.
#[test]
fn error_messages_do_not_repeat_their_source() {
    let found =
        error_messages::repeated_sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        found.is_empty(),
        "messages that show their source (the chain shows it already):\n{}",
        found.join("\n")
    );
}
