//! The quiz over the question bank: recording answers in a progress blob and scoring.
//!
//! A user's progress is one JSON object saved whole (last write wins). The quiz keeps
//! its part under the `"quiz"` key and leaves every other key as it found it, so blobs
//! imported from the legacy files keep whatever else they held:
//!
//! ```json
//! {"quiz": {"answers": {"cam-share-1": {"choice": 1, "correct": true, "at": "2026-04-07T14:36:50Z"}}}}
//! ```
//!
//! Pure functions over values: no storage here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::questions::{QUESTIONS, Question, Topic, find};

/// The key under which the quiz keeps its state in a progress blob.
pub const QUIZ_KEY: &str = "quiz";

/// A topic counts as needing work below this share of right answers.
pub const WEAK_BELOW_PERCENT: u32 = 70;

/// Why an answer could not be recorded or a blob not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuizError {
    /// No question has this id.
    #[error("unknown question {0:?}")]
    UnknownQuestion(String),
    /// The choice index is outside the question's choices.
    #[error("question {question} has no choice {choice}")]
    BadChoice {
        /// The question.
        question: String,
        /// The choice given.
        choice: usize,
    },
    /// The blob's quiz part is not in the expected shape; it is left untouched.
    #[error("progress blob has a malformed \"quiz\" entry: {0}")]
    MalformedBlob(String),
}

/// One recorded answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerRecord {
    /// Index of the chosen choice.
    pub choice: usize,
    /// Whether it was right.
    pub correct: bool,
    /// When it was given (RFC 3339).
    pub at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct QuizState {
    #[serde(default)]
    answers: BTreeMap<String, AnswerRecord>,
}

fn read_state(blob: &Map<String, Value>) -> Result<QuizState, QuizError> {
    match blob.get(QUIZ_KEY) {
        None => Ok(QuizState::default()),
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| QuizError::MalformedBlob(e.to_string()))
        }
    }
}

/// Records `choice` for `question_id` in `blob` (replacing an earlier answer to the
/// same question) and returns the record. Other keys of the blob are kept.
pub fn record_answer(
    blob: &mut Map<String, Value>,
    question_id: &str,
    choice: usize,
    at: &str,
) -> Result<AnswerRecord, QuizError> {
    let question =
        find(question_id).ok_or_else(|| QuizError::UnknownQuestion(question_id.to_string()))?;
    if choice >= question.choices.len() {
        return Err(QuizError::BadChoice {
            question: question_id.to_string(),
            choice,
        });
    }
    let mut state = read_state(blob)?;
    let record = AnswerRecord {
        choice,
        correct: choice == question.answer,
        at: at.to_string(),
    };
    state
        .answers
        .insert(question_id.to_string(), record.clone());
    let value =
        serde_json::to_value(&state).map_err(|e| QuizError::MalformedBlob(e.to_string()))?;
    blob.insert(QUIZ_KEY.to_string(), value);
    Ok(record)
}

/// Right and answered counts for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicScore {
    /// The topic.
    pub topic: Topic,
    /// Its label.
    pub label: &'static str,
    /// Questions of this topic answered.
    pub answered: u32,
    /// Of those, answered right.
    pub correct: u32,
    /// Questions of this topic in the bank.
    pub total: u32,
}

impl TopicScore {
    /// Whether this topic needs more study: started and under the threshold.
    pub fn needs_work(&self) -> bool {
        self.answered > 0 && self.correct * 100 < WEAK_BELOW_PERCENT * self.answered
    }
}

/// A user's standing on the quiz.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Questions answered (latest answer per question counts).
    pub answered: u32,
    /// Of those, answered right.
    pub correct: u32,
    /// Questions in the bank.
    pub total: u32,
    /// Right answers as a share of answered ones, 0-100 (0 when nothing answered).
    pub percent: u32,
    /// Per topic, in display order.
    pub topics: Vec<TopicScore>,
}

impl Summary {
    /// Topics that need work.
    pub fn weak_topics(&self) -> impl Iterator<Item = &TopicScore> {
        self.topics.iter().filter(|t| t.needs_work())
    }
}

/// Scores the quiz part of `blob`. Answers to questions no longer in the bank are
/// ignored.
pub fn summarize(blob: &Map<String, Value>) -> Result<Summary, QuizError> {
    let state = read_state(blob)?;
    let mut topics: Vec<TopicScore> = Topic::ALL
        .iter()
        .map(|&topic| TopicScore {
            topic,
            label: topic.label(),
            answered: 0,
            correct: 0,
            total: QUESTIONS.iter().filter(|q| q.topic == topic).count() as u32,
        })
        .collect();
    for (id, record) in &state.answers {
        let Some(q) = find(id) else { continue };
        if let Some(t) = topics.iter_mut().find(|t| t.topic == q.topic) {
            t.answered += 1;
            t.correct += u32::from(record.correct);
        }
    }
    let answered = topics.iter().map(|t| t.answered).sum();
    let correct = topics.iter().map(|t| t.correct).sum();
    Ok(Summary {
        answered,
        correct,
        total: QUESTIONS.len() as u32,
        percent: (correct * 100).checked_div(answered).unwrap_or(0),
        topics,
    })
}

