//! What the command line promises: stdout carries only what a command is asked for, logs go
//! to stderr without colours when not on a terminal, and flags are accepted where written.

use std::process::Command;

fn plgd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plgd"))
}

#[test]
fn logs_go_to_stderr_without_colours_and_stdout_carries_only_the_answer() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    // Global flags after the subcommand, too.
    let output = plgd()
        .args(["rebuild", "--log-format", "pretty", "--data-dir"])
        .arg(data_dir.path())
        .output()?;
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout)?;
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["rebuilt the research view up to log position 0"]
    );
    let stderr = String::from_utf8(output.stderr)?;
    assert!(stderr.contains("projection rebuilt"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI escapes: {stderr:?}");
    Ok(())
}

#[test]
fn help_names_every_projection_and_each_variable_once() -> anyhow::Result<()> {
    let help = String::from_utf8(plgd().args(["rebuild", "--help"]).output()?.stdout)?;
    for projection in plg_projections::all_projections() {
        assert!(help.contains(projection.name()), "{help}");
    }
    let help = String::from_utf8(plgd().arg("--help").output()?.stdout)?;
    assert_eq!(help.matches("PLG_CONFIG").count(), 1, "{help}");
    Ok(())
}
