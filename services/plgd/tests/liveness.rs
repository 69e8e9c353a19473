//! Liveness: work a process runs beside its services (the research view's follower) that stops
//! on its own leaves the process not live, so that an orchestrator restarts it; readiness
//! stays as its checks say.

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use plg_server::{
    app::App,
    config::Config,
    health::{HealthSettings, LIVENESS},
    lock::Claim,
    server::ServiceSet,
};
use plg_testkit::health;
use tonic::transport::Channel;

const SERVING: i32 = 1;
const NOT_SERVING: i32 = 2;

#[tokio::test]
async fn work_beside_the_services_that_stops_on_its_own_makes_the_process_not_live()
-> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.path().to_owned(),
        insecure_local: true,
        health: HealthSettings {
            check_interval_seconds: 1,
            ..HealthSettings::default()
        },
        ..Config::default()
    };
    let (finish, finished) = tokio::sync::oneshot::channel::<()>();
    let app = App::build(config, Claim::Whole, |_| {
        // Works a moment, then stops although nobody asked it to: as a follower whose
        // transaction cannot commit does.
        Ok::<_, Infallible>(ServiceSet::default().with_background(|_stopping| async {
            let _ = finished.await;
        }))
    })
    .await?;
    let channel = Channel::from_shared(format!("http://{}", app.local_addr()))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let channel = channel.connect().await?;
    assert_eq!(health(channel.clone(), LIVENESS).await?, SERVING);
    let _ = finish.send(());
    let mut waited = Duration::ZERO;
    while health(channel.clone(), LIVENESS).await? == SERVING {
        anyhow::ensure!(waited < Duration::from_secs(15), "still live");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    assert_eq!(health(channel.clone(), LIVENESS).await?, NOT_SERVING);
    assert_eq!(
        health(channel.clone(), "").await?,
        SERVING,
        "ready: the store answers"
    );
    let _ = stop.send(());
    serving.await??;
    Ok(())
}
