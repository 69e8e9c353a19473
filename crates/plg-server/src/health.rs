//! What gRPC health reports: whether each service can do its work now (readiness), from checks
//! run every few seconds, and whether the process should be restarted (liveness).
//!
//! - A service's status (`plg.v1.ScanService`, …) is SERVING while every check it depends on
//!   passes: the event store for all of them, the research view (and its lag) for those that
//!   read it.
//! - The overall status (`""`, what probes ask by default) is SERVING while every check that
//!   all services depend on passes.
//! - `liveness` is SERVING until work the process runs beside its services (the research
//!   view's follower) has stopped on its own: only a restart brings it back.
//!
//! A drain sets every status to NOT_SERVING (`server.rs`).

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tonic_health::{ServingStatus, server::HealthReporter};

/// The service name liveness probes ask for.
pub const LIVENESS: &str = "liveness";

/// Rounds in a row a check must fail before the services that need it are not ready.
const FAILURES_BEFORE_NOT_READY: u32 = 2;

/// How checks run, and what the research view's may lag. Every field may be left out of the
/// file: it keeps its default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// How often every check runs.
    pub check_interval_seconds: u64,
    /// How long one check may take before it counts as failed.
    pub check_timeout_seconds: u64,
    /// Services that read the research view are not ready while its oldest missing event is
    /// older than this.
    pub max_view_lag_seconds: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            check_interval_seconds: 5,
            check_timeout_seconds: 3,
            max_view_lag_seconds: 60,
        }
    }
}

type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// One thing a service needs, checked by `probe`.
#[derive(Clone)]
pub struct Check {
    /// What is checked, for the log: `event store`, `research view`.
    what: &'static str,
    /// The services that cannot work while it fails; `None` for all of them (and the overall
    /// status).
    services: Option<Vec<&'static str>>,
    probe: Probe,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("what", &self.what)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl Check {
    /// A check every service depends on.
    pub fn for_all<F>(what: &'static str, probe: impl Fn() -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            what,
            services: None,
            probe: Arc::new(move || Box::pin(probe())),
        }
    }

    /// A check only `services` depend on.
    pub fn for_services<F>(
        what: &'static str,
        services: &[&'static str],
        probe: impl Fn() -> F + Send + Sync + 'static,
    ) -> Self
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            what,
            services: Some(services.to_vec()),
            probe: Arc::new(move || Box::pin(probe())),
        }
    }

    fn concerns(&self, service: &str) -> bool {
        self.services
            .as_ref()
            .is_none_or(|services| services.contains(&service))
    }
}

/// Runs `checks` every interval and sets the statuses of `services` (and the overall one) from
/// them, and `liveness` from `alive`, until `stop` is set. The first round runs at once.
pub(crate) async fn keep_reporting(
    reporter: HealthReporter,
    services: Vec<&'static str>,
    checks: Vec<Check>,
    settings: HealthSettings,
    mut alive: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let timeout = Duration::from_secs(settings.check_timeout_seconds.max(1));
    let mut interval =
        tokio::time::interval(Duration::from_secs(settings.check_interval_seconds.max(1)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // How many rounds in a row each check has failed: one slow answer (a busy disk, a
    // KurrentDB election) does not take a service out; FAILURES_BEFORE_NOT_READY do.
    let mut failures: HashMap<&'static str, u32> = HashMap::new();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            Ok(()) = alive.changed() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        let failed = run(&checks, timeout).await;
        for check in &checks {
            let count = failures.entry(check.what).or_default();
            match failed.iter().find(|(what, _)| *what == check.what) {
                Some((what, reason)) => {
                    *count += 1;
                    if *count == FAILURES_BEFORE_NOT_READY {
                        tracing::warn!(check = what, %reason, "health check failing: not ready");
                    }
                }
                None => {
                    if *count >= FAILURES_BEFORE_NOT_READY {
                        tracing::info!(check = check.what, "health check passing again");
                    }
                    *count = 0;
                }
            }
        }
        let failing: Vec<&'static str> = failures
            .iter()
            .filter(|(_, count)| **count >= FAILURES_BEFORE_NOT_READY)
            .map(|(what, _)| *what)
            .collect();
        // The drain may have begun while the checks ran: it has the last word.
        let draining = *stop.borrow();
        if draining {
            return;
        }
        for (service, ready) in readiness(&services, &checks, &failing) {
            reporter.set_service_status(service, status(ready)).await;
        }
        let live = *alive.borrow_and_update();
        reporter.set_service_status(LIVENESS, status(live)).await;
    }
}

fn status(ready: bool) -> ServingStatus {
    if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// Whether each of `services`, and then the whole (`""`), is ready while the checks named in
/// `failing` fail.
fn readiness(
    services: &[&'static str],
    checks: &[Check],
    failing: &[&'static str],
) -> Vec<(&'static str, bool)> {
    let failed = |check: &&Check| failing.contains(&check.what);
    let mut statuses: Vec<_> = services
        .iter()
        .map(|service| {
            let ready = !checks
                .iter()
                .filter(failed)
                .any(|check| check.concerns(service));
            (*service, ready)
        })
        .collect();
    let ready = !checks
        .iter()
        .filter(failed)
        .any(|check| check.services.is_none());
    statuses.push(("", ready));
    statuses
}

/// Runs every check at once; the failed ones, with why.
async fn run(checks: &[Check], timeout: Duration) -> Vec<(&'static str, String)> {
    let results = futures::future::join_all(checks.iter().map(|check| async move {
        match tokio::time::timeout(timeout, (check.probe)()).await {
            Ok(Ok(())) => None,
            Ok(Err(reason)) => Some((check.what, reason)),
            Err(_) => Some((check.what, format!("no answer within {timeout:?}"))),
        }
    }))
    .await;
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passing() -> impl Future<Output = Result<(), String>> + Send + 'static {
        std::future::ready(Ok(()))
    }

    #[test]
    fn a_failing_check_makes_only_the_services_it_concerns_not_ready() {
        let services = ["plg.v1.ScanService", "plg.v1.ResearchService"];
        let checks = [
            Check::for_all("event store", passing),
            Check::for_services("research view", &["plg.v1.ResearchService"], passing),
        ];
        let all_ready = readiness(&services, &checks, &[]);
        assert!(all_ready.iter().all(|(_, ready)| *ready), "{all_ready:?}");
        assert_eq!(
            readiness(&services, &checks, &["research view"]),
            [
                ("plg.v1.ScanService", true),
                ("plg.v1.ResearchService", false),
                ("", true),
            ]
        );
        assert_eq!(
            readiness(&services, &checks, &["event store"]),
            [
                ("plg.v1.ScanService", false),
                ("plg.v1.ResearchService", false),
                ("", false),
            ]
        );
    }

    #[tokio::test]
    async fn a_check_that_fails_or_does_not_answer_in_time_is_reported_with_why() {
        let checks = [
            Check::for_all("fine", passing),
            Check::for_all("broken", || std::future::ready(Err("disk gone".to_owned()))),
            Check::for_all("stuck", std::future::pending),
        ];
        let failed = run(&checks, Duration::from_millis(50)).await;
        assert_eq!(
            failed,
            [
                ("broken", "disk gone".to_owned()),
                ("stuck", "no answer within 50ms".to_owned()),
            ]
        );
    }
}
