//! `--plain`: the session line by line, for any terminal and for scripts. Each
//! question is printed with numbered choices; a line with a choice's number answers
//! it, `q` (or the end of the input) stops. Lines are bounded: a longer one is
//! refused, and so is a run of lines that are no choice.

use std::io::{BufRead, Read, Write};

use anyhow::Context;

use super::door::Door;
use super::session::Session;

/// The longest answer line read.
pub const MAX_LINE_BYTES: usize = 256;
/// Lines in a row that are no choice before the session stops.
pub const MAX_BAD_LINES: u32 = 5;

/// What a line said.
#[derive(Debug, PartialEq, Eq)]
enum Said {
    /// A choice, 0-based.
    Choice(usize),
    /// Stop.
    Stop,
    /// Nothing usable; why.
    Bad(String),
}

/// Reads one line of at most [`MAX_LINE_BYTES`]; `None` at the end of the input. A
/// longer line is read to its end and refused.
fn read_line(input: &mut dyn BufRead) -> std::io::Result<Option<Result<String, usize>>> {
    let mut buf = Vec::new();
    let n = Read::take(&mut *input, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE_BYTES {
        // Skip the rest of the line, a bounded chunk at a time.
        let mut total = buf.len();
        loop {
            let mut rest = Vec::new();
            let m = Read::take(&mut *input, 4096).read_until(b'\n', &mut rest)?;
            total += m;
            if m == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
        return Ok(Some(Err(total)));
    }
    Ok(Some(Ok(String::from_utf8_lossy(&buf).trim().to_string())))
}

fn understand(line: &str, choices: usize) -> Said {
    if line.eq_ignore_ascii_case("q") || line.eq_ignore_ascii_case("quit") {
        return Said::Stop;
    }
    match line.parse::<usize>() {
        Ok(n) if (1..=choices).contains(&n) => Said::Choice(n - 1),
        _ => Said::Bad(format!("type a number from 1 to {choices}, or q to stop")),
    }
}

/// Runs the session, reading `input` and writing `out`.
pub fn run(
    door: &mut dyn Door,
    mut session: Session,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let user = door.user().clone();
    writeln!(
        out,
        "Studying as {} ({}) on {}: {} questions, the weakest topic first.",
        user.name,
        user.user_id,
        door.place(),
        session.len()
    )?;
    writeln!(
        out,
        "Answer with a choice's number, q to stop. Each answer is saved as it is given."
    )?;
    'questions: while let Some((number, question)) = session.current() {
        writeln!(out)?;
        writeln!(
            out,
            "Question {number} of {} ({})",
            session.len(),
            question.topic.label()
        )?;
        writeln!(out, "{}", question.prompt)?;
        for (i, choice) in question.choices.iter().enumerate() {
            writeln!(out, "  {}) {choice}", i + 1)?;
        }
        let mut bad = 0;
        let choice = loop {
            write!(out, "> ")?;
            out.flush()?;
            let said = match read_line(input).context("reading an answer")? {
                None => break 'questions,
                Some(Err(len)) => Said::Bad(format!(
                    "that line has {len} bytes; an answer has at most {MAX_LINE_BYTES}"
                )),
                Some(Ok(line)) => understand(&line, question.choices.len()),
            };
            match said {
                Said::Choice(c) => break c,
                Said::Stop => break 'questions,
                Said::Bad(why) => {
                    bad += 1;
                    if bad >= MAX_BAD_LINES {
                        writeln!(out, "{why}; stopping after {bad} lines that are no choice")?;
                        break 'questions;
                    }
                    writeln!(out, "{why}")?;
                }
            }
        };
        let outcome = session.answer(door, choice)?;
        if outcome.correct {
            writeln!(out, "Right!")?;
        } else {
            writeln!(
                out,
                "Not quite. The answer is {}) {}",
                outcome.right_number, outcome.right_text
            )?;
        }
        writeln!(out, "{}", outcome.explanation)?;
        writeln!(out, "{}", session.score_line())?;
    }
    writeln!(out)?;
    for line in session.report(door)? {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_a_choice_a_stop_or_refused() {
        assert_eq!(understand("2", 4), Said::Choice(1));
        assert_eq!(understand("q", 4), Said::Stop);
        assert_eq!(understand("QUIT", 4), Said::Stop);
        for bad in ["0", "5", "", "two", "-1", "99999999999999999999999"] {
            assert!(matches!(understand(bad, 4), Said::Bad(_)), "{bad:?}");
        }
    }

    #[test]
    fn lines_are_bounded() {
        let long = format!("{}\n3\n", "1".repeat(10_000));
        let mut input = std::io::Cursor::new(long.into_bytes());
        assert_eq!(read_line(&mut input).unwrap(), Some(Err(10_001)));
        assert_eq!(read_line(&mut input).unwrap(), Some(Ok("3".to_string())));
        assert_eq!(read_line(&mut input).unwrap(), None);
        let mut exact = std::io::Cursor::new(format!("{}\n", " ".repeat(MAX_LINE_BYTES)));
        assert_eq!(read_line(&mut exact).unwrap(), Some(Ok(String::new())));
    }
}
