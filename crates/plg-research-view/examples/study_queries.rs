//! Times the study-level queries on a generated study, in process (no gRPC), for profiling
//! (`docs/performance.md`, "Study queries in linear time").
//!
//! ```sh
//! cargo run --release -p plg-research-view --example study_queries -- generate DIR 1000x3x40
//! cargo run --release -p plg-research-view --example study_queries -- query DIR 20
//! valgrind --tool=callgrind target/release/examples/study_queries query DIR 2 relations
//! ```
//!
//! `generate` projects a study of SCHOOLS × WAVES × RESPONDENTS scans (every wave released, an
//! intervention at every third school) into `DIR/research.db`; `query` asks each study query
//! and each query about school S01 once (the view keeps nothing yet), then REPEATS times warm, and prints a digest of its
//! answer (to compare two builds), the first call and p50/max of the warm ones; a query's name after REPEATS runs that query alone.

#[path = "../src/fixture.rs"]
#[allow(dead_code)]
mod fixture;

use std::{
    fmt::Debug,
    path::Path,
    time::{Duration, Instant},
};

use plg_domain::{
    ids::{ResponseId, SchoolId, StudyId, SubmissionId},
    instrument::Instrument,
    scan::{RespondentRole, ScanEvent},
    values::{Pseudonym, WaveLabel, parse_date},
};
use plg_projections::{Payload, Projection, ResearchDb, all_projections};
use plg_research_view::{ResearchView, context::NamedSchool};

use fixture::{Draw, Log, answers};

type Error = Box<dyn std::error::Error>;

const WAVES: [(&str, &str, &str); 3] = [
    ("T1", "2021-01-01", "2021-12-31"),
    ("T2", "2022-01-01", "2022-12-31"),
    ("T3", "2023-01-01", "2023-12-31"),
];

fn main() -> Result<(), Error> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["generate", dir, size] => generate(Path::new(dir), size),
        ["query", dir, repeats] => query(Path::new(dir), repeats.parse()?, None, false),
        ["query", dir, repeats, only] => query(Path::new(dir), repeats.parse()?, Some(only), false),
        ["warm", dir, repeats] => query(Path::new(dir), repeats.parse()?, None, true),
        _ => Err("usage: generate DIR SxWxR | query DIR REPEATS [QUERY] | warm DIR REPEATS".into()),
    }
}

fn open(dir: &Path) -> Result<ResearchDb, Error> {
    let all = all_projections();
    let projections: Vec<&dyn Projection> = all.iter().map(AsRef::as_ref).collect();
    Ok(ResearchDb::open(dir.join("research.db"), &projections)?)
}

fn generate(dir: &Path, size: &str) -> Result<(), Error> {
    let [schools, waves, respondents] = size
        .split('x')
        .map(str::parse::<usize>)
        .collect::<Result<Vec<_>, _>>()?[..]
    else {
        return Err("size: SCHOOLSxWAVESxRESPONDENTS".into());
    };
    let db = open(dir)?;
    let study = StudyId::new_random();
    let school_ids: Vec<SchoolId> = (0..schools).map(|_| SchoolId::new_random()).collect();
    let mut sql =
        format!("INSERT INTO studies VALUES ('{study}', 'Study', NULL, 5, 0, 'v1', '2020-01-01');");
    for (ordinal, (label, opens, closes)) in WAVES[..waves].iter().enumerate() {
        sql += &format!(
            "INSERT INTO waves VALUES ('{study}', '{label}', {}, '{opens}', '{closes}', NULL);",
            ordinal + 1
        );
    }
    for (index, school) in school_ids.iter().enumerate() {
        sql += &format!(
            "INSERT INTO schools VALUES ('{school}', 'School {index}', 'nl', 'primary', '{index}AB',
                                         NULL, '2020-01-01');
             INSERT INTO enrolments VALUES ('{study}', '{school}', {index}, 'S{:02}', '2020-01-01');",
            index + 1
        );
        if index % 3 == 0 {
            let category =
                ["professionalisation", "communication", "vision_development"][index / 3 % 3];
            sql += &format!(
                "INSERT INTO interventions VALUES ('i-{index}', '{school}', 'An intervention', NULL,
                     'school', '2021-06-01', NULL, 'started', '2021-06-01', NULL, NULL, {index});
                 INSERT INTO intervention_categories VALUES ('i-{index}', '{category}');"
            );
        }
    }
    db.write_connection()?.execute_batch(&sql)?;

    let mut draw = Draw(7);
    let mut log = Log { events: Vec::new() };
    for (school_id, _) in school_ids.iter().zip(0..) {
        for (label, ..) in &WAVES[..waves] {
            for respondent in 0..respondents {
                let wave = WaveLabel::parse(label)?;
                let respondent = Pseudonym::parse(&format!("r{respondent:03}"))?;
                log.push(Payload::Scan(ScanEvent::ScanSubmitted {
                    response_id: ResponseId::derive(study, *school_id, &wave, &respondent),
                    submission_id: SubmissionId::new_random(),
                    study_id: study,
                    school_id: *school_id,
                    wave,
                    respondent,
                    role: RespondentRole::ALL[draw.below(4) as usize],
                    instrument_version: Instrument::built_in().version,
                    answered_on: parse_date("2021-06-15")?,
                    answers: answers(&mut draw),
                    supersedes: None,
                }));
            }
        }
    }
    let all = all_projections();
    let mut connection = db.write_connection()?;
    let transaction = connection.transaction()?;
    for event in &log.events {
        for projection in &all {
            projection.apply(&transaction, event)?;
        }
    }
    let end = log.events.len() as i64;
    transaction.execute("UPDATE projection_checkpoints SET position = ?1", [end])?;
    transaction.execute(
        "UPDATE waves SET released_at = ?1 WHERE study_id = ?2",
        (end, study.to_string()),
    )?;
    transaction.commit()?;
    println!("{study}");
    Ok(())
}

