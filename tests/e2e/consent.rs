//! Withdrawing consent: a respondent's scans stop counting in every wave, in the scores and in
//! the exports, and no new scan of theirs is accepted.

use crate::kit::{
    Authed, Clients, TestServer, close, day, days_ago, options, payload, violated_fields,
    violated_rule,
};
use plg_proto::v1::{self, research_service_client::ResearchServiceClient};
use tonic::Code;

const MIN_GROUP: u32 = 3;

/// A study whose first wave `W1` closed a year ago and whose `W2` is open, showing groups of
/// three once released, with one enrolled school: `(study_id, school_id)`.
async fn study_of_small_groups(clients: &mut Clients) -> anyhow::Result<(String, String)> {
    let wave = |label: &str, opens: i64, closes: i64| v1::Wave {
        label: label.into(),
        opens_on: day(opens),
        closes_on: day(closes),
    };
    let study_id = clients
        .registry
        .define_study(v1::DefineStudyRequest {
            options: options(),
            title: "Consent".into(),
            description: String::new(),
            waves: vec![wave("W1", -400, -300), wave("W2", -30, 30)],
            min_group_size: Some(MIN_GROUP),
            identify_schools: false,
        })
        .await?
        .into_inner()
        .study_id;
    let school_id = clients.register_school().await?;
    clients.enrol(&study_id, &school_id).await?;
    Ok((study_id, school_id))
}

fn scan_request(
    study_id: &str,
    school_id: &str,
    wave: &str,
    respondent: &str,
    support: u32,
) -> v1::SubmitScanRequest {
    let mut write_options = options();
    if let Some(options) = write_options.as_mut() {
        options.occurred_at = days_ago(if wave == "W1" { 350 } else { 1 });
        options.wait_for_research_view = true;
    }
    v1::SubmitScanRequest {
        options: write_options,
        study_id: study_id.into(),
        school_id: school_id.into(),
        wave: wave.into(),
        respondent: respondent.into(),
        role: v1::RespondentRole::Teacher.into(),
        answers: vec![
            v1::ItemAnswer {
                item_code: "C1.1".into(),
                current: Some(support),
                desired: None,
            },
            v1::ItemAnswer {
                item_code: "C1.2".into(),
                current: Some(support),
                desired: None,
            },
        ],
        instrument_version: String::new(),
    }
}

fn withdrawal(study_id: &str, school_id: &str, respondent: &str) -> v1::WithdrawConsentRequest {
    let mut write_options = options();
    if let Some(options) = write_options.as_mut() {
        options.wait_for_research_view = true;
    }
    v1::WithdrawConsentRequest {
        options: write_options,
        study_id: study_id.into(),
        school_id: school_id.into(),
        respondent: respondent.into(),
        reason: "no longer wishes to take part".into(),
    }
}

/// The school's pooled support scores (n, mean, SD) in a wave.
async fn support(
    research: &mut ResearchServiceClient<Authed>,
    study_id: &str,
    wave: &str,
) -> anyhow::Result<v1::ScoreSummary> {
    let reply = research
        .get_wave_scores(v1::GetWaveScoresRequest {
            study_id: study_id.into(),
            school: "S01".into(),
            wave: wave.into(),
        })
        .await?
        .into_inner();
    let cell = reply
        .scores
        .into_iter()
        .find(|score| {
            score.role == i32::from(v1::RespondentRole::Unspecified)
                && score.dimension == i32::from(v1::Dimension::Support)
        })
        .and_then(|score| score.current)
        .expect("the school's pooled support cell");
    Ok(cell)
}

async fn items_export(
    research: &mut ResearchServiceClient<Authed>,
    study_id: &str,
) -> anyhow::Result<String> {
    let mut stream = research
        .export_study(v1::ExportStudyRequest {
            study_id: study_id.into(),
            format: v1::ExportFormat::Items.into(),
        })
        .await?
        .into_inner();
    let mut csv = Vec::new();
    while let Some(message) = stream.message().await? {
        csv.extend(message.chunk);
    }
    Ok(String::from_utf8(csv)?)
}

/// The current answers of the export's item rows in a wave, in ascending order.
fn answers_in<'a>(export: &'a str, wave: &str) -> Vec<&'a str> {
    let mut answers: Vec<&str> = export
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields.get(1) == Some(&wave)).then(|| fields.get(8).copied().unwrap_or_default())
        })
        .collect();
    answers.sort_unstable();
    answers
}

