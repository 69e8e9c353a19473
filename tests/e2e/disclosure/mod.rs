//! The disclosure-control model (`docs/disclosure-control.md`) tested as an attacker would: a
//! realistic study with small roles, a lone respondent, skipped dimensions and blank desired
//! answers; every reply and export a researcher key can get for it; and a search for any
//! suppressed value that can be solved from them: by sums and differences between cells,
//! views and the two exports, from the ICC, and by following respondents across waves.
mod over_time;
mod replies;
mod statistics;
mod study;

use std::collections::BTreeMap;

use crate::kit::TestServer;
use plg_proto::v1;
use tonic::Code;

use self::{
    replies::{Replies, cells, check_cells, check_long_export, collect, export, part},
    statistics::{check_relations_growth_and_impact, check_reliability},
    study::{
        CODES, MEASURES, MIN, Measure, ROLES, SCHOOLS, Truth, WAVES, code_of, generate, label,
        load, release,
    },
};

/// One respondent in the item export.
#[derive(Debug, Default)]
struct Exported {
    school: String,
    wave: String,
    role: String,
    /// Item → (current, desired, current suppressed, desired suppressed).
    answers: BTreeMap<String, (String, String, bool, bool)>,
}

fn item_export(replies: &Replies) -> (BTreeMap<String, Exported>, Vec<(String, String)>) {
    let mut lines = replies.items.lines();
    let header = lines.next().expect("header");
    assert_eq!(
        header,
        "school,wave,wave_ordinal,respondent,role,item_code,dimension_code,dimension,current,\
         desired,current_suppressed,desired_suppressed"
    );
    let (mut respondents, mut hidden_groups) = (BTreeMap::<String, Exported>::new(), Vec::new());
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f[3].is_empty() {
            assert_eq!(&f[4..], ["", "", "", "", "", "", "1", "1"], "{line}");
            hidden_groups.push((f[0].to_owned(), f[1].to_owned()));
            continue;
        }
        let respondent = respondents.entry(f[3].to_owned()).or_default();
        if respondent.school.is_empty() {
            (respondent.school, respondent.wave, respondent.role) =
                (f[0].to_owned(), f[1].to_owned(), f[4].to_owned());
        }
        assert_eq!(
            (
                respondent.school.as_str(),
                respondent.wave.as_str(),
                respondent.role.as_str()
            ),
            (f[0], f[1], f[4]),
            "a respondent number stands for one respondent in one school-wave: {line}"
        );
        let answer = (f[8].to_owned(), f[9].to_owned(), f[10] == "1", f[11] == "1");
        respondent.answers.insert(f[5].to_owned(), answer);
    }
    (respondents, hidden_groups)
}

/// Matches each exported respondent to the one true respondent whose answers it shows.
fn match_respondents<'a>(
    truths: &'a [Truth],
    exported: &BTreeMap<String, Exported>,
) -> BTreeMap<String, &'a Truth> {
    let mut matched = BTreeMap::new();
    for (number, row) in exported {
        let fits = |t: &&Truth| {
            label(t.school) == row.school
                && WAVES[t.wave].0 == row.wave
                && t.answers.keys().eq(row.answers.keys())
                && t.answers.iter().all(|(item, (current, desired))| {
                    let (c, d, c_hidden, d_hidden) = &row.answers[item];
                    let desired = desired.map(|d| d.to_string()).unwrap_or_default();
                    (if *c_hidden {
                        c.is_empty()
                    } else {
                        *c == current.to_string()
                    }) && (if *d_hidden {
                        d.is_empty()
                    } else {
                        *d == desired
                    })
                })
        };
        let candidates: Vec<&Truth> = truths.iter().filter(fits).collect();
        assert_eq!(candidates.len(), 1, "{number} matches {candidates:?}");
        let truth = candidates[0];
        assert!(
            row.role.is_empty() || row.role == ROLES[truth.role].1,
            "{number}: a role label that is not the respondent's"
        );
        matched.insert(number.clone(), truth);
    }
    matched
}

/// A class of respondents that replies tell apart: their scores, and whether it holds anyone
/// whose role is hidden.
type Class = (Vec<f64>, bool);