fn query(dir: &Path, repeats: usize, only: Option<&str>, warm_first: bool) -> Result<(), Error> {
    let db = open(dir)?;
    let study: String =
        db.read_connection()?
            .query_row("SELECT study_id FROM studies", [], |row| row.get(0))?;
    let study = StudyId::parse(&study)?;
    let view = ResearchView::new(db);
    if warm_first {
        let (started, mut working) = (Instant::now(), Duration::ZERO);
        let warmed = view.warm(|took| {
            working += took;
            true
        })?;
        println!(
            "warmed {} school-waves: {:.1} ms of work in {:.1} ms",
            warmed.school_waves,
            working.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    let t1 = WaveLabel::parse("T1")?;
    let s01 = NamedSchool::Label("S01".into());
    type Ask<'a> = (&'a str, Box<dyn Fn() -> Result<Box<dyn Debug>, Error> + 'a>);
    let asks: Vec<Ask<'_>> = vec![
        (
            "wave_scores",
            Box::new(|| Ok(Box::new(view.wave_scores(study, None, Some(&t1))?.value))),
        ),
        (
            "growth",
            Box::new(|| Ok(Box::new(view.growth(study, None)?.value))),
        ),
        (
            "relations",
            Box::new(|| Ok(Box::new(view.relations(study, None)?.value))),
        ),
        (
            "reliability",
            Box::new(|| Ok(Box::new(view.reliability(study, Some(&t1))?.value))),
        ),
        (
            "impact",
            Box::new(|| Ok(Box::new(view.intervention_impact(study, None, None)?.value))),
        ),
        (
            "school_wave_scores",
            Box::new(|| Ok(Box::new(view.wave_scores(study, Some(&s01), None)?.value))),
        ),
        (
            "school_growth",
            Box::new(|| Ok(Box::new(view.growth(study, Some(&s01))?.value))),
        ),
        (
            "school_timeline",
            Box::new(|| Ok(Box::new(view.school_timeline(study, &s01)?.value))),
        ),
        (
            "school_chart",
            Box::new(|| Ok(Box::new(view.spider_chart(study, &s01, &[], true)?.value))),
        ),
    ];
    for (name, ask) in asks {
        if only.is_some_and(|only| only != name) {
            continue;
        }
        let started = Instant::now();
        let answer = ask()?;
        let first = started.elapsed();
        let answer = format!("{answer:?}");
        let mut warm: Vec<f64> = (0..repeats)
            .map(|_| {
                let started = Instant::now();
                ask().map(|_| started.elapsed().as_secs_f64() * 1e3)
            })
            .collect::<Result<_, _>>()?;
        warm.sort_by(f64::total_cmp);
        let at = |share: f64| warm.get(((warm.len() as f64 - 1.0) * share) as usize);
        println!(
            "{name}: answer {:016x}; first {:.1} ms; warm p50 {:.1} ms, max {:.1} ms",
            digest(&answer),
            first.as_secs_f64() * 1e3,
            at(0.5).copied().unwrap_or(f64::NAN),
            at(1.0).copied().unwrap_or(f64::NAN),
        );
    }
    Ok(())
}

/// FNV-1a of an answer's text (`{:?}` tells every f64's bits apart), to compare two builds.
fn digest(answer: &str) -> u64 {
    answer.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
