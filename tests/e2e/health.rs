//! gRPC health as a load balancer or an orchestrator asks it: each service is ready while what
//! it needs answers, and a research view that cannot be read takes only its readers out.

use std::time::Duration;

use plg_server::{config::Config, health::HealthSettings};

use crate::kit::{TestServer, health};

const SERVING: i32 = 1;
const NOT_SERVING: i32 = 2;

#[tokio::test]
async fn a_research_view_that_cannot_be_read_makes_only_its_readers_not_ready() -> anyhow::Result<()>
{
    let server = TestServer::start_with(tempfile::tempdir()?, |config| Config {
        health: HealthSettings {
            check_interval_seconds: 1,
            ..HealthSettings::default()
        },
        ..config
    })
    .await?;
    let channel = server.channel().await?;
    let readers = ["plg.v1.ResearchService", "plg.v1.AuditService"];
    let others = [
        "",
        "liveness",
        "plg.v1.ScanService",
        "plg.v1.RegistryService",
    ];
    for service in readers.iter().chain(&others) {
        assert_eq!(
            health(channel.clone(), service).await?,
            SERVING,
            "{service}"
        );
    }
    // The view's files go away beneath plgd (a volume lost, a careless clean-up): a reader can
    // no longer open the view, though the follower still writes to the files it holds open.
    for suffix in ["", "-wal", "-shm"] {
        let file = server.data_dir().join(format!("research.db{suffix}"));
        if file.exists() {
            std::fs::remove_file(file)?;
        }
    }
    let mut waited = Duration::ZERO;
    while health(channel.clone(), readers[0]).await? == SERVING {
        anyhow::ensure!(waited < Duration::from_secs(15), "still serving");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    for service in readers {
        assert_eq!(
            health(channel.clone(), service).await?,
            NOT_SERVING,
            "{service}"
        );
    }
    for service in others {
        assert_eq!(
            health(channel.clone(), service).await?,
            SERVING,
            "{service}"
        );
    }
    Ok(())
}
