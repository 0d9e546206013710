//! The session in a terminal: one screen per question, the choices selected with the
//! arrows (or j/k) and Enter, or answered at once by their number; after an answer,
//! whether it was right, the explanation and the running score, until any key. Ctrl-C,
//! q or Esc stops at any point: every answer was saved when it was given. The terminal
//! is put back (cooked mode, the main screen, the cursor shown) however the session
//! ends, an error or a panic included, and the closing report is printed on the main
//! screen.

use std::io::Write;

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::style::{Attribute, Print, SetAttribute};
use crossterm::terminal::{self, ClearType};
use crossterm::{cursor, execute, queue};

use super::door::Door;
use super::session::{Outcome, Session};

/// Raw mode and the alternate screen, for as long as this lives.
struct Screen {
    out: std::io::Stdout,
}

impl Screen {
    fn enter() -> std::io::Result<Screen> {
        terminal::enable_raw_mode()?;
        let mut out = std::io::stdout();
        if let Err(e) = execute!(out, terminal::EnterAlternateScreen, cursor::Hide) {
            let _ = terminal::disable_raw_mode();
            return Err(e);
        }
        Ok(Screen { out })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = execute!(self.out, cursor::Show, terminal::LeaveAlternateScreen);
        let _ = terminal::disable_raw_mode();
    }
}

/// What a key asks for.
#[derive(Debug, PartialEq, Eq)]
enum Key {
    Up,
    Down,
    Enter,
    /// A choice's number, 0-based.
    Number(usize),
    Stop,
    Other,
}

fn key(k: &KeyEvent) -> Key {
    if k.modifiers.contains(KeyModifiers::CONTROL) {
        return match k.code {
            KeyCode::Char('c') | KeyCode::Char('d') => Key::Stop,
            _ => Key::Other,
        };
    }
    match k.code {
        KeyCode::Up | KeyCode::Char('k') => Key::Up,
        KeyCode::Down | KeyCode::Char('j') => Key::Down,
        KeyCode::Enter | KeyCode::Char(' ') => Key::Enter,
        KeyCode::Esc | KeyCode::Char('q') => Key::Stop,
        KeyCode::Char(c) => match c.to_digit(10) {
            Some(d) if d > 0 => Key::Number(d as usize - 1),
            _ => Key::Other,
        },
        _ => Key::Other,
    }
}

/// The next key pressed (repeats and releases skipped); `None` for a resize.
fn next_key() -> std::io::Result<Option<Key>> {
    loop {
        match event::read()? {
            Event::Key(k) if k.kind != KeyEventKind::Release => return Ok(Some(key(&k))),
            Event::Resize(..) => return Ok(None),
            _ => {}
        }
    }
}

/// `text` cut into lines of at most `width` characters, at spaces where it can.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(10);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_string();
        while word.chars().count() > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
        }
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if needed > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Draws `lines` from the top of a cleared screen; a line starting with `\u{1}` is
/// shown in bold (without that mark).
fn draw(out: &mut std::io::Stdout, lines: &[String]) -> std::io::Result<()> {
    queue!(out, terminal::Clear(ClearType::All), cursor::MoveTo(0, 0))?;
    for line in lines {
        match line.strip_prefix('\u{1}') {
            Some(bold) => queue!(
                out,
                SetAttribute(Attribute::Bold),
                Print(bold),
                SetAttribute(Attribute::Reset)
            )?,
            None => queue!(out, Print(line))?,
        }
        queue!(out, Print("\r\n"))?;
    }
    out.flush()
}

fn width() -> usize {
    terminal::size()
        .map_or(80, |(w, _)| usize::from(w))
        .saturating_sub(2)
}

