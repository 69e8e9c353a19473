//! The run: set up, the ceilings, then each phase in turn, adding its rows to the report and
//! plgd's memory after it.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;

use crate::{
    Args, ceilings,
    fixtures::{self, Study},
    load::Until,
    rebuild,
    report::{Report, Row, latency, millis, rate, thousands},
    research, soak,
    target::Target,
    writes,
};

/// The floor for SubmitScan: this share of the SQLite ceiling.
const SCAN_SHARE: f64 = 0.7;

/// Runs every phase against the plgd `args` name (or start); the report of what was measured.
pub async fn run(args: Args) -> anyhow::Result<Report> {
    let args = args.sized();
    let target = match &args.address {
        Some(address) => {
            let key = args
                .api_key
                .as_deref()
                .context("--address needs --api-key")?;
            let mut target = Target::connect(address, key, args.channels).await?;
            target.process = args.pid.map(crate::target::Process);
            target
        }
        None => {
            Target::spawn(
                &plgd_binary(&args)?,
                args.scratch_dir.as_deref(),
                args.channels,
            )
            .await?
        }
    };
    let mut report = Report {
        settings: args.settings(),
        ..Report::default()
    };
    if let Some(process) = target.process {
        progress(&format!("measuring plgd, pid {}", process.0));
    }
    progress("setting up the studies");
    let items = Arc::new(fixtures::instrument_items(&mut target.partner(0)).await?);
    let mut studies = Vec::new();
    for &schools in &args.schools {
        let title = format!("plg-bench, {schools} schools");
        studies.push(Arc::new(Study::set_up(&target, &title, schools).await?));
    }
    let first = studies.first().context("--schools names no study")?;
    let event_size = scan_event_size(&target, first, &items).await?;
    remember_memory(&mut report, &target, "set-up")?;
    if args.visible_only {
        let rate = args.rate.context("--visible-only needs --rate")?;
        write_to_visible(&args, &target, first, &items, rate, &mut report).await?;
        return Ok(report);
    }

    // 1. Ceilings, beside which the figures stand.
    progress("the ceilings");
    let ceilings = ceilings::measure(&args, &target, event_size, &mut report).await?;
    let sqlite = ceilings.sqlite;

    if !args.queries_only {
        writes_and_streams(
            &args,
            &target,
            &studies,
            &items,
            sqlite,
            &ceilings,
            &mut report,
        )
        .await?;
    }

    // 6. Research queries, on the data set when one is asked for, else the largest study.
    progress("research queries (and the data set, when asked for)");
    let queried = match args.dataset {
        Some(dataset) => {
            let clients = args.clients.iter().max().copied().unwrap_or(16);
            let (study, loaded) = research::load_dataset(&target, dataset, &items, clients).await?;
            let figure = format!(
                "data set {dataset} loaded ({} scans)",
                thousands(dataset.scans())
            );
            let took = format!(
                "{} in {:.1} s",
                rate(loaded.rate()),
                loaded.elapsed.as_secs_f64()
            );
            let row = Row::new(figure, took)
                .ceiling(format!("SQLite {}", rate(sqlite)))
                .ratio(loaded.rate(), sqlite)
                .target("≥ 20,000 scans a minute (bulk import)");
            report.load(row, &loaded);
            remember_memory(&mut report, &target, "data set load")?;
            study
        }
        None => {
            let largest = studies.iter().max_by_key(|study| study.schools.len());
            Arc::clone(largest.unwrap_or(first))
        }
    };
    research_queries(&args, &target, &queried, &mut report).await?;
    remember_memory(&mut report, &target, "queries")?;

    // The soak, when asked for: the mixed load on the studies of the run.
    if args.soak_seconds > 0.0 {
        progress("soak");
        let soak = soak::run(
            &target,
            first,
            &queried,
            &items,
            args.soak_rate,
            Duration::from_secs_f64(args.soak_seconds),
            Duration::from_secs_f64(args.soak_interval),
        )
        .await?;
        let figure = format!(
            "soak: mixed load at {} for {:.0} s",
            rate(soak.rate),
            args.soak_seconds
        );
        let verdict = soak.verdict();
        report.load(Row::new(figure, verdict.clone()), &soak.total);
        report.sections.push((
            format!(
                "Soak: {} calls/s for {:.0} s, per {:.0} s",
                thousands(soak.rate.round() as u64),
                args.soak_seconds,
                args.soak_interval
            ),
            format!("{}\n- {verdict}\n", soak.table()),
        ));
        remember_memory(&mut report, &target, "soak")?;
    }

    // 7. Rebuilding the research view from everything the run wrote.
    if !args.queries_only {
        progress("projection rebuild");
        projection_rebuild(&args, &target, &mut report).await?;
    }
    if target.process.is_none() {
        report.notes.push(
            "plgd's CPU time and memory: not measured (not spawned here, no --pid)".to_owned(),
        );
    }
    Ok(report)
}

