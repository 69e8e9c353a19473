//! Differencing over time: whoever keeps every reply, day after day, learns nothing from the
//! changes. Scores show only once a closed wave is released, a released wave takes no more
//! scans, and a school-wave that changes afterwards (a withdrawal of consent) is hidden for good.

use crate::kit::{TestServer, days_ago, options, options_waiting_for_view, violated_rule};
use plg_proto::v1;
use tonic::Code;

use super::{
    replies::{Replies, cells, collect, part},
    study::{MEASURES, Truth, WAVES, generate, label, load, release},
};

/// Every score of every reply: none may be shown.
fn assert_nothing_shown(replies: &Replies) {
    for score in &replies.scores {
        for measure in MEASURES {
            let summary = part(score, measure);
            assert!(summary.suppressed && summary.mean.is_none(), "{score:?}");
        }
    }
    assert!(replies.growth.iter().all(|g| g.change.is_none()));
    for reliability in &replies.reliability {
        assert!(reliability.dimensions.iter().all(|d| d.schools == 0));
    }
    // Every school-wave in the item export is a marked row without a respondent.
    assert!(
        replies
            .items
            .lines()
            .skip(1)
            .all(|line| line.split(',').nth(3) == Some("")),
        "{}",
        replies.items
    );
}

#[tokio::test]
async fn differencing_over_time_gives_nothing() -> anyhow::Result<()> {
    let server = TestServer::start_without_budget().await?;
    let mut clients = server.clients().await?;
    let truths = generate();
    let (study_id, schools) = load(&mut clients, &truths).await?;
    let mut research = server.respondent_data_researcher().await?.research;

    // Collected, not released: each new scan would otherwise show as a change in the figures.
    assert_nothing_shown(&collect(&mut research, &study_id).await?);
    release(&mut clients, &study_id).await?;
    let released = collect(&mut research, &study_id).await?;

    // A released wave takes no more scans, even dated inside it.
    let late: &Truth = truths
        .iter()
        .find(|t| t.school == 4 && t.wave == 0)
        .expect("a T1 respondent of the fifth school");
    let before = clients.last_position().await?;
    let refused = clients
        .scans
        .submit_scan(v1::SubmitScanRequest {
            options: options().map(|options| v1::WriteOptions {
                occurred_at: days_ago(WAVES[0].3),
                ..options
            }),
            study_id: study_id.clone(),
            school_id: schools[4].clone(),
            wave: WAVES[0].0.into(),
            respondent: "s4-late-00".into(),
            role: v1::RespondentRole::Teacher.into(),
            answers: vec![v1::ItemAnswer {
                item_code: "E1.1".into(),
                current: Some(3),
                desired: None,
            }],
            instrument_version: String::new(),
        })
        .await
        .expect_err("released");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(violated_rule(&refused).as_deref(), Some("wave_released"));
    assert_eq!(clients.last_position().await?, before);

    // A withdrawal after release: the school-waves it changes are hidden from then on, and
    // every other figure stays exactly as it was.
    clients
        .scans
        .withdraw_consent(v1::WithdrawConsentRequest {
            options: options_waiting_for_view(),
            study_id: study_id.clone(),
            school_id: schools[late.school].clone(),
            respondent: late.pseudonym.clone(),
            reason: String::new(),
        })
        .await?;
    let after = collect(&mut research, &study_id).await?;
    let (released_cells, after_cells) = (cells(&released), cells(&after));
    let changed: Vec<(String, String)> = truths
        .iter()
        .filter(|t| t.pseudonym == late.pseudonym)
        .map(|t| (label(t.school), WAVES[t.wave].0.to_owned()))
        .collect();
    assert_eq!(changed.len(), 3, "the respondent answered in every wave");
    for (key, score) in &after_cells {
        let (school, wave, ..) = key;
        let was = released_cells.get(key);
        for measure in MEASURES {
            let now = part(score, measure);
            if changed.contains(&(school.clone(), wave.clone())) {
                assert!(
                    now.suppressed && now.mean.is_none(),
                    "{key:?} still shows scores"
                );
            } else if let Some(was) = was {
                assert_eq!(now, part(was, measure), "{key:?} changed");
            }
        }
    }
    // Cross-school statistics leave the hidden school-waves out, so they may move; what they
    // are computed from is checked in the main attack.
    assert!(after.long != released.long);
    Ok(())
}
