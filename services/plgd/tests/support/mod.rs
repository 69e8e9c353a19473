//! The real plgd binary, started on a free port with JSON logs on stderr.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use anyhow::Context as _;
use plg_proto::v1;
use plg_testkit::{Clients, Identity, everything};

#[derive(Debug)]
pub struct Plgd {
    pub child: Child,
    pub address: String,
    /// Printed on the data directory's first start only.
    pub operator_key: Option<String>,
    /// Every log line after "serving", as it arrives.
    #[allow(
        dead_code,
        reason = "every test crate compiles this module; not all of them read the log"
    )]
    pub log: mpsc::Receiver<serde_json::Value>,
}

impl Plgd {
    /// Clients of a partner tool whose scope is everything, with a key the operator issued.
    #[allow(
        dead_code,
        reason = "every test crate compiles this module; not all of them write"
    )]
    pub async fn partner_tool(&self, identity: &str) -> anyhow::Result<(Clients, Identity)> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.address))?
            .connect()
            .await?;
        let operator_key = self.operator_key.as_deref().context("not a first start")?;
        let mut operator = Clients::new(channel.clone(), Identity::bearer(operator_key)?);
        let partner_key = operator
            .issue_api_key(identity, v1::Role::PartnerTool, everything())
            .await?
            .api_key;
        let identity = Identity::bearer(&partner_key)?;
        Ok((Clients::new(channel, identity.clone()), identity))
    }
}

impl Plgd {
    /// Clients of this server that send `key`.
    #[allow(
        dead_code,
        reason = "every test crate compiles this module; not all of them call through it"
    )]
    pub async fn clients(&self, key: &str) -> anyhow::Result<Clients> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.address))?
            .connect()
            .await?;
        Ok(Clients::new(channel, Identity::bearer(key)?))
    }

    /// Clients of the operator whose key this first start printed.
    #[allow(
        dead_code,
        reason = "every test crate compiles this module; not all of them call through it"
    )]
    pub async fn operator(&self) -> anyhow::Result<Clients> {
        let key = self.operator_key.as_deref().context("not a first start")?;
        self.clients(key).await
    }
}

/// A new key with `role`, scoped to everything, issued by `operator`.
#[allow(
    dead_code,
    reason = "every test crate compiles this module; not all of them issue keys"
)]
pub async fn issue_key(operator: &mut Clients, role: v1::Role) -> anyhow::Result<String> {
    let identity = format!("{role:?} key");
    let issued = operator
        .issue_api_key(&identity, role, everything())
        .await?;
    Ok(issued.api_key)
}

/// A test that fails leaves no server behind.
impl Drop for Plgd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary over a fresh `data_dir`, waits until it serves, and checks that it printed
/// the first operator key.
#[allow(
    dead_code,
    reason = "every test crate compiles this module; not all of them take the defaults"
)]
pub fn spawn_plgd(data_dir: &std::path::Path) -> anyhow::Result<Plgd> {
    spawn_plgd_with(data_dir, &[])
}

#[allow(
    dead_code,
    reason = "every test crate compiles this module; not all of them configure plgd"
)]
/// [`spawn_plgd`] with `environment` set, such as `PLG_CONNECTIONS__MAX`.
pub fn spawn_plgd_with(
    data_dir: &std::path::Path,
    environment: &[(&str, &str)],
) -> anyhow::Result<Plgd> {
    let plgd = start(data_dir, environment)?;
    anyhow::ensure!(
        plgd.operator_key.is_some(),
        "no operator key printed on the first start"
    );
    Ok(plgd)
}

/// Starts the binary again over a data directory it has served before.
#[allow(
    dead_code,
    reason = "every test crate compiles this module; not all of them restart plgd"
)]
pub fn respawn_plgd(data_dir: &std::path::Path) -> anyhow::Result<Plgd> {
    start(data_dir, &[])
}

fn start(data_dir: &std::path::Path, environment: &[(&str, &str)]) -> anyhow::Result<Plgd> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plgd"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data_dir)
        .envs(environment.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // The key is on stdout, printed before the log (on stderr) says "serving".
    let stdout = child.stdout.take().context("no stdout")?;
    let (print, printed) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = print.send(line);
        }
    });
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines.next().context("plgd exited before serving")??;
        let entry: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("a log line that is not JSON: {line:?}"))?;
        if entry["message"] == "serving" {
            break entry["address"]
                .as_str()
                .context("no address logged")?
                .to_owned();
        }
    };
    // Keep draining the log, so the child never blocks on a full pipe, into a channel that
    // may be read or not.
    let (sender, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = sender.send(serde_json::from_str(&line).unwrap_or_default());
        }
    });
    let mut operator_key = None;
    while let Ok(line) = printed.recv_timeout(Duration::from_millis(300)) {
        if line.trim().starts_with("plg_") {
            operator_key = Some(line.trim().to_owned());
        }
    }
    Ok(Plgd {
        child,
        address,
        operator_key,
        log,
    })
}

/// The resident memory of a process, in bytes.
#[allow(
    dead_code,
    reason = "every test crate compiles this module; not all of them measure memory"
)]
pub fn resident(pid: u32) -> anyhow::Result<u64> {
    plg_bench::target::Process(pid).resident()
}
