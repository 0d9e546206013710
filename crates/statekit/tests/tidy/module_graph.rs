//! Import circles between the modules of a crate, found from its source text.
//!
//! Shared by the tidy tests of every crate in the workspace (each includes this file
//! with `#[path]`), so that the rule is written once.
//!
//! The rule: the modules that share a parent must not use each other in a circle.
//! Module `a` *uses* its sibling `b` when any file of `a`, or of a module inside `a`,
//! names a path into `b` or into a module inside `b`: `crate::…`, `super::…` and
//! `self::…` paths, in `use` trees and inline, count. So `ops/replica/restore.rs`
//! naming `crate::ops::backup::BackupError` makes `ops::replica` use `ops::backup`,
//! and if anything in `ops::backup` names `crate::ops::replica::…` the two form a
//! circle. A module naming its own ancestors' items (a child calling its parent's
//! helper) or its own descendants (a parent declaring and re-exporting its children)
//! is not counted: that is how a module tree is built. When two siblings need each
//! other, what they share belongs to a third module (or to their parent).
//!
//! What is read: every `.rs` file under `src/` up to its first `#[cfg(test)]`, with
//! comments, string and character literals removed; files named `tests.rs` (test
//! modules kept in their own file) are skipped. `lib.rs` and `main.rs` are both the
//! crate root. Inline modules (`mod name { … }`) count as modules of their own.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// A module's path below the crate root: `["ops", "backup"]` for `crate::ops::backup`.
type ModPath = Vec<String>;

/// Where a module first names one of its siblings: file, line and the path named.
#[derive(Debug, Clone)]
struct Site {
    file: PathBuf,
    line: usize,
    path: String,
}

/// The circles between sibling modules of the crate whose sources are in `src`, each
/// as a readable chain of `a -> b (file:line: path) -> a`, sorted; empty if none.
pub fn circles(src: &Path) -> Vec<String> {
    let files = module_files(src);
    assert!(!files.is_empty(), "no module files under {}", src.display());
    let mut modules: BTreeSet<ModPath> = BTreeSet::new();
    let mut cleaned = Vec::new();
    for (file, module) in files {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let code = match text.find("#[cfg(test)]") {
            Some(at) => &text[..at],
            None => &text[..],
        };
        let code = strip_comments_and_literals(code);
        for inline in inline_modules(&code) {
            let mut m = module.clone();
            m.push(inline);
            modules.insert(m);
        }
        modules.insert(module.clone());
        cleaned.push((file, module, code));
    }

    // Sibling edges, with the first place each is seen.
    let mut edges: BTreeMap<ModPath, BTreeMap<ModPath, Site>> = BTreeMap::new();
    for (file, module, code) in &cleaned {
        for (line, named) in named_paths(code) {
            let Some(target) = resolve(module, &named) else {
                continue;
            };
            let Some((from, to)) = sibling_edge(module, &target, &modules) else {
                continue;
            };
            edges.entry(from).or_default().entry(to).or_insert(Site {
                file: file.strip_prefix(src).unwrap_or(file).to_path_buf(),
                line,
                path: named.join("::"),
            });
        }
    }

    // One shortest circle through each node that lies on one, deduplicated by its set
    // of nodes.
    let mut seen: BTreeSet<Vec<ModPath>> = BTreeSet::new();
    let mut found = Vec::new();
    for start in edges.keys() {
        let Some(mut cycle) = shortest_cycle(start, &edges) else {
            continue;
        };
        // Start each circle at its first module, so that the report is stable.
        let first = (0..cycle.len()).min_by_key(|&i| &cycle[i]).unwrap_or(0);
        cycle.rotate_left(first);
        let mut key = cycle.clone();
        key.sort();
        if !seen.insert(key) {
            continue;
        }
        let mut text = show(&cycle[0]);
        for (i, from) in cycle.iter().enumerate() {
            let to = &cycle[(i + 1) % cycle.len()];
            let site = &edges[from][to];
            text.push_str(&format!(
                " -> {} ({}:{}: {})",
                show(to),
                site.file.display(),
                site.line,
                site.path
            ));
        }
        found.push(text);
    }
    found.sort();
    found
}

fn show(module: &ModPath) -> String {
    if module.is_empty() {
        "crate".to_string()
    } else {
        module.join("::")
    }
}

/// Every module file under `src` with its module path.
fn module_files(src: &Path) -> Vec<(PathBuf, ModPath)> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
                .path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap_or(&path).with_extension("");
            let mut module: ModPath = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "tests") {
                continue;
            }
            if module.len() == 1 && (module[0] == "lib" || module[0] == "main") {
                module.clear();
            } else if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            out.push((path, module));
        }
    }
    out.sort();
    out
}

