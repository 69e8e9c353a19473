//! One background task that keeps the research view's kept school-waves warm
//! (`docs/research-view.md`, "Warming"): a pass at start, then one after the view moves, at
//! most every [`PASS_INTERVAL`], each pass on a blocking thread that rests between chunks so
//! that it takes at most about a third of one core.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use plg_eventstore::Position;
use plg_research_view::ResearchView;
use plg_server::server::Stopping;
use tokio::sync::watch;

/// The least time between two passes: under a steady write load the view moves all the time.
const PASS_INTERVAL: Duration = Duration::from_secs(2);

/// Rest after each chunk, as a multiple of the time the chunk took: 2 keeps a pass at about a
/// third of a core, so writes and queries keep the rest.
const REST_PER_WORK: u32 = 2;

/// How long a stop may wait for a resting pass to notice it.
const REST_SLICE: Duration = Duration::from_millis(50);

/// Warms `view` until `stopping`: once at start, then after each move of the view's position.
pub async fn keep_warm(
    view: ResearchView,
    mut moved: watch::Receiver<Position>,
    stopping: Stopping,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stopping.wait();
    tokio::pin!(stopped);
    loop {
        let (view, stop_pass) = (view.clone(), Arc::clone(&stop));
        let pass = tokio::task::spawn_blocking(move || {
            view.warm(|took| rest(took * REST_PER_WORK, &stop_pass))
        });
        tokio::pin!(pass);
        let finished = tokio::select! {
            finished = &mut pass => finished,
            () = &mut stopped => {
                stop.store(true, Ordering::Relaxed);
                let _ = pass.await;
                return;
            }
        };
        match finished {
            Ok(Ok(warmed)) if warmed.school_waves > 0 => {
                tracing::debug!(
                    studies = warmed.studies,
                    school_waves = warmed.school_waves,
                    "research view warmed"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "warming the research view failed"),
            Err(error) => tracing::error!(%error, "warming the research view panicked"),
        }
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(PASS_INTERVAL) => {}
        }
        tokio::select! {
            () = &mut stopped => return,
            changed = moved.changed() => if changed.is_err() { return },
        }
    }
}

/// Sleeps for `rest` on the pass's blocking thread, in slices, so that a stop does not wait
/// for the whole rest; whether the pass goes on.
fn rest(rest: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + rest;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(REST_SLICE));
    }
}