/// Phases 2 to 5: SubmitScan loads, the lighter commands, one growing stream and
/// write-to-visible.
async fn writes_and_streams(
    args: &Args,
    target: &Target,
    studies: &[Arc<Study>],
    items: &Arc<Vec<String>>,
    sqlite: f64,
    ceilings: &ceilings::Ceilings,
    report: &mut Report,
) -> anyhow::Result<()> {
    let first = studies.first().context("--schools names no study")?;
    // 2. SubmitScan with every item answered, per study size and client count.
    progress("SubmitScan");
    let mut sustained = None;
    for study in studies {
        for &clients in &args.clients {
            let until = Until::elapsed(args.duration());
            let measured = writes::scans(target, study, items, clients, until).await?;
            let figure = format!(
                "SubmitScan, {} schools, {clients} clients",
                study.schools.len()
            );
            let row = Row::new(figure, measured.summary("scan"))
                .ceiling(format!("SQLite {}", rate(sqlite)))
                .ratio(measured.outcome.rate(), sqlite)
                .target(format!(
                    "≥ {SCAN_SHARE} of SQLite at 64 clients, at any size"
                ));
            report.load(row, &measured.outcome);
            if Arc::ptr_eq(study, first) {
                sustained = Some(measured.outcome.rate());
            }
        }
    }
    remember_memory(report, target, "SubmitScan loads")?;

    // 3. The lighter commands.
    progress("LogIntervention, RegisterPerson");
    let light = args.light_clients;
    let interventions = writes::interventions(target, first, light, args.duration()).await?;
    let persons = writes::persons(target, light, args.duration()).await?;
    for (name, measured) in [
        ("LogIntervention", interventions),
        ("RegisterPerson", persons),
    ] {
        let row = Row::new(format!("{name}, {light} clients"), measured.summary("call"))
            .ceiling(format!("bare {}", rate(ceilings.bare_at(light))))
            .ratio(measured.outcome.rate(), ceilings.bare_at(light))
            .target("≥ 5,000 events/s");
        report.load(row, &measured.outcome);
    }
    remember_memory(report, target, "lighter commands")?;

    // 4. One PLG's stream, growing.
    progress("HoldSession on one growing PLG");
    stream_growth(args, target, first, report).await?;
    remember_memory(report, target, "stream growth")?;

    // 5. Write-to-visible.
    let visible_rate = args
        .rate
        .unwrap_or_else(|| sustained.unwrap_or(2.0) / 2.0)
        .max(1.0);
    write_to_visible(args, target, first, items, visible_rate, report).await
}

/// Write-to-visible, open loop at `visible_rate`, and the same writes without the wait (the
/// write's own share of the latency), `--visible-rounds` times.
async fn write_to_visible(
    args: &Args,
    target: &Target,
    study: &Arc<Study>,
    items: &Arc<Vec<String>>,
    visible_rate: f64,
    report: &mut Report,
) -> anyhow::Result<()> {
    progress("write-to-visible");
    let rounds = args.visible_rounds.max(1);
    for (round, wait) in (1..=rounds).flat_map(|round| [(round, true), (round, false)]) {
        let measured =
            writes::scans_open_loop(target, study, items, visible_rate, args.duration(), wait)
                .await?;
        let (figure, goal) = if wait {
            (
                "SubmitScan + wait_for_research_view, open loop at",
                "p99 ≤ 20 ms at half the sustained rate",
            )
        } else {
            ("SubmitScan without the wait, open loop at", "")
        };
        let cpu = measured
            .cpu_ms_per_call
            .map(|cpu| format!("; plgd CPU {cpu:.2} ms/scan"))
            .unwrap_or_default();
        let of = if rounds > 1 {
            format!(" (round {round} of {rounds})")
        } else {
            String::new()
        };
        let row = Row::new(
            format!("{figure} {}{of}", rate(visible_rate)),
            format!("{}{cpu}", latency(&measured.outcome)),
        )
        .target(goal);
        report.load(row, &measured.outcome);
    }
    remember_memory(report, target, "write-to-visible")?;
    Ok(())
}

/// Sessions in one PLG, one at a time: the latency at the start and once the stream has grown.
async fn stream_growth(
    args: &Args,
    target: &Target,
    study: &Study,
    report: &mut Report,
) -> anyhow::Result<()> {
    let limit = Duration::from_secs_f64(args.stream_seconds);
    let window = args.stream_window;
    let growth = writes::stream_growth(target, study, args.stream_events, limit, window).await?;
    let figure = format!("HoldSession on one PLG, its first {window} events");
    report.load(Row::new(figure, latency(&growth.start)), &growth.start);
    if let Some(end) = &growth.end {
        let figure = format!(
            "HoldSession on one PLG, last {window} of {} writes (stream at {} events, after {:.1} s)",
            thousands(growth.writes),
            thousands(growth.revision + 1),
            growth.elapsed.as_secs_f64()
        );
        let start = growth.start.millis(0.5);
        let row = Row::new(figure, latency(end))
            .ceiling(format!("start: p50 {}", millis(start)))
            .ratio(end.millis(0.5), start)
            .target(format!(
                "as at the start, at {} events",
                thousands(args.stream_events)
            ));
        report.load(row, end);
    }
    Ok(())
}