/// `code` with comments, string literals and character literals blanked out (line
/// breaks kept, so line numbers still hold).
fn strip_comments_and_literals(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    // Keeps line breaks of skipped text.
    let skip = |out: &mut String, from: usize, to: usize| {
        for c in &chars[from..to.min(chars.len())] {
            if *c == '\n' {
                out.push('\n');
            }
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let start = i;
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            skip(&mut out, start, i);
        } else if let Some((hashes, body)) = raw_string_start(&chars, i)
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
        {
            let start = i;
            i = body;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '"' && (0..hashes).all(|h| chars.get(i + 1 + h) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            skip(&mut out, start, i);
            out.push_str("\"\"");
        } else if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            skip(&mut out, start, i);
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal, or a lifetime (left as it is).
            if next == Some('\\') {
                let start = i;
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                skip(&mut out, start, i);
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// If a raw string (`r"`, `r#"`, `br"`…) starts at `i`: its number of `#` and where
/// its body starts.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

/// The names of the inline modules (`mod name {`) declared in `code`.
fn inline_modules(code: &str) -> Vec<String> {
    let tokens = tokens(code);
    let mut out = Vec::new();
    for w in tokens.windows(3) {
        if w[0].1 == "mod" && is_ident(&w[1].1) && w[2].1 == "{" {
            out.push(w[1].1.clone());
        }
    }
    out
}

/// Tokens of `code` with their line numbers: identifiers, `::`, and single
/// punctuation characters.
fn tokens(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut line = 1;
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((line, chars[start..i].iter().collect()));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((line, "::".to_string()));
            i += 2;
        } else {
            out.push((line, c.to_string()));
            i += 1;
        }
    }
    out
}

fn is_ident(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Every path `code` names that starts with `crate`, `super` or `self`, with its
/// line: inline paths, and each leaf of a `use` tree spelled out in full
/// (`use crate::a::{b, c::d}` names `crate::a::b` and `crate::a::c::d`).
fn named_paths(code: &str) -> Vec<(usize, Vec<String>)> {
    let tokens = tokens(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (line, word) = (&tokens[i].0, tokens[i].1.as_str());
        let after_colons = i > 0 && tokens[i - 1].1 == "::";
        if word == "use" {
            let end = tokens[i..]
                .iter()
                .position(|t| t.1 == ";")
                .map_or(tokens.len(), |p| i + p);
            use_tree(&tokens[i + 1..end], Vec::new(), &mut out);
            i = end;
            continue;
        }
        if !after_colons && matches!(word, "crate" | "super" | "self") {
            let mut path = vec![word.to_string()];
            let mut j = i + 1;
            while j + 1 < tokens.len() && tokens[j].1 == "::" && is_ident(&tokens[j + 1].1) {
                path.push(tokens[j + 1].1.clone());
                j += 2;
            }
            if path.len() > 1 {
                out.push((*line, path));
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

/// Spells out the leaves of the `use` tree in `tokens` below `prefix`.
fn use_tree(tokens: &[(usize, String)], prefix: Vec<String>, out: &mut Vec<(usize, Vec<String>)>) {
    let mut path = prefix;
    let mut i = 0;
    let Some(line) = tokens.first().map(|t| t.0) else {
        return;
    };
    while i < tokens.len() {
        let word = tokens[i].1.as_str();
        if word == "{" {
            // Split the group at its top-level commas.
            let mut depth = 0;
            let mut start = i + 1;
            for j in i..tokens.len() {
                match tokens[j].1.as_str() {
                    "{" => depth += 1,
                    "}" => {
                        depth -= 1;
                        if depth == 0 {
                            use_tree(&tokens[start..j], path.clone(), out);
                            break;
                        }
                    }
                    "," if depth == 1 => {
                        use_tree(&tokens[start..j], path.clone(), out);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        if word == "as" || word == "*" {
            break;
        }
        if is_ident(word) && word != "pub" && (word != "self" || path.is_empty()) {
            path.push(word.to_string());
        }
        i += 1;
    }
    if matches!(
        path.first().map(String::as_str),
        Some("crate" | "super" | "self")
    ) && path.len() > 1
    {
        out.push((line, path));
    }
}

/// The absolute module-and-item path (below the crate root) that `named` stands for
/// when written in `module`; `None` if it leaves the crate.
fn resolve(module: &ModPath, named: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String>;
    let mut rest = named;
    match named.first().map(String::as_str) {
        Some("crate") => {
            base = Vec::new();
            rest = &named[1..];
        }
        Some("self") => {
            base = module.clone();
            rest = &named[1..];
        }
        Some("super") => {
            base = module.clone();
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The pair of siblings that `module` naming `target` makes one use the other: the
/// two modules, below their deepest shared ancestor, that hold `module` and `target`.
/// `None` when `target` is in `module`, or is an item of one of its ancestors.
fn sibling_edge(
    module: &ModPath,
    target: &[String],
    modules: &BTreeSet<ModPath>,
) -> Option<(ModPath, ModPath)> {
    let shared = module
        .iter()
        .zip(target)
        .take_while(|(a, b)| a == b)
        .count();
    if shared == module.len() || target.len() <= shared {
        return None;
    }
    let to: ModPath = target[..=shared].to_vec();
    if !modules.contains(&to) {
        return None;
    }
    Some((module[..=shared].to_vec(), to))
}

/// The shortest circle that starts and ends at `start`, as its list of nodes.
fn shortest_cycle(
    start: &ModPath,
    edges: &BTreeMap<ModPath, BTreeMap<ModPath, Site>>,
) -> Option<Vec<ModPath>> {
    let mut came_from: BTreeMap<&ModPath, &ModPath> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in edges.get(node).into_iter().flat_map(|e| e.keys()) {
            if next == start {
                let mut cycle = vec![node.clone()];
                let mut at = node;
                while at != start {
                    at = came_from[at];
                    cycle.push(at.clone());
                }
                cycle.reverse();
                return Some(cycle);
            }
            if !came_from.contains_key(next) {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    None
}