/// The question to ask next: the first unanswered one, then the first answered
/// wrongly; `None` once every question has been answered right.
pub fn next_question(blob: &Map<String, Value>) -> Result<Option<&'static Question>, QuizError> {
    let state = read_state(blob)?;
    let unanswered = QUESTIONS.iter().find(|q| !state.answers.contains_key(q.id));
    let wrong = || {
        QUESTIONS
            .iter()
            .find(|q| state.answers.get(q.id).is_some_and(|a| !a.correct))
    };
    Ok(unanswered.or_else(wrong))
}

/// The recorded answer to one question, if any.
pub fn answer_for(
    blob: &Map<String, Value>,
    question_id: &str,
) -> Result<Option<AnswerRecord>, QuizError> {
    Ok(read_state(blob)?.answers.get(question_id).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AT: &str = "2026-04-07T14:36:50Z";

    fn right(id: &str) -> usize {
        find(id).unwrap().answer
    }

    fn wrong(id: &str) -> usize {
        (right(id) + 1) % find(id).unwrap().choices.len()
    }

    #[test]
    fn recording_keeps_other_keys_and_replaces_earlier_answers() {
        let mut blob = json!({"legacy_level": 3, "notes": ["x"]})
            .as_object()
            .unwrap()
            .clone();
        let first = record_answer(&mut blob, "cam-share-1", wrong("cam-share-1"), AT).unwrap();
        assert!(!first.correct);
        let second = record_answer(&mut blob, "cam-share-1", right("cam-share-1"), AT).unwrap();
        assert!(second.correct);
        assert_eq!(blob["legacy_level"], 3);
        assert_eq!(blob["notes"], json!(["x"]));
        assert_eq!(blob["quiz"]["answers"].as_object().unwrap().len(), 1);
        assert_eq!(answer_for(&blob, "cam-share-1").unwrap(), Some(second));
    }

    #[test]
    fn bad_question_or_choice_is_refused_and_blob_unchanged() {
        let mut blob = Map::new();
        assert_eq!(
            record_answer(&mut blob, "nope", 0, AT),
            Err(QuizError::UnknownQuestion("nope".into()))
        );
        assert!(matches!(
            record_answer(&mut blob, "cam-share-1", 99, AT),
            Err(QuizError::BadChoice { choice: 99, .. })
        ));
        assert!(blob.is_empty());
    }

    #[test]
    fn malformed_quiz_entry_is_an_error_not_a_reset() {
        let mut blob = json!({"quiz": {"answers": "oops"}})
            .as_object()
            .unwrap()
            .clone();
        assert!(matches!(
            record_answer(&mut blob, "cam-share-1", 0, AT),
            Err(QuizError::MalformedBlob(_))
        ));
        assert_eq!(blob["quiz"]["answers"], "oops", "left untouched");
        assert!(summarize(&blob).is_err());
    }

    #[test]
    fn summary_scores_and_flags_weak_topics() {
        let mut blob = Map::new();
        for id in ["cam-share-1", "cam-share-2", "cam-share-3"] {
            record_answer(&mut blob, id, wrong(id), AT).unwrap();
        }
        for id in ["cam-caps-1", "cam-caps-2"] {
            record_answer(&mut blob, id, right(id), AT).unwrap();
        }
        let s = summarize(&blob).unwrap();
        assert_eq!((s.answered, s.correct, s.percent), (5, 2, 40));
        assert_eq!(s.total as usize, QUESTIONS.len());
        let weak: Vec<_> = s.weak_topics().map(|t| t.topic).collect();
        assert_eq!(weak, vec![Topic::ProRataShare]);
        let share = s
            .topics
            .iter()
            .find(|t| t.topic == Topic::ProRataShare)
            .unwrap();
        assert_eq!((share.answered, share.correct, share.total), (3, 0, 4));
    }

    #[test]
    fn empty_progress_scores_zero_and_starts_at_the_first_question() {
        let blob = Map::new();
        let s = summarize(&blob).unwrap();
        assert_eq!((s.answered, s.correct, s.percent), (0, 0, 0));
        assert_eq!(s.weak_topics().count(), 0);
        assert_eq!(
            next_question(&blob).unwrap().map(|q| q.id),
            Some(QUESTIONS[0].id)
        );
    }

    #[test]
    fn next_question_revisits_wrong_answers_then_finishes() {
        let mut blob = Map::new();
        for q in QUESTIONS {
            record_answer(&mut blob, q.id, q.answer, AT).unwrap();
        }
        let missed = QUESTIONS[3].id;
        record_answer(&mut blob, missed, wrong(missed), AT).unwrap();
        assert_eq!(next_question(&blob).unwrap().map(|q| q.id), Some(missed));
        record_answer(&mut blob, missed, right(missed), AT).unwrap();
        assert_eq!(next_question(&blob).unwrap().map(|q| q.id), None);
        assert_eq!(summarize(&blob).unwrap().percent, 100);
    }

    #[test]
    fn answers_to_retired_questions_are_ignored() {
        let blob =
            json!({"quiz": {"answers": {"retired-1": {"choice": 0, "correct": true, "at": AT}}}})
                .as_object()
                .unwrap()
                .clone();
        assert_eq!(summarize(&blob).unwrap().answered, 0);
    }
}
