//! Load drivers: closed-loop clients (each sends its next call when the last is answered) and an
//! open-loop pacer (calls start on a fixed schedule whatever the answers do), with per-call
//! latency and the errors the server answered, counted by code.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hdrhistogram::Histogram;
use tokio::{
    sync::Semaphore,
    task::JoinSet,
    time::{Instant, sleep_until},
};
use tonic::Status;

/// The longest latency the histograms keep apart (10 minutes, in microseconds).
const LONGEST_MICROS: u64 = 600_000_000;

/// What a run of calls did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Calls answered without an error.
    pub ok: u64,
    /// Errors by gRPC code (or by what the client itself gave up on).
    pub errors: BTreeMap<String, u64>,
    /// The first error's message, to tell what went wrong.
    pub first_error: Option<String>,
    /// Every call's latency (errors included), in microseconds.
    pub latency: Histogram<u64>,
    /// From the first call's start to the last call's answer.
    pub elapsed: Duration,
}

impl Default for Outcome {
    fn default() -> Self {
        Self {
            ok: 0,
            errors: BTreeMap::new(),
            first_error: None,
            latency: Histogram::new_with_bounds(1, LONGEST_MICROS, 3)
                .expect("1 µs to 10 min at 3 significant digits are valid bounds"),
            elapsed: Duration::ZERO,
        }
    }
}

impl Outcome {
    /// Records one call that took `latency`.
    pub fn record(&mut self, latency: Duration, result: Result<(), Status>) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(micros.max(1));
        match result {
            Ok(()) => self.ok += 1,
            Err(status) => self.error(format!("{:?}", status.code()), status.message()),
        }
    }

    /// Records a call of an open loop; one never sent counts as a `client backlog` error.
    pub fn answered(&mut self, answer: Answered) {
        match answer.result {
            Some(result) => self.record(answer.latency, result),
            None => self.error("client backlog".to_owned(), "too many calls waiting"),
        }
    }

    /// Counts an error under `kind`.
    pub fn error(&mut self, kind: String, message: &str) {
        if self.first_error.is_none() {
            self.first_error = Some(format!("{kind}: {message}"));
        }
        *self.errors.entry(kind).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Self) {
        self.ok += other.ok;
        for (kind, count) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += count;
        }
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        let _ = self.latency.add(&other.latency);
    }

    /// Answered calls per second.
    pub fn rate(&self) -> f64 {
        per_second(self.ok, self.elapsed)
    }

    /// The latency at `quantile` (0.5, 0.99), in milliseconds.
    pub fn millis(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1_000.0
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// `none`, or each error code with its count.
    pub fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".to_owned();
        }
        self.errors
            .iter()
            .map(|(kind, count)| format!("{count} {kind}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    count as f64 / elapsed.as_secs_f64()
}

/// When closed-loop clients stop: after a time or after a number of calls in all, whichever
/// comes first.
#[derive(Debug, Clone, Copy)]
pub struct Until {
    pub elapsed: Duration,
    pub calls: u64,
}

impl Until {
    pub fn elapsed(elapsed: Duration) -> Self {
        Self {
            elapsed,
            calls: u64::MAX,
        }
    }

    pub fn calls(calls: u64) -> Self {
        Self {
            elapsed: Duration::MAX,
            calls,
        }
    }
}

/// `clients` clients, each calling `call(sequence)` again as soon as it is answered, until
/// `until`. Every call gets a sequence number of its own (0, 1, …, shared by all clients), so
/// that the calls can name different respondents and carry different request ids.
pub async fn closed_loop<F, Fut>(clients: usize, until: Until, call: F) -> anyhow::Result<Outcome>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Status>> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..clients.max(1) {
        let (call, next) = (Arc::clone(&call), Arc::clone(&next));
        tasks.spawn(async move {
            let mut outcome = Outcome::default();
            loop {
                let sequence = next.fetch_add(1, Ordering::Relaxed);
                if sequence >= until.calls || start.elapsed() >= until.elapsed {
                    return outcome;
                }
                let started = Instant::now();
                let result = call(sequence).await;
                outcome.record(started.elapsed(), result);
            }
        });
    }
    let mut total = Outcome::default();
    while let Some(outcome) = tasks.join_next().await {
        total.merge(&outcome?);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// Calls `call(sequence)` at `rate` per second for `duration`, each on schedule whether or not
/// the earlier ones were answered. A call's latency counts from when it was due, so a server
/// that falls behind shows it (no coordinated omission). More than `max_in_flight` calls
/// waiting at once are not sent but counted as `client backlog` errors.
pub async fn open_loop<F, Fut>(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    call: F,
) -> anyhow::Result<Outcome>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Status>> + Send + 'static,
{
    let mut outcome = Outcome::default();
    let elapsed = open_loop_each(rate, duration, max_in_flight, call, |answer| {
        outcome.answered(answer);
    })
    .await?;
    outcome.elapsed = elapsed;
    Ok(outcome)
}

/// One call of an open loop, answered, or never sent (`None`) because too many were waiting.
#[derive(Debug)]
pub struct Answered {
    pub sequence: u64,
    /// When the call was due, from the loop's start.
    pub due: Duration,
    pub latency: Duration,
    pub result: Option<Result<(), Status>>,
}

/// The open loop of [`open_loop`], handing each answer to `answered` as it comes (not in
/// sequence order); how long it ran, from the first call's start to the last call's answer.
pub async fn open_loop_each<F, Fut>(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    call: F,
    mut answered: impl FnMut(Answered),
) -> anyhow::Result<Duration>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Status>> + Send + 'static,
{
    anyhow::ensure!(rate > 0.0, "an open-loop rate must be above 0");
    let interval = Duration::from_secs_f64(1.0 / rate);
    let calls = (duration.as_secs_f64() * rate).ceil().max(1.0) as u64;
    let places = Arc::new(Semaphore::new(max_in_flight));
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for sequence in 0..calls {
        let due = interval.mul_f64(sequence as f64);
        sleep_until(start + due).await;
        let Ok(place) = Arc::clone(&places).try_acquire_owned() else {
            answered(Answered {
                sequence,
                due,
                latency: Duration::ZERO,
                result: None,
            });
            continue;
        };
        let answer = call(sequence);
        tasks.spawn(async move {
            let result = answer.await;
            drop(place);
            Answered {
                sequence,
                due,
                latency: (start + due).elapsed(),
                result: Some(result),
            }
        });
        while let Some(done) = tasks.try_join_next() {
            answered(done?);
        }
    }
    while let Some(done) = tasks.join_next().await {
        answered(done?);
    }
    Ok(start.elapsed())
}
