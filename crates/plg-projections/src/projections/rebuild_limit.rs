//! Test support: a rebuild's writer that writes its waiting rows at a limit must leave the
//! rows a follower's batches leave.

use chrono::Utc;
use plg_domain::{
    dimension::Dimension,
    ids::{ResponseId, SchoolId, StudyId, SubmissionId},
    instrument::Instrument,
    scan::{RecordedAnswer, RespondentRole, ScanEvent},
    values::{ItemCode, Pseudonym, Score, WaveLabel, parse_date},
};
use plg_eventstore::Position;
use rusqlite::{Connection, types::Value};

use crate::{
    Projection, Rebuilder,
    event::{LogEvent, Payload},
};

/// `count` submissions of different respondents at two schools, then a retraction of the
/// first and of the last.
pub(crate) fn submissions_then_retractions(count: usize) -> Vec<LogEvent> {
    let (study_id, wave) = (
        StudyId::new_random(),
        WaveLabel::parse("T1").expect("label"),
    );
    let schools = [SchoolId::new_random(), SchoolId::new_random()];
    let mut events = Vec::new();
    let mut submitted = Vec::new();
    for n in 0..count {
        let school_id = schools[n % 2];
        let respondent = Pseudonym::parse(&format!("r-{n}")).expect("pseudonym");
        let submission_id = SubmissionId::new_random();
        submitted.push(submission_id);
        events.push(ScanEvent::ScanSubmitted {
            response_id: ResponseId::derive(study_id, school_id, &wave, &respondent),
            submission_id,
            study_id,
            school_id,
            wave: wave.clone(),
            respondent,
            role: RespondentRole::Teacher,
            instrument_version: Instrument::built_in().version,
            answered_on: parse_date("2016-02-01").expect("date"),
            answers: vec![RecordedAnswer {
                item_code: ItemCode::parse("E1.1").expect("code"),
                dimension: Dimension::InternalProfessionalisation,
                current: Some(Score::new(3).expect("score")),
                desired: None,
            }],
            supersedes: None,
        });
    }
    for submission_id in [submitted[0], submitted[count - 1]] {
        events.push(ScanEvent::ScanRetracted {
            submission_id,
            reason: None,
        });
    }
    events
        .into_iter()
        .zip(1..)
        .map(|(event, position)| LogEvent {
            position: Position(position),
            stream: format!("scanresponse-{position}"),
            revision: 0,
            entity_id: position.to_string(),
            occurred_at: Utc::now(),
            traceparent: None,
            payload: Payload::Scan(event),
        })
        .collect()
}

/// Applies `events` in pages of `page` through the follower's `apply_batch` and through
/// `rebuilder`, and asserts both leave the same rows.
pub(super) fn assert_rebuilt_as_followed(
    projection: &dyn Projection,
    mut rebuilder: Box<dyn Rebuilder>,
    events: &[LogEvent],
    page: usize,
) {
    let open = || {
        let connection = Connection::open_in_memory().expect("opens");
        connection
            .execute_batch(projection.schema())
            .expect("creates the tables");
        connection
    };
    let (mut followed, mut rebuilt) = (open(), open());
    for events in events.chunks(page) {
        let transaction = followed.transaction().expect("begins");
        projection
            .apply_batch(&transaction, events)
            .expect("applies");
        transaction.commit().expect("commits");
        let transaction = rebuilt.transaction().expect("begins");
        rebuilder.apply(&transaction, events).expect("applies");
        transaction.commit().expect("commits");
    }
    let transaction = rebuilt.transaction().expect("begins");
    rebuilder.finish(&transaction).expect("finishes");
    transaction.commit().expect("commits");
    let (followed, rebuilt) = (rows(projection, &followed), rows(projection, &rebuilt));
    assert!(!followed.is_empty());
    assert_eq!(rebuilt, followed);
}

/// Every row of the projection's tables, sorted.
fn rows(projection: &dyn Projection, connection: &Connection) -> Vec<String> {
    let mut rows = Vec::new();
    for table in projection.tables() {
        let mut statement = connection
            .prepare(&format!("SELECT * FROM {table}"))
            .expect("prepares");
        let columns = statement.column_count();
        let read = statement
            .query_map([], |row| {
                (0..columns)
                    .map(|column| {
                        row.get::<_, Value>(column)
                            .map(|value| format!("{value:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .expect("reads");
        for row in read {
            rows.push(format!("{table}: {}", row.expect("a row").join(", ")));
        }
    }
    rows.sort();
    rows
}
