//! The soak: a steady mixed load at a fixed rate for a long time (issue 11 asks ten minutes),
//! reported per interval (a minute unless asked otherwise): each operation's rate and p99,
//! plgd's resident memory and CPU; then whether it stayed flat, first interval against last.

use std::{fmt::Write as _, sync::Arc, time::Duration};

use tokio::{sync::watch, time::Instant};

use crate::{
    fixtures::{self, Study},
    load::{Outcome, open_loop_each},
    report::{millis, rate},
    research::Ask,
    target::{Process, Target, pick},
    writes::{OPEN_LOOP_IN_FLIGHT, submit_scan},
};

/// The operations of the mix, in the report's order.
const OPERATIONS: [&str; 5] = [
    "SubmitScan",
    "SubmitScan + wait",
    "LogIntervention",
    "GetWaveScores, one school",
    "GetWaveScores, the study",
];

/// Which operation the `sequence`th call is, out of every 20: 8 scans, 4 scans that wait for
/// the view, 5 interventions, 2 one-school queries and 1 study query.
fn operation(sequence: u64) -> usize {
    match sequence % 20 {
        0..8 => 0,
        8..12 => 1,
        12..17 => 2,
        17..19 => 3,
        _ => 4,
    }
}

/// A memory growth from the first interval to the last within this share of the first (or
/// within [`RESIDENT_SLACK`]) counts as flat.
const RESIDENT_GROWTH: f64 = 0.10;
const RESIDENT_SLACK: u64 = 8 * 1024 * 1024;

/// A last interval's p99 within this multiple of the first's (or within [`P99_SLACK_MS`] of
/// it) counts as flat: one shared machine's p99 moves by that much from minute to minute.
const P99_GROWTH: f64 = 2.0;
const P99_SLACK_MS: f64 = 5.0;

/// One interval of the soak: each operation's calls due in it, and plgd at its end.
#[derive(Debug, Clone, Default)]
pub struct Interval {
    pub operations: [Outcome; OPERATIONS.len()],
    pub resident: Option<u64>,
    /// plgd's CPU time over the interval, as a share of one core.
    pub cpu: Option<f64>,
}

/// What the soak measured.
#[derive(Debug)]
pub struct Soak {
    pub rate: f64,
    pub interval: Duration,
    pub intervals: Vec<Interval>,
    /// Every call of the soak, for the errors.
    pub total: Outcome,
}

/// Runs the mix at `rate` calls per second for `duration`: scans and interventions at the
/// schools of `writes`, queries on `queried` (released).
pub async fn run(
    target: &Target,
    writes: &Arc<Study>,
    queried: &Study,
    items: &Arc<Vec<String>>,
    rate: f64,
    duration: Duration,
    interval: Duration,
) -> anyhow::Result<Soak> {
    let intervals = (duration.as_secs_f64() / interval.as_secs_f64())
        .ceil()
        .max(1.0) as usize;
    let (sampled, samples) = watch::channel(Vec::new());
    let sampler = tokio::spawn(sample(target.process, interval, intervals, sampled));
    let call = mixed(target, writes, queried, items);
    let mut measured = vec![Interval::default(); intervals];
    let elapsed = open_loop_each(rate, duration, OPEN_LOOP_IN_FLIGHT, call, |answer| {
        // A call counts in the interval it was due in, however late its answer.
        let index =
            ((answer.due.as_secs_f64() / interval.as_secs_f64()) as usize).min(intervals - 1);
        measured[index].operations[operation(answer.sequence)].answered(answer);
    })
    .await?;
    let mut total = Outcome::default();
    for outcome in measured.iter().flat_map(|interval| &interval.operations) {
        total.merge(outcome);
    }
    total.elapsed = elapsed;
    sampler.await??;
    for (interval, (resident, cpu)) in measured.iter_mut().zip(samples.borrow().iter()) {
        interval.resident = *resident;
        interval.cpu = *cpu;
    }
    Ok(Soak {
        rate,
        interval,
        intervals: measured,
        total,
    })
}

