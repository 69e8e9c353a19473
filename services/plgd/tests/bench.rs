//! The benchmark (`plg-bench`) in its smoke mode against the real plgd binary: every phase
//! runs, with tiny sizes, and no call fails. It asserts nothing about timing.

use clap::Parser as _;

/// A smoke run against this build's plgd, with `flags` besides.
async fn smoke(flags: &[&str]) -> anyhow::Result<plg_bench::Report> {
    let args = [
        "plg-bench",
        "--spawn",
        "--smoke",
        "--plgd",
        env!("CARGO_BIN_EXE_plgd"),
    ];
    let args = plg_bench::Args::try_parse_from(args.iter().chain(flags))?;
    plg_bench::run(args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_smoke_run_measures_every_phase_without_an_error() -> anyhow::Result<()> {
    let report = smoke(&[]).await?;
    assert_eq!(report.errors(), 0, "{report}");
    for figure in [
        "ceiling: SQLite",
        "SubmitScan, 3 schools, 4 clients",
        "LogIntervention",
        "RegisterPerson",
        "HoldSession on one PLG, last",
        "SubmitScan + wait_for_research_view",
        "SubmitScan without the wait",
        "GetWaveScores, the study",
        "ExportStudy items",
        "plgd rebuild, every projection",
        "soak: mixed load",
    ] {
        assert!(
            report.rows.iter().any(|row| row.figure.starts_with(figure)),
            "no {figure} in\n{report}"
        );
    }
    assert!(
        report
            .sections
            .iter()
            .any(|(title, _)| title.starts_with("Soak")),
        "the soak's table per interval:\n{report}"
    );
    assert!(
        report.memory.iter().all(|(_, resident)| resident.is_some()),
        "the spawned plgd's memory was read after every phase:\n{report}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_to_visible_alone_runs_its_rounds_and_nothing_else() -> anyhow::Result<()> {
    let report = smoke(&["--visible-only", "--rate", "5", "--visible-rounds", "2"]).await?;
    assert_eq!(report.errors(), 0, "{report}");
    let figures: Vec<&str> = report.rows.iter().map(|row| row.figure.as_str()).collect();
    assert_eq!(
        figures,
        [
            "SubmitScan + wait_for_research_view, open loop at 5/s (round 1 of 2)",
            "SubmitScan without the wait, open loop at 5/s (round 1 of 2)",
            "SubmitScan + wait_for_research_view, open loop at 5/s (round 2 of 2)",
            "SubmitScan without the wait, open loop at 5/s (round 2 of 2)",
        ],
        "{report}"
    );
    assert!(
        report
            .rows
            .iter()
            .all(|row| row.measured.contains("plgd CPU")),
        "each row with plgd's CPU per scan:\n{report}"
    );
    Ok(())
}
