//! KurrentDB's official Node and Python clients, installed by the tests themselves on first
//! use into a cache under the target directory, exactly as pinned beside their scripts
//! (`tests/clients/node/package-lock.json`, `tests/clients/python/requirements.txt`).

use std::{
    fs::{self, File},
    io::ErrorKind,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context as _;

/// The client scripts and their pins.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The lowest Node the client supports (its `engines`).
const NODE_MAJOR: u32 = 20;

/// The directory whose `node_modules` holds `@kurrent/kurrentdb-client`.
pub fn node_client() -> anyhow::Result<PathBuf> {
    let version = tool_output("node", &["--version"], NODE_NEEDED)?;
    let major = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok());
    anyhow::ensure!(
        major.is_some_and(|major| major >= NODE_MAJOR),
        "node {} is too old: {NODE_NEEDED}",
        version.trim()
    );
    tool_output("npm", &["--version"], NODE_NEEDED)?;
    let pinned = clients_dir().join("node");
    let lock = read(&pinned.join("package-lock.json"))?;
    installed("node", &lock, |dir| {
        for file in ["package.json", "package-lock.json"] {
            fs::copy(pinned.join(file), dir.join(file))?;
        }
        // `ci` installs exactly the lock file; the client's dependencies need no install scripts.
        run(Command::new("npm")
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--prefix",
            ])
            .arg(dir))
    })
}

/// A Python interpreter of a virtual environment that has `kurrentdbclient`.
pub fn python_client() -> anyhow::Result<PathBuf> {
    let version = tool_output("python3", &["--version"], PYTHON_NEEDED)?;
    let requirements = clients_dir().join("python/requirements.txt");
    // A virtual environment belongs to the interpreter that made it: a new python3 remakes it.
    let installs = [version.into_bytes(), read(&requirements)?].concat();
    let dir = installed("python", &installs, |dir| {
        run(Command::new("python3").args(["-m", "venv"]).arg(dir))
            .with_context(|| format!("creating a virtual environment: {PYTHON_NEEDED}"))?;
        // Every package is pinned, so pip installs those and nothing else.
        run(Command::new(venv_python(dir))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
            ])
            .args(["--no-deps", "--requirement"])
            .arg(&requirements))
    })?;
    Ok(venv_python(&dir))
}

const NODE_NEEDED: &str = "the KurrentDB Node client's test needs node 20 or newer and npm \
     on the PATH (Debian and Ubuntu: apt install nodejs npm; or from nodejs.org)";
const PYTHON_NEEDED: &str = "the KurrentDB Python client's test needs python3 (3.10 or newer) \
     with venv and pip on the PATH (Debian and Ubuntu: apt install python3 python3-venv)";

fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// `cache/<name>`, made by `install` unless it holds what `installs` describes already.
/// A lock file serialises the installers, across test processes too, so that two test runs
/// at once install once and neither sees the other's half-made directory.
fn installed(
    name: &str,
    installs: &[u8],
    install: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<PathBuf> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kurrentdb-clients");
    fs::create_dir_all(&cache)?;
    let lock = File::create(cache.join(format!("{name}.lock")))?;
    lock.lock()?;
    let dir = cache.join(name);
    let marker = dir.join("installed-from");
    if fs::read(&marker).is_ok_and(|installed| installed == installs) {
        return Ok(dir);
    }
    match fs::remove_dir_all(&dir) {
        Err(error) if error.kind() != ErrorKind::NotFound => return Err(error.into()),
        _ => {}
    }
    fs::create_dir_all(&dir)?;
    install(&dir)
        .with_context(|| format!("installing the {name} client into {}", dir.display()))?;
    // Written last: a failed or interrupted install is redone by the next run.
    fs::write(marker, installs)?;
    Ok(dir)
}

/// What `tool args` prints, or an error saying what to install when it is not there.
fn tool_output(tool: &str, args: &[&str], needed: &str) -> anyhow::Result<String> {
    let output = Command::new(tool)
        .args(args)
        .output()
        .with_context(|| format!("running {tool}: {needed}"))?;
    anyhow::ensure!(output.status.success(), "{tool} failed: {needed}");
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