#[tokio::test]
async fn a_withdrawn_respondent_no_longer_counts_in_any_wave_and_cannot_answer_again()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let mut research = server.respondent_data_researcher().await?.research;
    let (study_id, school_id) = study_of_small_groups(&mut clients).await?;
    // Support per teacher: W1 2, 3, 4, 5 and W2 3, 3, 4, 2; t4 withdraws.
    for (wave, scores) in [("W1", [2, 3, 4, 5]), ("W2", [3, 3, 4, 2])] {
        for (respondent, score) in ["t1", "t2", "t3", "t4"].into_iter().zip(scores) {
            clients
                .scans
                .submit_scan(scan_request(&study_id, &school_id, wave, respondent, score))
                .await?;
        }
    }
    // Nothing shows before the closed W1 is released, and the open W2 cannot be.
    let w1 = support(&mut research, &study_id, "W1").await?;
    assert!(w1.n == 4 && w1.suppressed && w1.mean.is_none(), "{w1:?}");

    let request = withdrawal(&study_id, &school_id, "t4");
    let withdrawn = clients
        .scans
        .withdraw_consent(request.clone())
        .await?
        .into_inner();
    let result = withdrawn.result.clone().expect("write result");
    assert!(!result.replayed);
    assert!(
        result.research_view_position >= result.position,
        "{result:?}"
    );
    assert_eq!(result.stream, format!("consent-{}", withdrawn.consent_id));
    let events = clients.read_stream(&result.stream).await?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "ConsentWithdrawn");
    let data = payload(&events[0])?;
    assert_eq!(data["respondent"], "t4");
    assert_eq!(data["study_id"], study_id.as_str());
    assert_eq!(data["school_id"], school_id.as_str());
    assert_eq!(data["reason"], "no longer wishes to take part");

    // Released, W1 shows 2, 3, 4: mean 3, SD 1; W2, open, shows its 3 respondents only.
    clients.release_wave(&study_id, "W1").await?;
    let w1 = support(&mut research, &study_id, "W1").await?;
    assert!(
        w1.n == 3 && close(w1.mean, 3.0) && close(w1.sd, 1.0),
        "{w1:?}"
    );
    let w2 = support(&mut research, &study_id, "W2").await?;
    assert!(w2.n == 3 && w2.suppressed && w2.mean.is_none(), "{w2:?}");
    let export = items_export(&mut research, &study_id).await?;
    assert_eq!(
        answers_in(&export, "W1"),
        ["2", "2", "3", "3", "4", "4"],
        "{export}"
    );
    assert_eq!(answers_in(&export, "W2"), [""], "one marked row: {export}");

    // No new scan, in a wave they answered or not.
    let before = clients.last_position().await?;
    let refused = clients
        .scans
        .submit_scan(scan_request(&study_id, &school_id, "W2", "t4", 5))
        .await
        .expect_err("consent withdrawn");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(
        violated_rule(&refused).as_deref(),
        Some("consent_withdrawn")
    );
    assert_eq!(
        clients.last_position().await?,
        before,
        "a refused scan writes nothing"
    );

    // A retry of the same request answers with the original result; a new one is refused.
    let retried = clients.scans.withdraw_consent(request).await?.into_inner();
    let replayed = retried.result.expect("write result");
    assert!(replayed.replayed);
    assert_eq!(retried.consent_id, withdrawn.consent_id);
    assert_eq!(
        (replayed.stream, replayed.revision, replayed.position),
        (result.stream.clone(), result.revision, result.position)
    );
    let again = clients
        .scans
        .withdraw_consent(withdrawal(&study_id, &school_id, "t4"))
        .await
        .expect_err("already withdrawn");
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(violated_rule(&again).as_deref(), Some("consent_withdrawn"));
    assert_eq!(clients.read_stream(&result.stream).await?.len(), 1);

    // A withdrawal after release: W1's figures before and after would give t3's answers
    // away, so W1 shows its size only from now on.
    clients
        .scans
        .withdraw_consent(withdrawal(&study_id, &school_id, "t3"))
        .await?;
    let w1 = support(&mut research, &study_id, "W1").await?;
    assert!(w1.n == 2 && w1.suppressed && w1.mean.is_none(), "{w1:?}");
    Ok(())
}

#[tokio::test]
async fn consent_can_be_withdrawn_before_answering_but_only_in_a_study_the_school_takes_part_in()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (study_id, school_id) = clients.enrolled_school().await?;

    clients
        .scans
        .withdraw_consent(withdrawal(&study_id, &school_id, "never-answered"))
        .await?;
    let refused = clients
        .scans
        .submit_scan(scan_request(
            &study_id,
            &school_id,
            "T1",
            "never-answered",
            3,
        ))
        .await
        .expect_err("consent withdrawn");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(
        violated_rule(&refused).as_deref(),
        Some("consent_withdrawn")
    );
    // Someone else still answers.
    clients
        .scans
        .submit_scan(scan_request(&study_id, &school_id, "T1", "answered", 3))
        .await?;

    let before = clients.last_position().await?;
    let unenrolled = clients.register_school().await?;
    let other = clients
        .scans
        .withdraw_consent(withdrawal(&study_id, &unenrolled, "never-answered"))
        .await
        .expect_err("not enrolled");
    assert_eq!(other.code(), Code::FailedPrecondition);
    assert_eq!(
        violated_rule(&other).as_deref(),
        Some("school_not_enrolled")
    );
    let unknown = "00000000-0000-4000-8000-000000000000";
    let no_study = clients
        .scans
        .withdraw_consent(withdrawal(unknown, &school_id, "t1"))
        .await
        .expect_err("unknown study");
    assert_eq!(no_study.code(), Code::NotFound);
    let no_school = clients
        .scans
        .withdraw_consent(withdrawal(&study_id, unknown, "t1"))
        .await
        .expect_err("unknown school");
    assert_eq!(no_school.code(), Code::NotFound);
    let invalid = clients
        .scans
        .withdraw_consent(v1::WithdrawConsentRequest {
            options: options(),
            study_id: "not-a-uuid".into(),
            school_id: school_id.clone(),
            respondent: "Jan Jansen".into(),
            reason: String::new(),
        })
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&invalid), ["study_id", "respondent"]);
    assert_eq!(
        clients.event_types_after(before).await?,
        ["SchoolRegistered"],
        "only the school's registration was written"
    );
    Ok(())
}