/// The screen of a question, with `selected` marked.
fn question_screen(door: &dyn Door, session: &Session, selected: usize) -> Vec<String> {
    let Some((number, q)) = session.current() else {
        return Vec::new();
    };
    let w = width();
    let user = door.user();
    let mut lines = vec![
        format!("Studying as {} on {}", user.name, door.place()),
        session.score_line(),
        String::new(),
        format!(
            "\u{1}Question {number} of {} · {}",
            session.len(),
            q.topic.label()
        ),
    ];
    lines.extend(wrap(q.prompt, w));
    lines.push(String::new());
    for (i, choice) in q.choices.iter().enumerate() {
        let mark = if i == selected { ">" } else { " " };
        let mut wrapped = wrap(choice, w.saturating_sub(6)).into_iter();
        let first = wrapped.next().unwrap_or_default();
        let head = format!("{mark} {}) {first}", i + 1);
        lines.push(if i == selected {
            format!("\u{1}{head}")
        } else {
            head
        });
        lines.extend(wrapped.map(|l| format!("     {l}")));
    }
    lines.push(String::new());
    lines.push(format!(
        "↑/↓ and Enter, or 1-{}, to answer · Ctrl-C to stop (answers are saved)",
        q.choices.len()
    ));
    lines
}

fn outcome_screen(session: &Session, outcome: &Outcome) -> Vec<String> {
    let w = width();
    let mut lines = vec![if outcome.correct {
        "\u{1}Right!".to_string()
    } else {
        format!(
            "\u{1}Not quite. The answer is {}) {}",
            outcome.right_number, outcome.right_text
        )
    }];
    lines.push(String::new());
    lines.extend(wrap(outcome.explanation, w));
    lines.push(String::new());
    lines.push(session.score_line());
    lines.push(String::new());
    lines.push(if session.current().is_some() {
        "Any key for the next question · Ctrl-C to stop".to_string()
    } else {
        "That was the last question of this session. Any key to finish.".to_string()
    });
    lines
}

/// Runs the session on the terminal, then prints the closing report.
pub fn run(door: &mut dyn Door, mut session: Session) -> anyhow::Result<()> {
    {
        let mut screen = Screen::enter()?;
        'questions: while let Some((_, q)) = session.current() {
            let mut selected = 0;
            let choice = loop {
                draw(&mut screen.out, &question_screen(door, &session, selected))?;
                match next_key()? {
                    None | Some(Key::Other) => {}
                    Some(Key::Up) => selected = selected.saturating_sub(1),
                    Some(Key::Down) => {
                        selected = (selected + 1).min(q.choices.len().saturating_sub(1));
                    }
                    Some(Key::Enter) => break selected,
                    Some(Key::Number(n)) if n < q.choices.len() => break n,
                    Some(Key::Number(_)) => {}
                    Some(Key::Stop) => break 'questions,
                }
            };
            let outcome = session.answer(door, choice)?;
            loop {
                draw(&mut screen.out, &outcome_screen(&session, &outcome))?;
                match next_key()? {
                    None => continue,
                    Some(Key::Stop) => break 'questions,
                    Some(_) => break,
                }
            }
        }
    }
    // Back on the main screen: the report stays in the terminal's scrollback.
    let mut out = std::io::stdout();
    for line in session.report(door)? {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_within_the_width() {
        let text = "In a commercial lease, what do CAM charges pay for? averyveryverylongwordthatdoesnotfit";
        let lines = wrap(text, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines.join(" ").replace(' ', ""), text.replace(' ', ""));
        assert_eq!(wrap("", 20), Vec::<String>::new());
    }

    #[test]
    fn keys_choose_move_and_stop() {
        let press = |code, modifiers| key(&KeyEvent::new(code, modifiers));
        assert_eq!(
            press(KeyCode::Char('3'), KeyModifiers::NONE),
            Key::Number(2)
        );
        assert_eq!(press(KeyCode::Char('0'), KeyModifiers::NONE), Key::Other);
        assert_eq!(press(KeyCode::Char('c'), KeyModifiers::CONTROL), Key::Stop);
        assert_eq!(press(KeyCode::Esc, KeyModifiers::NONE), Key::Stop);
        assert_eq!(press(KeyCode::Up, KeyModifiers::NONE), Key::Up);
        assert_eq!(press(KeyCode::Enter, KeyModifiers::NONE), Key::Enter);
    }
}
