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
    /// An answer's `"at"` is not an RFC 3339 time (in a blob being merged).
    #[error("the answer to {question:?} has \"at\": {at:?}, which is not an RFC 3339 time")]
    BadTime {
        /// The question.
        question: String,
        /// The time as given (at most 64 characters of it).
        at: String,
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
    let answers = serde_json::to_value(&state.answers)
        .map_err(|e| QuizError::MalformedBlob(e.to_string()))?;
    // Only the answers are replaced: other keys of the quiz entry (such as those an
    // imported blob brought) are kept.
    match blob.get_mut(QUIZ_KEY) {
        Some(Value::Object(quiz)) => {
            quiz.insert("answers".to_string(), answers);
        }
        _ => {
            let mut quiz = Map::new();
            quiz.insert("answers".to_string(), answers);
            blob.insert(QUIZ_KEY.to_string(), Value::Object(quiz));
        }
    }
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

/// The order in which a terminal session asks the questions, so that each session
/// goes to what needs work first:
///
/// 1. topics by how much of them is known: the share of the topic's questions whose
///    last answer is right, smallest first; at equal shares the topic with more
///    last-wrong answers first, then the bank's order of topics;
/// 2. within a topic: questions last answered wrong, then questions never answered,
///    then questions last answered right (the longest ago first); at a tie, the
///    bank's order.
///
/// Every question of the bank is in the list once.
pub fn study_order(blob: &Map<String, Value>) -> Result<Vec<&'static Question>, QuizError> {
    let state = read_state(blob)?;
    let summary = summarize(blob)?;
    let mut topics: Vec<(usize, &TopicScore)> = summary.topics.iter().enumerate().collect();
    // `right / total` compared by cross-multiplication: no division, no rounding.
    topics.sort_by(|(ia, a), (ib, b)| {
        (u64::from(a.correct) * u64::from(b.total.max(1)))
            .cmp(&(u64::from(b.correct) * u64::from(a.total.max(1))))
            .then((b.answered - b.correct).cmp(&(a.answered - a.correct)))
            .then(ia.cmp(ib))
    });
    let mut order = Vec::with_capacity(QUESTIONS.len());
    for (_, topic) in topics {
        let mut questions: Vec<(usize, &'static Question)> = QUESTIONS
            .iter()
            .enumerate()
            .filter(|(_, q)| q.topic == topic.topic)
            .collect();
        questions.sort_by_key(|(i, q)| {
            let (rank, when) = match state.answers.get(q.id) {
                Some(a) if !a.correct => (0, None),
                None => (1, None),
                Some(a) => (2, Some(a.at.parse::<jiff::Timestamp>().ok())),
            };
            (rank, when, *i)
        });
        order.extend(questions.into_iter().map(|(_, q)| q));
    }
    Ok(order)
}

/// What merging a progress blob into another did (or would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MergeCounts {
    /// Answers to questions the stored blob had no answer to.
    pub added: u64,
    /// Answers newer than the stored answer to the same question, which they replace.
    pub replaced: u64,
    /// Answers not newer than the stored one: the stored answer is kept.
    pub kept: u64,
    /// Answers to questions not in the bank, or with a choice the question does not
    /// have: left out.
    pub skipped: u64,
    /// Keys other than the quiz's that the stored blob did not have, added.
    pub keys_added: u64,
}

impl MergeCounts {
    /// Whether the merge changes the stored blob.
    pub fn changes(&self) -> bool {
        self.added + self.replaced + self.keys_added > 0
    }
}

