//! Replies bounded in size: the event log pages by bytes as well as by count.

use crate::kit::{Clients, TestServer, large_intervention};
use plg_proto::v1;
use plg_server::streams::StreamLimits;
use prost::Message;

async fn large_events(clients: &mut Clients, count: usize) -> anyhow::Result<Vec<String>> {
    let school_id = clients.register_school().await?;
    let mut ids = Vec::new();
    for n in 0..count {
        let logged = clients
            .interventions
            .log_intervention(large_intervention(&school_id, n))
            .await?
            .into_inner();
        ids.push(logged.intervention_id);
    }
    Ok(ids)
}

#[tokio::test]
async fn read_all_pages_by_bytes_as_well_as_by_count() -> anyhow::Result<()> {
    const BUDGET: usize = 32 * 1024;
    let server = TestServer::start_with(tempfile::tempdir()?, |config| {
        let mut config = config;
        config.streams = StreamLimits {
            reply_bytes: BUDGET,
            ..StreamLimits::default()
        };
        config
    })
    .await?;
    let mut clients = server.clients().await?;
    let ids = large_events(&mut clients, 20).await?;

    let mut after_position = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = clients
            .event_log
            .read_all(v1::ReadAllRequest {
                after_position,
                max_count: 1000,
            })
            .await?
            .into_inner();
        if page.events.is_empty() {
            break;
        }
        pages += 1;
        assert!(
            page.encoded_len() <= BUDGET,
            "a page of {} bytes exceeds the budget",
            page.encoded_len()
        );
        assert_eq!(
            page.events.last().map(|event| event.position),
            Some(page.last_position)
        );
        seen.extend(page.events);
        after_position = Some(page.last_position);
    }
    assert!(pages > 1, "paged by bytes");
    let positions: Vec<u64> = seen.iter().map(|event| event.position).collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]));
    for id in &ids {
        let stream = format!("intervention-{id}");
        assert!(
            seen.iter().any(|event| event.stream == stream),
            "every event is read"
        );
    }

    Ok(())
}
