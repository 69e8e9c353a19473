//! `plgd demo` loads a realistic study through the API, with historic dates that respect the
//! API's rules, and loading the same seed again writes nothing.
//!
//! The test loads the full study (15 schools × 3 waves × 30..50 respondents, about 2,800
//! writes) under the default budget of a key (50 requests per second, bursts of 100): about a
//! minute, and as long again for the replay.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate};
use plg_demo as demo;
use plg_proto::v1;
use plg_server::config::{Config, KeyBudget, TlsConfig};
use plg_testkit::{TestServer, payload};

fn occurred_on(event: &v1::Event) -> anyhow::Result<NaiveDate> {
    let at = event
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.occurred_at)
        .context("no occurred_at")?;
    let at = DateTime::from_timestamp(at.seconds, 0).context("invalid occurred_at")?;
    Ok(at.date_naive())
}

fn date_field(value: &serde_json::Value, field: &str) -> anyhow::Result<NaiveDate> {
    let text = value[field]
        .as_str()
        .with_context(|| format!("no {field}"))?;
    Ok(text.parse()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_study_loads_through_the_api_and_replays() -> anyhow::Result<()> {
    // What the demo writes, not how it paces itself under a budget: that is the small
    // budget's test below.
    let server = TestServer::start_without_budget().await?;
    let mut clients = server.clients().await?;
    let keys_issued = clients.last_position().await?;
    let summary = demo::load(
        server.channel().await?,
        Some(server.partner_tool_key().await?),
        7,
    )
    .await?;
    println!("{summary}");

    assert_eq!(summary.schools, 15);
    // 15 schools × 3 waves × 30..50 respondents (a few more when every leader answers).
    assert!((15 * 3 * 30..=15 * 3 * 52).contains(&(summary.scans - summary.resubmissions)));
    assert!((3..=10).contains(&summary.resubmissions));
    assert_eq!(summary.retractions, 2);
    // Fewer respondents than scans: the same staff answer in several waves.
    assert!(summary.respondents < (summary.scans - summary.resubmissions) * 3 / 4);
    assert!((15 * 2..=15 * 5).contains(&summary.interventions));
    assert!((1..=2).contains(&summary.abandoned_interventions));
    assert!((15 + 1..=15 * 3 + 1).contains(&summary.plgs));
    assert!((1..=2).contains(&summary.dissolved_plgs));
    assert!((summary.plgs * 4..=summary.plgs * 10).contains(&summary.sessions));
    assert!(summary.handovers > summary.plgs / 2 && summary.handovers < summary.plgs);
    assert_eq!(summary.plan_revisions, 15 * 2);
    assert_eq!(summary.reflections, 15 * 3);
    assert_eq!(summary.persons, 5 + 15 * 13);
    assert_eq!(summary.replayed, 0);

    let position = clients.last_position().await?;
    assert_eq!(
        position - keys_issued,
        summary.writes,
        "one event per write"
    );

    let (_, events) = clients.read_all().await?;
    let mut types: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &events {
        *types.entry(event.event_type.as_str()).or_default() += 1;
        let metadata = event.metadata.as_ref().context("no metadata")?;
        assert_eq!(metadata.actor, "test-tool", "the key's identity");
        assert_eq!(metadata.tool, "plgd-demo");
        assert!(metadata.request_id.starts_with("demo-7-"));
    }
    let count = |event_type: &str| types.get(event_type).copied().unwrap_or(0);
    assert_eq!(count("SchoolRegistered"), summary.schools);
    assert_eq!(count("StudyDefined"), 1);
    assert_eq!(count("SchoolEnrolled"), summary.schools);
    assert_eq!(count("ScanSubmitted"), summary.scans);
    assert_eq!(count("ScanRetracted"), summary.retractions);
    assert_eq!(count("InterventionLogged"), summary.interventions);
    assert_eq!(count("PlgFormed"), summary.plgs);
    assert_eq!(count("SessionHeld"), summary.sessions);
    assert_eq!(count("CoachHandedOver"), summary.handovers);
    assert_eq!(count("PersonRegistered"), summary.persons);

    // Scans were answered inside their wave's window, as occurred_at says.
    let study = events
        .iter()
        .find(|event| event.event_type == "StudyDefined")
        .context("no study")?;
    let study = payload(study)?;
    assert_eq!(study["title"], "De school als PLG (demo)");
    let mut windows = BTreeMap::new();
    for wave in study["waves"].as_array().context("no waves")? {
        windows.insert(
            wave["label"].as_str().context("no label")?.to_owned(),
            (
                date_field(wave, "opens_on")?,
                date_field(wave, "closes_on")?,
            ),
        );
    }
    assert_eq!(windows.len(), 3);
    let mut superseding = 0;
    let mut pseudonyms = BTreeMap::<String, usize>::new();
    for event in events.iter().filter(|e| e.event_type == "ScanSubmitted") {
        let scan = payload(event)?;
        let wave = scan["wave"].as_str().context("no wave")?;
        let (opens, closes) = windows[wave];
        let answered_on = date_field(&scan, "answered_on")?;
        assert_eq!(occurred_on(event)?, answered_on);
        assert!(
            (opens..=closes).contains(&answered_on),
            "{wave} answered on {answered_on}"
        );
        if !scan["supersedes"].is_null() {
            superseding += 1;
        }
        *pseudonyms
            .entry(
                scan["respondent"]
                    .as_str()
                    .context("no respondent")?
                    .to_owned(),
            )
            .or_default() += 1;
    }
    assert_eq!(superseding, summary.resubmissions);
    assert_eq!(pseudonyms.len(), summary.respondents);
    // The same staff answer again in later waves.
    assert!(pseudonyms.values().filter(|waves| **waves >= 2).count() > summary.respondents / 2);

    // A PLG with a handover: an external coach from the formation, an internal one about a
    // year later, sessions only after the formation.
    let handover = events
        .iter()
        .find(|event| event.event_type == "CoachHandedOver")
        .context("no handover")?;
    let stream = clients.read_stream(&handover.stream).await?;
    assert_eq!(stream[0].event_type, "PlgFormed");
    let formed_on = date_field(&payload(&stream[0])?, "formed_on")?;
    assert_eq!(occurred_on(&stream[0])?, formed_on);
    let assigned = stream
        .iter()
        .find(|event| event.event_type == "CoachAssigned")
        .context("no coach assigned")?;
    let assigned = payload(assigned)?;
    assert_eq!(assigned["kind"], "external");
    assert_eq!(date_field(&assigned, "assigned_on")?, formed_on);
    let handed_over = payload(handover)?;
    assert_eq!(handed_over["to_kind"], "internal");
    assert_eq!(handed_over["from_coach_id"], assigned["coach_id"]);
    let days = (date_field(&handed_over, "handed_over_on")? - formed_on).num_days();
    assert!((300..=450).contains(&days), "handed over after {days} days");
    let members = payload(&stream[0])?["member_ids"].clone();
    assert!(
        members
            .as_array()
            .is_some_and(|members| members.contains(&handed_over["to_coach_id"])),
        "the internal coach is a member"
    );
    let sessions: Vec<_> = stream
        .iter()
        .filter(|event| event.event_type == "SessionHeld")
        .collect();
    assert!(sessions.len() >= 4);
    for session in sessions {
        assert!(date_field(&payload(session)?, "held_on")? >= formed_on);
    }

    // Loading the same seed again replays every request and writes nothing.
    let again = demo::load(
        server.channel().await?,
        Some(server.partner_tool_key().await?),
        7,
    )
    .await?;
    assert_eq!(clients.last_position().await?, position);
    assert_eq!(again.writes, summary.writes);
    assert_eq!(again.replayed, again.writes);
    assert_eq!(
        demo::DemoSummary {
            replayed: 0,
            ..again
        },
        summary
    );

    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_slows_to_a_small_budget_and_completes() -> anyhow::Result<()> {
    // Far below what the demo asks (16 calls at once, as fast as they are answered): it
    // completes only by waiting as the refusals' RetryInfo says and sending the calls again.
    let server = TestServer::start_with(tempfile::tempdir()?, |config| Config {
        budget: KeyBudget {
            requests_per_second: 100,
            burst: 10,
            concurrent_requests: 32,
        },
        ..config
    })
    .await?;
    let summary = demo::load_sized(
        server.channel().await?,
        Some(server.partner_tool_key().await?),
        5,
        demo::DemoSize::SMALL,
    )
    .await?;
    assert_eq!(summary.schools, 6);
    assert_eq!(summary.replayed, 0, "a refused write was not applied");
    // The demo spent its key's budget, and these calls (with the same key) do not retry.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let mut clients = server.clients().await?;
    let (_, events) = clients.read_all().await?;
    let demo_events = events
        .iter()
        .filter(|event| {
            event
                .metadata
                .as_ref()
                .is_some_and(|m| m.tool == "plgd-demo")
        })
        .count();
    assert_eq!(
        demo_events as u64, summary.writes,
        "each write applied once"
    );
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_loads_into_the_configured_listener_over_tls() -> anyhow::Result<()> {
    // The key is issued over plain text; the data directory keeps it for the TLS start.
    let plain = TestServer::start().await?;
    let api_key = plain.partner_tool_key().await?.to_owned();
    let data_dir = plain.stop().await?;
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let certs = tempfile::tempdir()?;
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem())?;
    std::fs::write(&key, generated.signing_key.serialize_pem())?;
    let tls = TlsConfig {
        cert: cert.clone(),
        key: key.clone(),
    };
    let server = TestServer::start_with(data_dir, |config| Config {
        tls: Some(tls),
        ..config
    })
    .await?;

    // No --address: the demo goes where the configuration says plgd listens, over https.
    let loaded = tokio::process::Command::new(env!("CARGO_BIN_EXE_plgd"))
        .args(["demo", "--size", "small", "--seed", "3"])
        .arg("--listen")
        .arg(server.address().to_string())
        .arg("--ca-cert")
        .arg(&cert)
        .env("PLG_TLS__CERT", &cert)
        .env("PLG_TLS__KEY", &key)
        .env("PLG_API_KEY", &api_key)
        .current_dir(certs.path())
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&loaded.stdout);
    assert!(
        loaded.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(stdout.contains("schools        6"), "{stdout}");

    server.stop().await?;
    Ok(())
}
