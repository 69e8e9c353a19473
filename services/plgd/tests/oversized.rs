//! Requests built to be expensive: lists of a million elements, just under the 4 MiB request
//! limit, sent at once by one key. Each is refused cheaply, plgd's memory stays under a
//! ceiling while they run, and another client's writes keep succeeding.

mod support;

use std::time::Duration;

use anyhow::Context as _;
use plg_proto::v1;
use plg_testkit::{large_intervention, options};
use tonic::Code;

use support::{issue_key, resident, spawn_plgd};

const MIB: u64 = 1024 * 1024;
/// Requests in flight at once, and how many each sender sends.
const SENDERS: usize = 8;
const ROUNDS: usize = 2;

/// An intervention whose category list fills the request up to just under 4 MiB.
fn bloated(school_id: &str) -> v1::LogInterventionRequest {
    let categories = vec![i32::from(v1::InterventionCategory::Professionalisation); 3_900_000];
    v1::LogInterventionRequest {
        categories,
        ..large_intervention(school_id, 0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_lists_are_refused_cheaply_while_others_are_served() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let plgd = spawn_plgd(data_dir.path())?;
    let pid = plgd.child.id();
    let mut operator = plgd.operator().await?;
    let abuser = plgd
        .clients(&issue_key(&mut operator, v1::Role::PartnerTool).await?)
        .await?;
    let mut neighbour = plgd
        .clients(&issue_key(&mut operator, v1::Role::PartnerTool).await?)
        .await?;
    let school_id = neighbour.register_school().await?;
    let request = bloated(&school_id);
    assert!(
        (3 * MIB as usize..4 * MIB as usize).contains(&prost::Message::encoded_len(&request)),
        "just under the request limit"
    );
    let before = resident(pid)?;

    let mut abuse = tokio::task::JoinSet::new();
    for _ in 0..SENDERS {
        let (mut interventions, request) = (abuser.interventions.clone(), request.clone());
        abuse.spawn(async move {
            for _ in 0..ROUNDS {
                let refused = interventions
                    .log_intervention(v1::LogInterventionRequest {
                        options: options(),
                        ..request.clone()
                    })
                    .await
                    .expect_err("too many categories");
                assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
            }
        });
    }
    // While the abuse runs: another key's writes each answer within a generous bound, and
    // plgd's memory is sampled.
    let mut peak = before;
    let mut written = 0;
    while !abuse.is_empty() {
        let write = neighbour.register_person("Anna de Vries");
        tokio::time::timeout(Duration::from_secs(5), write)
            .await
            .context("a neighbour's write took over 5 s")??;
        written += 1;
        peak = peak.max(resident(pid)?);
        while let Some(sent) = abuse.try_join_next() {
            sent?;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(written > 0);
    // Eight requests of almost 4 MiB in flight may take their decoded size and some; what
    // the issue measured (about 2 GB for one) must not come near.
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 256 * MIB,
        "plgd grew by {} MiB while refusing huge lists",
        growth / MIB
    );

    // And it recovers: an ordinary request from the abusing key is served.
    let served = abuser
        .interventions
        .clone()
        .log_intervention(large_intervention(&school_id, 1))
        .await;
    assert!(served.is_ok(), "{served:?}");
    Ok(())
}