#[tokio::test]
async fn no_suppressed_value_can_be_solved_from_everything_a_researcher_can_get()
-> anyhow::Result<()> {
    let server = TestServer::start_without_budget().await?;
    let mut clients = server.clients().await?;
    let truths = generate();
    let (study_id, _) = load(&mut clients, &truths).await?;
    release(&mut clients, &study_id).await?;
    let mut research = server.respondent_data_researcher().await?.research;
    let replies = collect(&mut research, &study_id).await?;

    check_cells(&truths, &replies);
    check_long_export(&replies);
    let cells = cells(&replies);

    // The item export: numbers, labels and answers, matched back to the truth.
    let (exported, hidden_groups) = item_export(&replies);
    let in_group =
        |t: &Truth, school: &str, wave: &str| label(t.school) == school && WAVES[t.wave].0 == wave;
    let matched = match_respondents(&truths, &exported);
    // (school, wave, pseudonym) → respondent number.
    let mut number_of: BTreeMap<(usize, usize, &str), &str> = BTreeMap::new();
    for (number, truth) in &matched {
        let key = (truth.school, truth.wave, truth.pseudonym.as_str());
        assert!(
            number_of.insert(key, number).is_none(),
            "{number}: listed twice"
        );
    }
    let label_of = |t: &Truth| {
        number_of
            .get(&(t.school, t.wave, t.pseudonym.as_str()))
            .map_or("", |number| exported[*number].role.as_str())
    };
    for (school, waves) in SCHOOLS.iter().enumerate() {
        for (wave, roles) in waves.iter().enumerate() {
            let size: usize = roles.iter().sum();
            let hidden = hidden_groups.contains(&(label(school), WAVES[wave].0.to_owned()));
            assert_eq!(hidden, (1..MIN).contains(&size), "S{school} T{wave} marked");
            let listed = number_of
                .keys()
                .filter(|(s, w, _)| (*s, *w) == (school, wave))
                .count();
            assert_eq!(
                listed,
                if hidden { 0 } else { size },
                "S{school} T{wave} listed"
            );
        }
    }

    // Sums and differences: in every shown pooled cell, the groups whose sums some reply gives
    // (the pooled cell, shown role cells, each role label of the item export) split the
    // respondents into classes. A class below the minimum is a hidden group solved.
    for school in 0..SCHOOLS.len() {
        for (w, ..) in WAVES {
            let s = label(school);
            for code in CODES {
                for measure in MEASURES {
                    let scored: Vec<&Truth> = truths
                        .iter()
                        .filter(|t| in_group(t, &s, w) && t.score(code, measure).is_some())
                        .collect();
                    let Some(pooled) = cells.get(&(s.clone(), w.to_owned(), None, code)) else {
                        continue;
                    };
                    if part(pooled, measure).suppressed {
                        // Nothing of it anywhere: no answer of that cell in the item export.
                        for t in &scored {
                            if let Some(number) =
                                number_of.get(&(t.school, t.wave, t.pseudonym.as_str()))
                            {
                                for (item, (c, d, ..)) in &exported[*number].answers {
                                    if item.starts_with(code) {
                                        let value = if measure == Measure::Current { c } else { d };
                                        assert!(
                                            value.is_empty(),
                                            "{s} {w} {code}: hidden cell exported"
                                        );
                                    }
                                }
                            }
                        }
                        continue;
                    }
                    // Per class: its scores, and whether it holds anyone whose role is hidden.
                    let mut classes: BTreeMap<(Option<usize>, &str), Class> = BTreeMap::new();
                    for t in &scored {
                        let role_shown = cells
                            .get(&(s.clone(), w.to_owned(), Some(t.role), code))
                            .is_some_and(|cell| !part(cell, measure).suppressed);
                        let class = classes
                            .entry((role_shown.then_some(t.role), label_of(t)))
                            .or_default();
                        class.0.extend(t.score(code, measure));
                        class.1 |= !role_shown;
                    }
                    for (class, (scores, holds_hidden)) in classes {
                        assert!(
                            scores.len() >= MIN,
                            "{s} {w} {code} {measure:?}: the class {class:?} of {} \
                             respondents can be solved from the replies",
                            scores.len()
                        );
                        // A class's sum and sum of squares are known: with one value among
                        // them, that value is every member's, hidden roles' included.
                        assert!(
                            !holds_hidden || scores.iter().any(|score| *score != scores[0]),
                            "{s} {w} {code} {measure:?}: the class {class:?} has one value, \
                             which gives hidden respondents' scores away"
                        );
                    }
                }
            }
        }
    }

    // Following respondents across waves: no respondent number appears in two school-waves
    // (checked while reading the export), and lists follow neither the scan tool's pseudonyms
    // nor the order of submission (either would tell roles apart, or link waves).
    let (mut in_pseudonym_order, mut in_submission_order, mut listings) = (0, 0, 0);
    for (school, waves) in SCHOOLS.iter().enumerate() {
        for wave in 0..waves.len() {
            let listed: Vec<&Truth> = matched
                .values()
                .filter(|t| (t.school, t.wave) == (school, wave))
                .copied()
                .collect();
            if listed.len() >= MIN {
                listings += 1;
                in_pseudonym_order += usize::from(listed.is_sorted_by_key(|t| &t.pseudonym));
                in_submission_order +=
                    usize::from(listed.is_sorted_by_key(|t| {
                        truths.iter().position(|truth| std::ptr::eq(truth, *t))
                    }));
            }
        }
    }
    // A random order matches either by chance in 1 of 120 lists of five, or fewer.
    assert!(
        in_pseudonym_order * 4 <= listings && in_submission_order * 4 <= listings,
        "of {listings} lists, {in_pseudonym_order} follow the pseudonyms and \
         {in_submission_order} the submissions"
    );

    // Cross-school statistics are computed from shown cells alone, so they add nothing to them.
    check_reliability(&replies, &cells);
    check_relations_growth_and_impact(&replies, &cells);
    for timeline in &replies.timelines {
        for entry in &timeline.entries {
            let Some(v1::timeline_entry::Entry::ScanWave(scan)) = &entry.entry else {
                continue;
            };
            for score in &scan.scores {
                let key = (
                    timeline.school.clone(),
                    scan.wave.clone(),
                    None,
                    code_of(score.dimension),
                );
                let cell = cells.get(&key).expect("a pooled cell");
                assert_eq!(
                    (&score.current, &score.desired),
                    (&cell.current, &cell.desired)
                );
            }
        }
    }

    // Respondent-level data needs its own grant.
    let mut cells_only = server.researcher().await?.research;
    let refused = export(&mut cells_only, &study_id, v1::ExportFormat::Items)
        .await
        .expect_err("needs respondent_data");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(
        export(&mut cells_only, &study_id, v1::ExportFormat::Long).await?,
        replies.long
    );
    Ok(())
}
