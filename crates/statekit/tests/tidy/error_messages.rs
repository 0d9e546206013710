//! Error messages that repeat their source, found from a crate's source text.
//!
//! Shared by the tidy tests of every crate in the workspace (each includes this file
//! with `#[path]`). The rule: a `thiserror` message names what failed and leaves the
//! cause to the source, because every place that shows an error shows its chain
//! (`statekit::error::Chain`), and a message that also prints its source shows the
//! cause twice. So an `#[error("...")]` must not mention the field that is the error's
//! source: the field marked `#[source]` or `#[from]`, or the field named `source`
//! (as `{source}`, `{0}`, `.source` or `.0`). `#[error(transparent)]` is fine: it only
//! wraps.
//!
//! What is read: every `.rs` file under `src/` up to its first `#[cfg(test)]`, with
//! comments removed.

use std::path::{Path, PathBuf};

/// Each message under `src` that mentions its own source, as `file:line: message`.
pub fn repeated_sources(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut checked = 0;
    for file in rs_files(src) {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let code = match text.find("#[cfg(test)]") {
            Some(at) => &text[..at],
            None => &text[..],
        };
        let code = strip_comments(code);
        let shown = file
            .strip_prefix(src)
            .unwrap_or(&file)
            .display()
            .to_string();
        let mut from = 0;
        while let Some(at) = code[from..].find("#[error(") {
            let start = from + at + "#[error(".len();
            let Some(end) = closing(&code, start - 1) else {
                break;
            };
            from = end;
            let message = code[start..end].trim();
            if message == "transparent" {
                continue;
            }
            checked += 1;
            let Some(source) = source_field(&code[end..]) else {
                continue;
            };
            if mentions(message, &source) {
                let line = code[..start].matches('\n').count() + 1;
                found.push(format!("{shown}:{line}: {message}"));
            }
        }
    }
    assert!(checked > 0, "no error messages under {}", src.display());
    found
}

fn rs_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()))
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `code` without its comments; string literals (and line breaks) kept.
fn strip_comments(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            out.push(c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    out.push(chars[i]);
                    i += 1;
                }
                out.push(chars[i]);
                i += 1;
            }
            if i < chars.len() {
                out.push('"');
                i += 1;
            }
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            // A character literal such as '"'.
            out.extend(&chars[i..i + 3]);
            i += 3;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Where the bracket opened at `open` closes (string literals skipped).
fn closing(code: &str, open: usize) -> Option<usize> {
    let bytes = code.as_bytes();
    let mut depth = 0;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The source field of the variant or struct that follows an `#[error(...)]`: its
/// name, or its position for a tuple; `None` without one (or for a unit variant).
fn source_field(after: &str) -> Option<String> {
    // After the attribute's `)]`: further attributes, `pub`, `struct`, the name, then
    // the fields' bracket; a `,`, `;` or `}` first means no fields.
    let attr_end = after.find(']')? + 1;
    let mut at = attr_end;
    loop {
        let rest = after[at..].trim_start();
        let skipped = after.len() - rest.len();
        if rest.starts_with("#[") {
            at = closing(after, skipped + 1)? + 1;
        } else {
            at = skipped;
            break;
        }
    }
    let fields_at = after[at..].find(['(', '{', ',', ';', '}'])? + at;
    if !matches!(after.as_bytes()[fields_at], b'(' | b'{') {
        return None;
    }
    let end = closing(after, fields_at)?;
    let braces = after.as_bytes()[fields_at] == b'{';
    let body = &after[fields_at + 1..end];
    let mut fields = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, b) in body.bytes().enumerate() {
        match b {
            b'(' | b'{' | b'[' | b'<' => depth += 1,
            b')' | b'}' | b']' | b'>' => depth -= 1,
            b',' if depth == 0 => {
                fields.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(&body[start..]);
    let fields: Vec<&str> = fields
        .into_iter()
        .filter(|f| !f.trim().is_empty())
        .collect();
    for (index, field) in fields.iter().enumerate() {
        let marked = field.contains("#[source]") || field.contains("#[from]");
        let name = if braces {
            let declared = field.rsplit(']').next().unwrap_or(field);
            let declared = declared.split(':').next().unwrap_or("").trim();
            declared.trim_start_matches("pub ").trim().to_string()
        } else {
            index.to_string()
        };
        if marked || (braces && name == "source") {
            return Some(name);
        }
    }
    None
}

/// Whether the message (format string and arguments) mentions the field `name`.
fn mentions(message: &str, name: &str) -> bool {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut from = 0;
    while let Some(at) = message[from..].find(name) {
        let start = from + at;
        let end = start + name.len();
        from = end;
        let before = message[..start].chars().next_back();
        let after = message[end..].chars().next();
        if ident(before) || ident(after) {
            continue;
        }
        if before == Some('{') && matches!(after, Some('}' | ':')) {
            return true;
        }
        if before == Some('.') {
            return true;
        }
    }
    false
}
