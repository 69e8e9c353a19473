//! The embedded store's file damaged behind plgd's back: its payloads and metadata edited in
//! place. Only the embedded store's suite runs this; KurrentDB never edits a written event, and
//! its files are its own.

use plg_proto::v1;

use crate::audit::{events, history};
use crate::kit::{Clients, TestServer};

/// Every page of the whole log, read `max_count` events at a time.
async fn read_all(clients: &mut Clients, max_count: u32) -> anyhow::Result<Vec<v1::Event>> {
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let page = clients
            .event_log
            .read_all(v1::ReadAllRequest {
                after_position: after,
                max_count,
            })
            .await?
            .into_inner();
        if page.events.is_empty() {
            return Ok(events);
        }
        after = Some(page.last_position);
        events.extend(page.events);
    }
}

/// A payload that no longer parses, and edits that still parse, in streams no school
/// verification covers: readers page past the damaged event, and every verification reports
/// each break where it is and checks the rest.
#[tokio::test]
async fn damaged_events_are_read_past_and_every_break_is_reported() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let school_id = history(&mut clients).await?;

    let data_dir = server.stop().await?;
    let file = rusqlite::Connection::open(crate::kit::event_log_file(data_dir.path()))?;
    let (plg, last_revision): (String, u64) = file.query_row(
        "SELECT stream, MAX(revision) FROM events WHERE stream LIKE 'plg-%' GROUP BY stream",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    assert!(last_revision >= 1, "the PLG has several events");
    let edits = [
        // No longer JSON at all.
        format!("UPDATE events SET data = '{{not json' WHERE stream = '{plg}' AND revision = 0"),
        // Still JSON, but not what was recorded.
        format!(
            "UPDATE events SET data = json_set(data, '$.tampered', 1) \
             WHERE stream = '{plg}' AND revision = {last_revision}"
        ),
        "UPDATE events SET data = replace(data, '\"partner_tool\"', '\"operator\"') \
         WHERE stream LIKE 'apikey-%' AND data LIKE '%\"partner_tool\"%'"
            .to_owned(),
        "UPDATE events SET metadata = json_set(metadata, '$.actor', 'someone else') \
         WHERE stream LIKE 'person-%' AND revision = 0"
            .to_owned(),
    ];
    for edit in &edits {
        assert_eq!(file.execute(edit, [])?, 1, "{edit}");
    }
    let (count, streams, damaged_position): (u64, u64, u64) = file.query_row(
        &format!(
            "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(DISTINCT stream) FROM events), \
             (SELECT position FROM events WHERE stream = '{plg}' AND revision = 0)"
        ),
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    drop(file);

    let server = TestServer::start_in(data_dir).await?;
    let mut admin = server.administrator().await?;

    // The log pages past the damaged event, which is marked and shown without data.
    let log = read_all(&mut admin, 3).await?;
    assert!(log.len() as u64 > count, "every event, the new key's too");
    let marked: Vec<_> = log
        .iter()
        .filter(|event| !event.unreadable.is_empty())
        .collect();
    assert_eq!(marked.len(), 1, "{marked:?}");
    let damaged = marked[0];
    assert_eq!(
        (damaged.stream.as_str(), damaged.revision, damaged.position),
        (plg.as_str(), 0, damaged_position)
    );
    assert!(damaged.unreadable.contains("not valid json"), "{damaged:?}");
    assert!(damaged.data_json.is_empty());

    // So does the school's history, to its end.
    let history = events(
        &mut admin.audit,
        v1::GetSchoolHistoryRequest {
            school_id: school_id.clone(),
            ..Default::default()
        },
    )
    .await?;
    let shown: Vec<_> = history
        .iter()
        .filter(|event| event.stream == plg)
        .map(|event| (event.revision, event.unreadable.is_empty()))
        .collect();
    assert_eq!(shown.first(), Some(&(0, false)), "{shown:?}");
    assert_eq!(shown.len() as u64, last_revision + 1, "{shown:?}");

    // The school's verification reports both breaks in the PLG's stream, and checks the rest.
    let verified = admin
        .audit
        .verify_school_history(v1::VerifySchoolHistoryRequest {
            school_id: school_id.clone(),
        })
        .await?
        .into_inner();
    assert!(!verified.intact);
    let broken: Vec<_> = verified.streams.iter().filter(|s| !s.intact).collect();
    assert_eq!(broken.len(), 1, "{verified:?}");
    assert_eq!(broken[0].stream, plg);
    assert_eq!(broken[0].events, last_revision + 1);
    assert_eq!(broken[0].broken_at_revision, Some(0));
    assert!(
        broken[0].reason.contains("payload unreadable"),
        "{verified:?}"
    );
    let at: Vec<_> = broken[0]
        .breaks
        .iter()
        .map(|b| (b.stream.as_str(), b.revision))
        .collect();
    assert_eq!(at, [(plg.as_str(), 0), (plg.as_str(), last_revision)]);

    // The whole store's verification finds the keys' and people's streams' breaks too.
    let mut found = admin
        .audit
        .verify_store(v1::VerifyStoreRequest {})
        .await?
        .into_inner();
    let (mut breaks, mut summary) = (Vec::new(), None);
    while let Some(message) = found.message().await? {
        match message.result {
            Some(v1::verify_store_response::Result::ChainBreak(at)) => breaks.push(at),
            Some(v1::verify_store_response::Result::Summary(last)) => summary = Some(last),
            None => anyhow::bail!("an empty message"),
        }
    }
    let mut where_: Vec<_> = breaks
        .iter()
        .map(|b| {
            (
                b.stream.split('-').next().unwrap_or_default().to_owned(),
                b.revision,
            )
        })
        .collect();
    where_.sort();
    assert_eq!(
        where_,
        [
            ("apikey".to_owned(), 0),
            ("person".to_owned(), 0),
            ("plg".to_owned(), 0),
            ("plg".to_owned(), last_revision)
        ],
        "{breaks:?}"
    );
    assert!(breaks.iter().all(|b| !b.reason.is_empty()));
    let summary = summary.expect("a summary comes last");
    assert!(!summary.intact);
    assert_eq!((summary.breaks, summary.broken_streams), (4, 3));
    // Besides what was there, the administrator key plgd issued after the restart.
    assert_eq!(summary.events, count + 1);
    assert_eq!(summary.streams, streams + 1);
    Ok(())
}
