use clap::Parser as _;
use plg_bench::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let smoke = args.smoke;
    let report = plg_bench::run(args).await?;
    println!("{report}");
    // The smoke run asserts nothing about timing, only that every call succeeded.
    anyhow::ensure!(
        !smoke || report.errors() == 0,
        "{} figure(s) had errors",
        report.errors()
    );
    Ok(())
}
