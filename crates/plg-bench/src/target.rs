//! The plgd under measurement: one spawned here on a temporary data directory, or one already
//! running; the keys the benchmark calls it with; its process's CPU time and memory.

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use anyhow::Context as _;
use plg_proto::v1;
use plg_testkit::{Clients, Identity, everything};
use tempfile::TempDir;
use tonic::transport::{Channel, Endpoint};

/// A budget no benchmark reaches: a refusal would measure the budget, not plgd.
const UNLIMITED_BUDGET: [(&str, &str); 3] = [
    ("PLG_BUDGET__REQUESTS_PER_SECOND", "10000000"),
    ("PLG_BUDGET__BURST", "10000000"),
    ("PLG_BUDGET__CONCURRENT_REQUESTS", "100000"),
];

/// How long a spawned plgd may take to say it serves.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A plgd this benchmark started; killed when dropped.
#[derive(Debug)]
struct Spawned {
    child: Child,
    data_dir: TempDir,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The plgd under measurement, and clients of it.
#[derive(Debug)]
pub struct Target {
    /// Partner-tool clients with scope everything: one per channel, each with its own key.
    pub partners: Vec<Clients>,
    /// A researcher with scope everything, granted respondent-level data.
    pub researcher: Clients,
    /// The local process, when known: its CPU time and memory are read from /proc.
    pub process: Option<Process>,
    /// Where plgd keeps its data, when spawned here: the ceilings write beside it.
    pub data_dir: Option<PathBuf>,
    _spawned: Option<Spawned>,
}

impl Target {
    /// Starts `plgd` on a new temporary data directory under `parent` (the system's temporary
    /// directory when `None`) and connects to it.
    pub async fn spawn(
        plgd: &Path,
        parent: Option<&Path>,
        channels: usize,
    ) -> anyhow::Result<Self> {
        let data_dir = match parent {
            Some(parent) => tempfile::tempdir_in(parent)?,
            None => tempfile::tempdir()?,
        };
        let mut child = Command::new(plgd)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data-dir",
            ])
            .arg(data_dir.path())
            .envs(UNLIMITED_BUDGET)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", plgd.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("no stdout")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let spawned = Spawned { child, data_dir };
        let (address, operator_key) = started(stdout, stderr)?;
        let mut target =
            Self::connect(&format!("http://{address}"), &operator_key, channels).await?;
        target.process = Some(Process(pid));
        target.data_dir = Some(spawned.data_dir.path().to_owned());
        target._spawned = Some(spawned);
        Ok(target)
    }

    /// Connects `channels` channels to the plgd at `address`; `operator_key` issues the keys the
    /// benchmark calls with.
    pub async fn connect(
        address: &str,
        operator_key: &str,
        channels: usize,
    ) -> anyhow::Result<Self> {
        let mut operator = Clients::new(channel(address).await?, Identity::bearer(operator_key)?);
        let mut partners = Vec::new();
        for number in 0..channels.max(1) {
            let identity = format!("plg-bench partner tool {number}");
            let key = issue(
                &mut operator,
                &identity,
                v1::Role::PartnerTool,
                everything(),
            )
            .await?;
            partners.push(Clients::new(
                channel(address).await?,
                Identity::bearer(&key)?,
            ));
        }
        let scope = v1::Scope {
            respondent_data: true,
            ..everything()
        };
        let key = issue(
            &mut operator,
            "plg-bench researcher",
            v1::Role::Researcher,
            scope,
        )
        .await?;
        Ok(Self {
            partners,
            researcher: Clients::new(channel(address).await?, Identity::bearer(&key)?),
            process: None,
            data_dir: None,
            _spawned: None,
        })
    }

    /// The partner-tool clients for the `n`th call.
    pub fn partner(&self, n: u64) -> Clients {
        pick(&self.partners, n)
    }
}

/// The clients of the channel the `n`th call goes over: calls are spread over the channels.
pub fn pick(partners: &[Clients], n: u64) -> Clients {
    partners[usize::try_from(n % partners.len() as u64).unwrap_or_default()].clone()
}

async fn channel(address: &str) -> anyhow::Result<Channel> {
    Endpoint::from_shared(address.to_owned())
        .with_context(|| format!("{address} is not an address"))?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to plgd at {address}"))
}

async fn issue(
    operator: &mut Clients,
    identity: &str,
    role: v1::Role,
    scope: v1::Scope,
) -> anyhow::Result<String> {
    let issued = operator
        .issue_api_key(identity, role, scope)
        .await
        .with_context(|| {
            format!("issuing the key of {identity} (is --api-key an operator key?)")
        })?;
    Ok(issued.api_key)
}

/// Waits until a spawned plgd logs that it serves: its address, and the operator key it printed
/// on stdout before. Both pipes are drained from then on, so plgd never blocks on a full one.
fn started(
    stdout: std::process::ChildStdout,
    stderr: std::process::ChildStderr,
) -> anyhow::Result<(String, String)> {
    let (printed, keys) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim().starts_with("plg_") {
                let _ = printed.send(line.trim().to_owned());
            }
        }
    });
    let (logged, addresses) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
        for line in lines.by_ref() {
            let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if entry["message"] == "serving" {
                let _ = logged.send(entry["address"].as_str().unwrap_or_default().to_owned());
                break;
            }
        }
        lines.for_each(drop);
    });
    let address = addresses
        .recv_timeout(START_TIMEOUT)
        .context("plgd did not log that it serves")?;
    let key = keys
        .recv_timeout(Duration::from_secs(5))
        .context("plgd printed no operator key")?;
    Ok((address, key))
}

/// A local process, read through /proc.
#[derive(Debug, Clone, Copy)]
pub struct Process(pub u32);

impl Process {
    /// User and system CPU time used so far.
    pub fn cpu(self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0))?;
        // The command name may hold spaces: the fields that follow start after its ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .context("no command name in /proc/<pid>/stat")?
            .1
            .split_whitespace()
            .collect();
        // utime and stime are fields 14 and 15 of stat(5); field 3 is the first after ')'.
        let ticks: u64 = fields
            .get(11..13)
            .context("a short /proc/<pid>/stat")?
            .iter()
            .map(|field| field.parse::<u64>())
            .sum::<Result<_, _>>()?;
        Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
    }

    /// Resident memory (VmRSS), in bytes.
    pub fn resident(self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0))?;
        let kilobytes: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .context("no VmRSS")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kilobytes * 1024)
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless asked otherwise).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|ticks| ticks.trim().parse().ok())
            .unwrap_or(100)
    })
}
