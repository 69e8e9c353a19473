//! Progress on stderr, at most every second and once at the end: how far, and how fast.

use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(1);

pub(super) struct Progress {
    /// What is counted: `events` or `request records`.
    what: &'static str,
    total: u64,
    copied: u64,
    already_there: u64,
    /// Streams met so far and in all, when copying events.
    streams: Option<(u64, u64)>,
    started: Instant,
    reported: Instant,
}

impl Progress {
    pub(super) fn new(events: u64, streams: u64) -> Self {
        Self::counting("events", events, Some((0, streams)))
    }

    pub(super) fn requests(total: u64) -> Self {
        Self::counting("request records", total, None)
    }

    fn counting(what: &'static str, total: u64, streams: Option<(u64, u64)>) -> Self {
        let now = Instant::now();
        Self {
            what,
            total,
            copied: 0,
            already_there: 0,
            streams,
            started: now,
            reported: now,
        }
    }

    pub(super) fn stream_met(&mut self) {
        if let Some((met, _)) = &mut self.streams {
            *met += 1;
        }
    }

    pub(super) fn events(&mut self, copied: u64, already_there: u64) {
        self.copied += copied;
        self.already_there += already_there;
        if self.reported.elapsed() >= EVERY {
            self.report();
        }
    }

    pub(super) fn finish(&mut self) {
        self.report();
    }

    fn report(&mut self) {
        self.reported = Instant::now();
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let streams = self
            .streams
            .map(|(met, total)| format!(", streams {met}/{total}"))
            .unwrap_or_default();
        eprintln!(
            "migrate: {what} {done}/{total} ({copied} copied, {kept} already there){streams}, \
             {rate:.0} {what}/s",
            what = self.what,
            done = self.copied + self.already_there,
            total = self.total,
            copied = self.copied,
            kept = self.already_there,
            rate = self.copied as f64 / seconds,
        );
    }
}
