//! Schools, studies with their waves, instruments and enrolments.

use plg_domain::{
    school::SchoolEvent,
    study::{StudyEvent, Wave},
};
use rusqlite::{Transaction, params};

use crate::{
    Projection, ProjectionError,
    batch::{sql_count, sql_position},
    event::{LogEvent, Payload},
};

#[derive(Debug)]
pub struct Registry;

impl Projection for Registry {
    fn name(&self) -> &'static str {
        "registry"
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS schools (
            school_id     TEXT PRIMARY KEY,
            name          TEXT NOT NULL,
            country       TEXT NOT NULL,
            sector        TEXT NOT NULL,
            school_code   TEXT NOT NULL,
            board         TEXT,
            registered_on TEXT NOT NULL
        ) STRICT;
        CREATE TABLE IF NOT EXISTS studies (
            study_id           TEXT PRIMARY KEY,
            title              TEXT NOT NULL,
            description        TEXT,
            min_group_size     INTEGER NOT NULL,
            identify_schools   INTEGER NOT NULL,
            current_instrument TEXT NOT NULL,
            defined_on         TEXT NOT NULL
        ) STRICT;
        CREATE TABLE IF NOT EXISTS waves (
            study_id  TEXT NOT NULL,
            label     TEXT NOT NULL,
            ordinal   INTEGER NOT NULL,
            opens_on  TEXT NOT NULL,
            closes_on TEXT NOT NULL,
            released_at INTEGER,
            PRIMARY KEY (study_id, label)
        ) STRICT;
        CREATE TABLE IF NOT EXISTS instrument_items (
            study_id  TEXT NOT NULL,
            version   TEXT NOT NULL,
            code      TEXT NOT NULL,
            dimension TEXT NOT NULL,
            text      TEXT NOT NULL,
            PRIMARY KEY (study_id, version, code)
        ) STRICT;
        CREATE TABLE IF NOT EXISTS enrolments (
            study_id    TEXT NOT NULL,
            school_id   TEXT NOT NULL,
            ordinal     INTEGER NOT NULL,
            pseudonym   TEXT NOT NULL,
            enrolled_on TEXT NOT NULL,
            PRIMARY KEY (study_id, school_id)
        ) STRICT;"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "schools",
            "studies",
            "waves",
            "instrument_items",
            "enrolments",
        ]
    }

    fn apply(
        &self,
        transaction: &Transaction<'_>,
        event: &LogEvent,
    ) -> Result<(), ProjectionError> {
        match &event.payload {
            Payload::School(SchoolEvent::SchoolRegistered {
                school_id,
                name,
                country,
                sector,
                school_code,
                board,
            }) => {
                transaction
                    .prepare_cached("INSERT INTO schools VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
                    .execute(params![
                        school_id.to_string(),
                        name.as_str(),
                        country.as_str(),
                        sector.as_str(),
                        school_code.to_string(),
                        board.as_ref().map(|board| board.as_str()),
                        event.occurred_on().to_string(),
                    ])?;
            }
            Payload::Study(StudyEvent::StudyDefined {
                study_id,
                title,
                description,
                waves,
                instrument,
                confidentiality,
            }) => {
                transaction
                    .prepare_cached("INSERT INTO studies VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
                    .execute(params![
                        study_id.to_string(),
                        title.as_str(),
                        description.as_ref().map(|text| text.as_str()),
                        i64::from(confidentiality.min_group_size.value()),
                        i64::from(confidentiality.identify_schools),
                        instrument.version.as_str(),
                        event.occurred_on().to_string(),
                    ])?;
                for (index, wave) in Wave::in_order(waves).into_iter().enumerate() {
                    transaction
                        .prepare_cached("INSERT INTO waves VALUES (?1, ?2, ?3, ?4, ?5, NULL)")?
                        .execute(params![
                            study_id.to_string(),
                            wave.label.as_str(),
                            sql_count(index + 1),
                            wave.opens_on.to_string(),
                            wave.closes_on.to_string(),
                        ])?;
                }
                insert_items(transaction, &study_id.to_string(), instrument)?;
            }
            Payload::Study(StudyEvent::InstrumentRegistered { instrument }) => {
                insert_items(transaction, &event.entity_id, instrument)?;
                transaction
                    .prepare_cached(
                        "UPDATE studies SET current_instrument = ?2 WHERE study_id = ?1",
                    )?
                    .execute(params![event.entity_id, instrument.version.as_str()])?;
            }
            Payload::Study(StudyEvent::WaveReleased { wave, .. }) => {
                transaction
                    .prepare_cached(
                        "UPDATE waves SET released_at = ?3 WHERE study_id = ?1 AND label = ?2",
                    )?
                    .execute(params![
                        event.entity_id,
                        wave.as_str(),
                        sql_position(event.position)
                    ])?;
            }
            Payload::Study(StudyEvent::SchoolEnrolled { school_id }) => {
                // Pseudonyms follow enrolment order, so a rebuild gives every school the same one:
                // `S` and the number, two digits at least (`S07`, `S42`, `S100`).
                transaction
                    .prepare_cached(
                        "INSERT INTO enrolments
                     SELECT ?1, ?2, e.n, 'S' || CASE WHEN e.n < 10 THEN '0' ELSE '' END || e.n, ?3
                     FROM (SELECT COUNT(*) + 1 AS n FROM enrolments WHERE study_id = ?1) e",
                    )?
                    .execute(params![
                        event.entity_id,
                        school_id.to_string(),
                        event.occurred_on().to_string()
                    ])?;
            }
            _ => {}
        }
        Ok(())
    }
}

fn insert_items(
    transaction: &Transaction<'_>,
    study_id: &str,
    instrument: &plg_domain::instrument::Instrument,
) -> Result<(), ProjectionError> {
    for item in &instrument.items {
        transaction
            .prepare_cached("INSERT INTO instrument_items VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![
                study_id,
                instrument.version.as_str(),
                item.code.as_str(),
                item.dimension.as_str(),
                item.text.as_str()
            ])?;
    }
    Ok(())
}
