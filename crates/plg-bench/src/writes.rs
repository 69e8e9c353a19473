//! The write figures: SubmitScan under closed-loop load, the lighter commands, writes to one
//! growing PLG stream, and write-to-visible at a fixed rate.

use std::{collections::VecDeque, pin::Pin, sync::Arc, time::Duration};

use tokio::time::Instant;
use tonic::{Code, Status};

use crate::{
    fixtures::{self, Study},
    load::{Outcome, Until, closed_loop, open_loop},
    report::{latency, rate},
    target::{Process, Target, pick},
};

/// Calls in flight at once that the open-loop pacer allows before it counts a backlog.
pub(crate) const OPEN_LOOP_IN_FLIGHT: usize = 10_000;

/// A load's outcome, and the CPU time plgd spent per answered call (when it runs here).
#[derive(Debug)]
pub struct Measured {
    pub outcome: Outcome,
    pub cpu_ms_per_call: Option<f64>,
}

impl Measured {
    /// `312/s (p50 45 ms, p99 120 ms; plgd CPU 4.10 ms/scan)`, `per` naming a call.
    pub fn summary(&self, per: &str) -> String {
        let cpu = self
            .cpu_ms_per_call
            .map(|cpu| format!("; plgd CPU {cpu:.2} ms/{per}"))
            .unwrap_or_default();
        format!(
            "{} ({}{cpu})",
            rate(self.outcome.rate()),
            latency(&self.outcome)
        )
    }
}

/// Runs `load`, reading plgd's CPU time before and after.
pub async fn measure(
    process: Option<Process>,
    load: impl Future<Output = anyhow::Result<Outcome>>,
) -> anyhow::Result<Measured> {
    let before = process.map(Process::cpu).transpose()?;
    let outcome = load.await?;
    let cpu_ms_per_call = match (process, before) {
        (Some(process), Some(before)) => {
            let used = process.cpu()?.saturating_sub(before);
            Some(used.as_secs_f64() * 1_000.0 / outcome.ok.max(1) as f64)
        }
        _ => None,
    };
    Ok(Measured {
        outcome,
        cpu_ms_per_call,
    })
}

/// `clients` clients submitting scans of every item to `study` until `until`.
pub async fn scans(
    target: &Target,
    study: &Arc<Study>,
    items: &Arc<Vec<String>>,
    clients: usize,
    until: Until,
) -> anyhow::Result<Measured> {
    let load = closed_loop(clients, until, submit_scan(target, study, items, false));
    measure(target.process, load).await
}

pub(crate) type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// A call submitting the next scan of `study` over the channel of its sequence number. With
/// `wait_for_view` it asks to be answered once the research view has the scan, and a reply
/// whose view position is still short of its write (the wait timed out) counts as a
/// `DeadlineExceeded` error.
pub(crate) fn submit_scan(
    target: &Target,
    study: &Arc<Study>,
    items: &Arc<Vec<String>>,
    wait_for_view: bool,
) -> impl Fn(u64) -> Call + Send + Sync + 'static {
    let (study, items, partners) = (
        Arc::clone(study),
        Arc::clone(items),
        target.partners.clone(),
    );
    move |sequence| {
        let mut client = pick(&partners, sequence);
        let mut request = study.scan(&items);
        if let Some(options) = request.options.as_mut() {
            options.wait_for_research_view = wait_for_view;
        }
        Box::pin(async move {
            let reply = client.scans.submit_scan(request).await?.into_inner();
            match reply.result {
                Some(written)
                    if !wait_for_view || written.research_view_position >= written.position =>
                {
                    Ok(())
                }
                _ => Err(Status::new(
                    Code::DeadlineExceeded,
                    "the reply came before the research view had the write",
                )),
            }
        })
    }
}

/// `clients` clients logging interventions at the study's schools for `duration`.
pub async fn interventions(
    target: &Target,
    study: &Arc<Study>,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let (study, partners) = (Arc::clone(study), target.partners.clone());
    let load = closed_loop(clients, Until::elapsed(duration), move |sequence| {
        let mut client = pick(&partners, sequence);
        let school =
            &study.schools[usize::try_from(sequence).unwrap_or_default() % study.schools.len()];
        let request = fixtures::intervention(school);
        async move {
            client
                .interventions
                .log_intervention(request)
                .await
                .map(drop)
        }
    });
    measure(target.process, load).await
}

/// `clients` clients registering people for `duration`.
pub async fn persons(
    target: &Target,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let partners = target.partners.clone();
    let load = closed_loop(clients, Until::elapsed(duration), move |sequence| {
        let mut client = pick(&partners, sequence);
        let request = fixtures::person(sequence);
        async move { client.registry.register_person(request).await.map(drop) }
    });
    measure(target.process, load).await
}

/// Sessions held one after another in one PLG, whose stream grows by one event each.
#[derive(Debug)]
pub struct Growth {
    /// The first `window` writes.
    pub start: Outcome,
    /// The last `window` writes, when there were more than `window` in all.
    pub end: Option<Outcome>,
    /// The PLG stream's revision after the last write.
    pub revision: u64,
    pub writes: u64,
    pub elapsed: Duration,
}

/// Holds up to `events` sessions in one new PLG at the study's first school, one at a time,
/// for at most `limit`.
pub async fn stream_growth(
    target: &Target,
    study: &Study,
    events: u64,
    limit: Duration,
    window: usize,
) -> anyhow::Result<Growth> {
    let mut client = target.partner(0);
    let (plg_id, members) = fixtures::plg(&mut client, &study.schools[0], 3).await?;
    let mut start = Outcome::default();
    let mut recent = VecDeque::with_capacity(window);
    let mut revision = 0;
    let mut writes = 0;
    let began = Instant::now();
    while writes < events && began.elapsed() < limit {
        let sent = Instant::now();
        let result = client
            .sessions
            .hold_session(fixtures::session(&plg_id, &members))
            .await;
        let latency = sent.elapsed();
        let result = result.map(|reply| {
            if let Some(written) = reply.into_inner().result {
                revision = written.revision;
            }
        });
        if writes < window as u64 {
            start.record(latency, result);
        } else {
            if recent.len() == window {
                recent.pop_front();
            }
            recent.push_back((latency, result));
        }
        writes += 1;
    }
    let elapsed = began.elapsed();
    let end = (!recent.is_empty()).then(|| {
        let mut end = Outcome::default();
        for (latency, result) in recent {
            end.record(latency, result);
        }
        end
    });
    start.elapsed = elapsed;
    Ok(Growth {
        start,
        end,
        revision,
        writes,
        elapsed,
    })
}

/// Scans submitted at `rate` per second for `duration`, whatever the answers do; with
/// `wait_for_view`, each asks to be answered once the research view has it.
pub async fn scans_open_loop(
    target: &Target,
    study: &Arc<Study>,
    items: &Arc<Vec<String>>,
    rate: f64,
    duration: Duration,
    wait_for_view: bool,
) -> anyhow::Result<Measured> {
    let call = submit_scan(target, study, items, wait_for_view);
    let load = open_loop(rate, duration, OPEN_LOOP_IN_FLIGHT, call);
    measure(target.process, load).await
}
