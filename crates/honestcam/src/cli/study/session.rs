//! One terminal session: the questions it asks (in [`quiz::study_order`]), what was
//! answered, and the score, whatever the interface.

use anyhow::Context;
use honestcam::domain::Progress;
use honestcam::domain::questions::Question;
use honestcam::domain::quiz::{self, AnswerRecord, Summary};

use super::door::Door;

/// A session's questions and score.
#[derive(Debug)]
pub struct Session {
    questions: Vec<&'static Question>,
    next: usize,
    /// Answers given in this session.
    asked: u32,
    /// Of those, right.
    right: u32,
    /// The progress as this session knows it: as read at the start, with this
    /// session's answers.
    blob: Progress,
}

/// What an answer was, for the interface to show.
#[derive(Debug)]
pub struct Outcome {
    /// Whether it was right.
    pub correct: bool,
    /// The right choice's number (1-based).
    pub right_number: usize,
    /// The right choice's text.
    pub right_text: &'static str,
    /// Why.
    pub explanation: &'static str,
}

impl Session {
    /// A session of at most `count` questions over the user's progress.
    pub fn start(door: &mut dyn Door, count: usize) -> anyhow::Result<Session> {
        let blob = door.progress()?;
        let mut questions = quiz::study_order(&blob)
            .with_context(|| format!("reading the progress of {}", door.user().user_id))?;
        questions.truncate(count);
        Ok(Session {
            questions,
            next: 0,
            asked: 0,
            right: 0,
            blob,
        })
    }

    /// How many questions the session asks.
    pub fn len(&self) -> usize {
        self.questions.len()
    }

    /// The question to ask now (its 1-based number), if any is left.
    pub fn current(&self) -> Option<(usize, &'static Question)> {
        self.questions.get(self.next).map(|q| (self.next + 1, *q))
    }

    /// Saves `choice` (0-based) as the answer to the current question and moves on.
    pub fn answer(&mut self, door: &mut dyn Door, choice: usize) -> anyhow::Result<Outcome> {
        let (_, question) = self
            .current()
            .context("the session has no question left to answer")?;
        let record: AnswerRecord = door.answer(question.id, choice)?;
        // The local copy, for the running score; the door saved the real one.
        let _ = quiz::record_answer(&mut self.blob, question.id, record.choice, &record.at);
        self.next += 1;
        self.asked += 1;
        self.right += u32::from(record.correct);
        Ok(Outcome {
            correct: record.correct,
            right_number: question.answer + 1,
            right_text: question.choices.get(question.answer).copied().unwrap_or(""),
            explanation: question.explanation,
        })
    }

    /// The score line shown after each answer.
    pub fn score_line(&self) -> String {
        let overall = match quiz::summarize(&self.blob) {
            Ok(s) => format!(
                "overall {} of {} right ({}%), {} of {} answered",
                s.correct, s.answered, s.percent, s.answered, s.total
            ),
            Err(_) => "overall score unreadable".to_string(),
        };
        format!(
            "Score: {} of {} right this session; {overall}",
            self.right, self.asked
        )
    }

    /// The closing report: this session, the whole progress as saved now, and the
    /// topics that need work.
    pub fn report(&self, door: &mut dyn Door) -> anyhow::Result<Vec<String>> {
        let blob = door.progress()?;
        let summary: Summary = quiz::summarize(&blob)
            .with_context(|| format!("reading the progress of {}", door.user().user_id))?;
        let mut lines = vec![
            format!(
                "Session over: {} answered, {} right. Every answer is saved.",
                self.asked, self.right
            ),
            format!(
                "Overall: {} of {} questions answered, {} right ({}%).",
                summary.answered, summary.total, summary.correct, summary.percent
            ),
        ];
        let weak: Vec<&str> = summary.weak_topics().map(|t| t.label).collect();
        lines.push(if weak.is_empty() {
            "Topics that need work: none.".to_string()
        } else {
            format!("Topics that need work: {}.", weak.join(", "))
        });
        Ok(lines)
    }
}
