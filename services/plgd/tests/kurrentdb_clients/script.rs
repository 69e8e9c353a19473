//! A client script as a child process: JSON lines out on stdout, lines in on stdin, and its
//! stderr kept to explain a failure.

use std::{process::Stdio, time::Duration};

use anyhow::Context as _;
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
    task::JoinHandle,
};

/// Long enough for any step of a script on a busy machine, short enough that a hang fails.
const WAIT: Duration = Duration::from_secs(120);

pub struct Script {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: JoinHandle<String>,
}

impl Script {
    pub fn spawn(mut command: Command) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {command:?}"))?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            anyhow::bail!("the script's pipes were not set up");
        };
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        Ok(Self {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            stderr,
        })
    }

    /// The value under `key` of the next line the script prints, which must be an object
    /// with that key.
    pub async fn message(&mut self, key: &str) -> anyhow::Result<Value> {
        let line = match tokio::time::timeout(WAIT, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => return Err(self.failure(format!("ended before {key:?}")).await),
            Ok(Err(error)) => return Err(self.failure(format!("unreadable: {error}")).await),
            Err(_) => return Err(self.failure(format!("printed no {key:?}")).await),
        };
        match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(mut message)) if message.contains_key(key) => {
                Ok(message.remove(key).unwrap_or_default())
            }
            _ => Err(self.failure(format!("printed {line} for {key:?}")).await),
        }
    }

    pub async fn send(&mut self, message: &Value) -> anyhow::Result<()> {
        self.stdin
            .write_all(format!("{message}\n").as_bytes())
            .await?;
        Ok(self.stdin.flush().await?)
    }

    /// Waits for the script to exit, which it must do successfully.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(self.failure(format!("exited with {status}")).await),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err(self.failure("did not exit".to_owned()).await),
        }
    }

    async fn failure(&mut self, what: String) -> anyhow::Error {
        let _ = self.child.start_kill();
        let stderr = (&mut self.stderr).await.unwrap_or_default();
        anyhow::anyhow!("the client script {what}; its stderr:\n{stderr}")
    }
}