/// Merges `incoming` (a progress blob from elsewhere, such as the old terminal quiz's
/// file) into `stored`: an answer is taken when `stored` has none to its question, or
/// one given earlier (by `"at"`); the stored answer is kept when it is as new or newer.
/// Whether an answer is right is decided by the bank, not by the incoming blob. Keys
/// `stored` lacks are added (in the blob and in its quiz entry); keys it has are kept
/// as they are. `stored` is unchanged on error.
pub fn merge_progress(
    stored: &mut Map<String, Value>,
    incoming: &Map<String, Value>,
) -> Result<MergeCounts, QuizError> {
    let theirs = read_state(incoming)?;
    let ours = read_state(stored)?;
    let mut counts = MergeCounts::default();
    let mut taken: Vec<(String, AnswerRecord)> = Vec::new();
    for (id, answer) in &theirs.answers {
        let at = answer
            .at
            .parse::<jiff::Timestamp>()
            .map_err(|_| QuizError::BadTime {
                question: id.chars().take(64).collect(),
                at: answer.at.chars().take(64).collect(),
            })?;
        let Some(question) = find(id).filter(|q| answer.choice < q.choices.len()) else {
            counts.skipped += 1;
            continue;
        };
        let newer = match ours.answers.get(id) {
            None => {
                counts.added += 1;
                true
            }
            Some(mine) => match mine.at.parse::<jiff::Timestamp>() {
                Ok(mine_at) if mine_at >= at => false,
                _ => {
                    counts.replaced += 1;
                    true
                }
            },
        };
        if newer {
            taken.push((
                id.clone(),
                AnswerRecord {
                    choice: answer.choice,
                    correct: answer.choice == question.answer,
                    at: answer.at.clone(),
                },
            ));
        } else {
            counts.kept += 1;
        }
    }
    // Keys other than the answers: in the blob, and in the quiz entry.
    let mut new_keys: Vec<(String, Value)> = incoming
        .iter()
        .filter(|(k, _)| *k != QUIZ_KEY && !stored.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let their_quiz = incoming.get(QUIZ_KEY).and_then(Value::as_object);
    let our_quiz = stored.get(QUIZ_KEY).and_then(Value::as_object);
    let quiz_keys: Vec<(String, Value)> = their_quiz
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "answers" && !our_quiz.is_some_and(|o| o.contains_key(*k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    counts.keys_added = (new_keys.len() + quiz_keys.len()) as u64;
    if !counts.changes() {
        return Ok(counts);
    }
    let mut quiz = our_quiz.cloned().unwrap_or_default();
    quiz.extend(quiz_keys);
    let mut answers = match quiz.remove("answers") {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (id, record) in taken {
        let value =
            serde_json::to_value(&record).map_err(|e| QuizError::MalformedBlob(e.to_string()))?;
        answers.insert(id, value);
    }
    quiz.insert("answers".to_string(), Value::Object(answers));
    new_keys.push((QUIZ_KEY.to_string(), Value::Object(quiz)));
    stored.extend(new_keys);
    Ok(counts)
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
    fn recording_keeps_other_keys_of_the_quiz_entry() {
        let mut blob = json!({"quiz": {"streak": 4, "answers": {}}})
            .as_object()
            .unwrap()
            .clone();
        record_answer(&mut blob, "cam-share-1", right("cam-share-1"), AT).unwrap();
        assert_eq!(blob["quiz"]["streak"], 4);
        assert!(answer_for(&blob, "cam-share-1").unwrap().unwrap().correct);
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

    #[test]
    fn the_order_starts_with_the_weakest_topic_and_its_missed_questions() {
        let mut blob = Map::new();
        // Every topic answered right but pro-rata share, where one is wrong and
        // one right.
        for q in QUESTIONS.iter().filter(|q| q.topic != Topic::ProRataShare) {
            record_answer(&mut blob, q.id, q.answer, AT).unwrap();
        }
        record_answer(&mut blob, "cam-share-2", right("cam-share-2"), AT).unwrap();
        record_answer(&mut blob, "cam-share-3", wrong("cam-share-3"), AT).unwrap();
        let order: Vec<_> = study_order(&blob).unwrap().iter().map(|q| q.id).collect();
        assert_eq!(order.len(), QUESTIONS.len(), "every question once");
        assert_eq!(
            &order[..4],
            &["cam-share-3", "cam-share-1", "cam-share-4", "cam-share-2"],
            "last wrong, then never answered, then right"
        );
        let mut seen = order.clone();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), QUESTIONS.len());
    }

    #[test]
    fn topics_with_less_known_come_first_and_old_right_answers_before_new() {
        let mut blob = Map::new();
        // Caps: all right; Basics: one wrong of its questions; others untouched.
        for q in QUESTIONS.iter().filter(|q| q.topic == Topic::Caps) {
            record_answer(&mut blob, q.id, q.answer, AT).unwrap();
        }
        let basics: Vec<_> = QUESTIONS
            .iter()
            .filter(|q| q.topic == Topic::Basics)
            .collect();
        record_answer(&mut blob, basics[0].id, wrong(basics[0].id), AT).unwrap();
        let order = study_order(&blob).unwrap();
        // Basics (0 right, 1 wrong) before the untouched topics (0 right, 0 wrong).
        assert_eq!(order[0].id, basics[0].id);
        assert_eq!(order[0].topic, Topic::Basics);
        // Caps, fully known, last.
        let last = order.last().unwrap();
        assert_eq!(last.topic, Topic::Caps);
        // Within a known topic, the answer given longest ago first.
        let caps: Vec<_> = QUESTIONS
            .iter()
            .filter(|q| q.topic == Topic::Caps)
            .collect();
        record_answer(
            &mut blob,
            caps[0].id,
            caps[0].answer,
            "2026-05-01T00:00:00Z",
        )
        .unwrap();
        let order = study_order(&blob).unwrap();
        assert_eq!(order.last().unwrap().id, caps[0].id);
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn merging_keeps_newer_stored_answers_and_unknown_keys() {
        let mut stored = Map::new();
        record_answer(
            &mut stored,
            "cam-share-1",
            right("cam-share-1"),
            "2026-05-01T00:00:00Z",
        )
        .unwrap();
        record_answer(
            &mut stored,
            "cam-share-2",
            wrong("cam-share-2"),
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        stored.insert("theme".into(), json!("dark"));
        let incoming = obj(json!({
            "quiz": {"answers": {
                // Older than the stored one: kept as stored.
                "cam-share-1": {"choice": wrong("cam-share-1"), "correct": true, "at": "2026-04-01T00:00:00Z"},
                // Newer: replaces, and `correct` comes from the bank.
                "cam-share-2": {"choice": right("cam-share-2"), "correct": false, "at": "2026-02-01T00:00:00.5Z"},
                // New.
                "cam-caps-1": {"choice": right("cam-caps-1"), "correct": true, "at": AT},
                // Not in the bank, and a choice the question lacks.
                "retired-9": {"choice": 0, "correct": true, "at": AT},
                "cam-caps-2": {"choice": 99, "correct": true, "at": AT},
            }, "streak": 4},
            "theme": "light",
            "level": 3,
        }));
        let counts = merge_progress(&mut stored, &incoming).unwrap();
        assert_eq!(
            counts,
            MergeCounts {
                added: 1,
                replaced: 1,
                kept: 1,
                skipped: 2,
                keys_added: 2
            }
        );
        assert_eq!(
            answer_for(&stored, "cam-share-1").unwrap().unwrap().at,
            "2026-05-01T00:00:00Z"
        );
        assert!(answer_for(&stored, "cam-share-2").unwrap().unwrap().correct);
        assert!(answer_for(&stored, "cam-caps-1").unwrap().is_some());
        assert!(answer_for(&stored, "cam-caps-2").unwrap().is_none());
        assert_eq!(stored["theme"], "dark", "a stored key is kept");
        assert_eq!(stored["level"], 3, "an unknown key is added");
        assert_eq!(stored["quiz"]["streak"], 4);
        // Again: nothing left to do, and the blob is as it was.
        let before = stored.clone();
        let again = merge_progress(&mut stored, &incoming).unwrap();
        assert!(!again.changes(), "{again:?}");
        assert_eq!(stored, before);
    }

    #[test]
    fn merging_a_blob_with_a_bad_time_or_shape_changes_nothing() {
        let mut stored = obj(json!({"x": 1}));
        for bad in [
            json!({"quiz": {"answers": {"cam-share-1": {"choice": 0, "correct": true, "at": "yesterday"}}}}),
            json!({"quiz": {"answers": []}}),
        ] {
            assert!(matches!(
                merge_progress(&mut stored, &obj(bad)),
                Err(QuizError::MalformedBlob(_) | QuizError::BadTime { .. })
            ));
            assert_eq!(stored, obj(json!({"x": 1})));
        }
    }
}