/// The study's waves released, then each query and both exports.
async fn research_queries(
    args: &Args,
    target: &Target,
    study: &Study,
    report: &mut Report,
) -> anyhow::Result<()> {
    research::release(target, study).await?;
    let on = format!("{} schools", study.schools.len());
    let limit = Duration::from_secs_f64(args.query_seconds);
    for query in research::queries(&target.researcher, study, args.query_repeats, limit).await? {
        let goal = if query.one_school {
            "p99 < 20 ms"
        } else {
            "p99 < 200 ms"
        };
        let figure = format!(
            "first call {}, then {}",
            millis(query.first.as_secs_f64() * 1_000.0),
            latency(&query.outcome)
        );
        let row = Row::new(format!("{} ({on})", query.name), figure).target(goal);
        report.load(row, &query.outcome);
    }
    for export in research::exports(&target.researcher, study).await? {
        let mut row = Row::new(
            format!(
                "ExportStudy {} ({on}, {} rows)",
                export.format,
                thousands(export.rows)
            ),
            format!(
                "first chunk {}, then {} rows/s",
                millis(export.first_chunk.as_secs_f64() * 1_000.0),
                thousands(export.rows_per_second.round() as u64)
            ),
        )
        .target("first chunk ≤ 1 s, ≥ 100,000 rows/s");
        if let Some(error) = &export.error {
            row.errors = "1".to_owned();
            report.notes.push(format!("{}: {error}", row.figure));
        }
        report.row(row);
    }
    Ok(())
}

/// Times `plgd rebuild` on a copy of the spawned plgd's store; a plgd not spawned here has no
/// data directory the benchmark knows.
async fn projection_rebuild(
    args: &Args,
    target: &Target,
    report: &mut Report,
) -> anyhow::Result<()> {
    let Some(data_dir) = target.data_dir.clone() else {
        report
            .notes
            .push("projection rebuild: not measured (plgd not spawned here)".to_owned());
        return Ok(());
    };
    let plgd = plgd_binary(args)?;
    let rebuilt = tokio::task::spawn_blocking(move || rebuild::measure(&plgd, &data_dir)).await??;
    let figure = format!(
        "plgd rebuild, every projection ({} events)",
        thousands(rebuilt.events)
    );
    let took = format!(
        "{} events/s in {:.2} s",
        thousands(rebuilt.rate().round() as u64),
        rebuilt.elapsed.as_secs_f64()
    );
    report.row(Row::new(figure, took).target("≥ 50,000 events/s"));
    Ok(())
}

/// `--plgd`, or the plgd binary beside this one (both are built into the same target directory).
fn plgd_binary(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(plgd) = &args.plgd {
        return Ok(plgd.clone());
    }
    let here = std::env::current_exe()?;
    let beside = here.with_file_name("plgd");
    anyhow::ensure!(
        beside.exists(),
        "no plgd beside {} (build it: cargo build --release -p plgd), or give --plgd",
        here.display()
    );
    Ok(beside)
}

/// What the run is doing, on stderr: the report alone goes to stdout.
fn progress(phase: &str) {
    eprintln!("plg-bench: {phase}");
}

fn remember_memory(report: &mut Report, target: &Target, phase: &str) -> anyhow::Result<()> {
    let resident = target
        .process
        .map(crate::target::Process::resident)
        .transpose()?;
    report.memory.push((phase.to_owned(), resident));
    Ok(())
}

/// Submits one scan and reads its event back: the sizes of its stored data and metadata (the
/// metadata as the store writes it), which the SQLite ceiling's rows copy.
async fn scan_event_size(
    target: &Target,
    study: &Study,
    items: &[String],
) -> anyhow::Result<(usize, usize)> {
    let mut client = target.partner(0);
    let written = client
        .scans
        .submit_scan(study.scan(items))
        .await
        .context("submitting the first scan")?
        .into_inner()
        .result
        .context("a scan's reply without its write result")?;
    let events = client.read_stream(&written.stream).await?;
    let event = events.last().context("the scan's stream is empty")?;
    let metadata = event.metadata.clone().unwrap_or_default();
    let stored = serde_json::json!({
        "actor": metadata.actor,
        "key_id": metadata.key_id,
        "tool": metadata.tool,
        "correlation_id": metadata.correlation_id,
        "request_id": metadata.request_id,
        "occurred_at": "2021-06-15T12:00:00Z",
    });
    Ok((event.data_json.len(), stored.to_string().len()))
}