/// The call for each sequence number: its operation by [`operation`].
fn mixed(
    target: &Target,
    writes: &Arc<Study>,
    queried: &Study,
    items: &Arc<Vec<String>>,
) -> impl Fn(u64) -> crate::writes::Call + Send + Sync + 'static {
    let scan = submit_scan(target, writes, items, false);
    let scan_and_wait = submit_scan(target, writes, items, true);
    let (writes, partners) = (Arc::clone(writes), target.partners.clone());
    let (researcher, study_id) = (target.researcher.clone(), queried.id.clone());
    let first_school = Ask::WaveScores("S01".to_owned());
    let whole_study = Ask::WaveScores(String::new());
    move |sequence| match operation(sequence) {
        0 => scan(sequence),
        1 => scan_and_wait(sequence),
        2 => {
            let mut client = pick(&partners, sequence);
            let school = &writes.schools
                [usize::try_from(sequence).unwrap_or_default() % writes.schools.len()];
            let request = fixtures::intervention(school);
            Box::pin(async move {
                client
                    .interventions
                    .log_intervention(request)
                    .await
                    .map(drop)
            })
        }
        3 => Box::pin(
            first_school
                .clone()
                .call(researcher.clone(), study_id.clone()),
        ),
        _ => Box::pin(
            whole_study
                .clone()
                .call(researcher.clone(), study_id.clone()),
        ),
    }
}

/// plgd's resident memory and CPU share at the end of each of `intervals` intervals.
async fn sample(
    process: Option<Process>,
    every: Duration,
    intervals: usize,
    sampled: watch::Sender<Vec<(Option<u64>, Option<f64>)>>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut cpu_before = process.map(Process::cpu).transpose()?;
    for n in 1..=intervals {
        tokio::time::sleep_until(start + every * u32::try_from(n)?).await;
        let resident = process.map(Process::resident).transpose()?;
        let cpu_now = process.map(Process::cpu).transpose()?;
        let share = cpu_before
            .zip(cpu_now)
            .map(|(before, now)| now.saturating_sub(before).as_secs_f64() / every.as_secs_f64());
        cpu_before = cpu_now;
        sampled.send_modify(|samples| samples.push((resident, share)));
    }
    Ok(())
}

impl Soak {
    /// One row per interval: each operation's rate and p99, plgd's memory and CPU.
    pub fn table(&self) -> String {
        let mut table = String::new();
        let seconds = self.interval.as_secs_f64();
        let _ = writeln!(
            table,
            "| until (s) | {} | plgd RSS (MiB) | plgd CPU (cores) |",
            OPERATIONS.join(" | ")
        );
        let _ = writeln!(table, "|---|{}---|---|", "---|".repeat(OPERATIONS.len()));
        for (n, interval) in self.intervals.iter().enumerate() {
            let mut row = format!("| {:.0} |", seconds * (n + 1) as f64);
            for outcome in &interval.operations {
                let errors = match outcome.error_count() {
                    0 => String::new(),
                    count => format!(", {count} errors"),
                };
                let _ = write!(
                    row,
                    " {} p99 {}{errors} |",
                    rate(outcome.ok as f64 / seconds),
                    millis(outcome.millis(0.99))
                );
            }
            let _ = write!(
                row,
                " {} | {} |",
                interval
                    .resident
                    .map_or("not local".to_owned(), |bytes| format!("{:.0}", mib(bytes))),
                interval
                    .cpu
                    .map_or("not local".to_owned(), |cpu| format!("{cpu:.2}"))
            );
            let _ = writeln!(table, "{row}");
        }
        table
    }

    /// `flat` or `not flat`, with why: plgd's memory and each operation's p99 and rate in the
    /// last interval against the first.
    pub fn verdict(&self) -> String {
        let (Some(first), Some(last)) = (self.intervals.first(), self.intervals.last()) else {
            return "no interval measured".to_owned();
        };
        let mut findings = Vec::new();
        let mut flat = true;
        if let (Some(before), Some(after)) = (first.resident, last.resident) {
            let allowed = before + RESIDENT_SLACK.max((before as f64 * RESIDENT_GROWTH) as u64);
            flat &= after <= allowed;
            let peak = self
                .intervals
                .iter()
                .filter_map(|interval| interval.resident)
                .max()
                .unwrap_or(after);
            findings.push(format!(
                "RSS {:.0} → {:.0} MiB (peak {:.0} MiB)",
                mib(before),
                mib(after),
                mib(peak)
            ));
        }
        for (name, (before, after)) in OPERATIONS
            .iter()
            .zip(first.operations.iter().zip(&last.operations))
        {
            let (p99_before, p99_after) = (before.millis(0.99), after.millis(0.99));
            flat &= p99_after <= (p99_before * P99_GROWTH).max(p99_before + P99_SLACK_MS);
            // Open loop: the calls are due at the same rate in every interval, so fewer
            // answered means plgd fell behind or failed.
            flat &= after.ok as f64 >= before.ok as f64 * 0.95;
            findings.push(format!(
                "{name} p99 {} → {}",
                millis(p99_before),
                millis(p99_after)
            ));
        }
        format!(
            "{}: first against last interval, {}",
            if flat { "flat" } else { "not flat" },
            findings.join("; ")
        )
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
