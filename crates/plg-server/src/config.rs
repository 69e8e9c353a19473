//! Configuration, layered: defaults, then a TOML file, then `PLG_` environment variables, then
//! command-line flags.

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use plg_telemetry::LogFormat;
use serde::{Deserialize, Serialize};

use crate::{health::HealthSettings, store::StoreChoice, streams::StreamLimits};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// The settings the environment may set, as `PLG_<SETTING>`.
const SETTINGS: [&str; 14] = [
    "listen",
    "store",
    "kurrentdb_listen",
    "data_dir",
    "log_format",
    "log_filter",
    "shutdown_grace_seconds",
    "tls",
    "streams",
    "connections",
    "budget",
    "otlp_endpoint",
    "metrics_listen",
    "health",
];

/// `PLG_` variables read elsewhere: by clap (`Flags::config`, `plgd demo --api-key`).
const PASSED_THROUGH: [&str; 2] = ["PLG_CONFIG", "PLG_API_KEY"];

/// Whether an environment variable (its name without `PLG_`) sets a setting.
fn is_setting(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SETTINGS.contains(&key.split("__").next().unwrap_or_default())
}

/// The `PLG_` environment variables nothing reads: most likely typos (`PLG_DATA_DIRR`), which
/// would otherwise leave a setting at its default without a word.
pub fn unknown_environment() -> Vec<String> {
    let mut unknown: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| {
            let upper = name.to_ascii_uppercase();
            upper
                .strip_prefix("PLG_")
                .is_some_and(|key| !is_setting(key) && !PASSED_THROUGH.contains(&upper.as_str()))
        })
        .collect();
    unknown.sort();
    unknown
}

/// Unknown keys are refused, so a typo (`lisen`) is an error rather than a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The gRPC listener; port 0 picks a free port.
    pub listen: SocketAddr,
    /// A second listener serving KurrentDB's client protocol (reads; appends only with
    /// `kurrentdb_allow_raw_writes`), for KurrentDB's official clients; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kurrentdb_listen: Option<SocketAddr>,
    /// The event store: `"embedded"` (the file `events.db` in the data directory), or a
    /// `kurrentdb://…` connection string, with TLS and credentials as KurrentDB's clients
    /// take them. Shown with its password redacted.
    #[serde(default)]
    pub store: StoreChoice,
    /// Where the embedded store, the key store and the research view keep their files.
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    /// A `RUST_LOG`-style filter.
    pub log_filter: String,
    /// How long a shutdown waits for requests in flight before it stops anyway.
    pub shutdown_grace_seconds: u64,
    /// TLS on the gRPC listener; plain text when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Bounds on server streams and replies.
    #[serde(default)]
    pub streams: StreamLimits,
    /// How many connections are served at once, and when idle or silent ones are closed.
    #[serde(default)]
    pub connections: ConnectionLimits,
    /// What each API key may ask, so that one cannot starve the others.
    #[serde(default)]
    pub budget: KeyBudget,
    /// How gRPC health checks what the services need.
    #[serde(default)]
    pub health: HealthSettings,
    /// Where traces and metrics are exported over OTLP/gRPC, such as
    /// `http://127.0.0.1:4317`. When absent, the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// (`…_METRICS_ENDPOINT`) or `OTEL_EXPORTER_OTLP_ENDPOINT` names it; with none of them,
    /// nothing is exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// Where metrics are served in Prometheus' text format, at `GET /metrics`, such as
    /// `0.0.0.0:9464`; off when absent. Plain HTTP without authentication: the figures name
    /// no school or person, but bind it where only the scraper reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serves without authentication, for development on one machine. Only the
    /// `--insecure-local` flag sets it: never a file or the environment.
    #[serde(skip)]
    pub insecure_local: bool,
    /// The KurrentDB listener also serves appends, for operator keys, bypassing the domain's
    /// deciders: for a dedicated test or migration store. Only the
    /// `--kurrentdb-allow-raw-writes` flag sets it: never a file or the environment.
    #[serde(skip)]
    pub kurrentdb_allow_raw_writes: bool,
}

/// The listener's certificate chain and private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Bounds on connections, so silent or dead peers cannot use up the process's file limit.
/// Every field may be left out of the file: it keeps its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionLimits {
    /// Connections served at once; more are closed as they arrive. Lowered at start-up to
    /// fit the process's open-file limit.
    pub max: usize,
    /// A new connection that has not sent its opening bytes by then is closed.
    pub handshake_timeout_seconds: u64,
    /// A connection from which nothing arrives for this long (not even answers to
    /// keepalive pings) is closed.
    pub idle_timeout_seconds: u64,
    /// How often an HTTP/2 ping checks a quiet peer is still there; one unanswered within
    /// `keepalive_timeout_seconds` closes the connection.
    pub keepalive_seconds: u64,
    pub keepalive_timeout_seconds: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max: 1_000,
            handshake_timeout_seconds: 10,
            idle_timeout_seconds: 300,
            keepalive_seconds: 60,
            keepalive_timeout_seconds: 20,
        }
    }
}

/// Each API key's budget (in insecure local mode, everyone's together). Over it, requests are
/// refused with RESOURCE_EXHAUSTED and a RetryInfo delay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyBudget {
    /// The sustained rate, refilling a bucket of `burst` requests.
    pub requests_per_second: u32,
    pub burst: u32,
    /// Requests in flight at once (a streamed reply until its last message).
    pub concurrent_requests: u32,
}

impl Default for KeyBudget {
    fn default() -> Self {
        Self {
            requests_per_second: 50,
            burst: 100,
            concurrent_requests: 32,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 50051))),
            kurrentdb_listen: None,
            store: StoreChoice::Embedded,
            data_dir: PathBuf::from("data"),
            log_format: LogFormat::Pretty,
            log_filter: "info".to_owned(),
            shutdown_grace_seconds: 10,
            tls: None,
            streams: StreamLimits::default(),
            connections: ConnectionLimits::default(),
            budget: KeyBudget::default(),
            health: HealthSettings::default(),
            otlp_endpoint: None,
            metrics_listen: None,
            insecure_local: false,
            kurrentdb_allow_raw_writes: false,
        }
    }
}

/// The flags every PLG Ledger binary accepts, before or after a subcommand. Each overrides the
/// file and the environment.
#[derive(Debug, Clone, Default, Parser, Serialize)]
pub struct Flags {
    /// A TOML configuration file
    #[arg(long, env = "PLG_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on for gRPC [default: 127.0.0.1:50051]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Also serve KurrentDB's client protocol (reads) on this address [default: off]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kurrentdb_listen: Option<SocketAddr>,
    /// The event store: embedded, or a kurrentdb:// connection string (its password is
    /// visible to other local users here: prefer the file or PLG_STORE) [default: embedded]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Directory of the embedded event store, the key store and the research view
    /// [default: ./data]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Log format: pretty or json
    #[arg(long, value_parser = parse_log_format, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Log filter, such as `info` or `plg_server=debug,info`
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_filter: Option<String>,
    /// Serve metrics for Prometheus at GET /metrics on this address, such as 0.0.0.0:9464
    /// [default: off]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve without API keys: anyone who reaches the port may do anything. For development
    /// on one machine only
    #[arg(long, global = true)]
    #[serde(skip)]
    pub insecure_local: bool,
    /// Let operator keys append through the KurrentDB listener, bypassing the domain's rules:
    /// for a dedicated test or migration store only. Needs --kurrentdb-listen
    #[arg(long, global = true)]
    #[serde(skip)]
    pub kurrentdb_allow_raw_writes: bool,
}

fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value {
        "pretty" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        other => Err(format!(
            "unknown log format {other:?}: expected pretty or json"
        )),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Config {
    /// Layers the configuration sources. Nested settings take `__` in the environment:
    /// `PLG_TLS__CERT`. Of the environment, only the settings' own variables are read: other
    /// `PLG_` variables pass by, and [`unknown_environment`] names those nothing reads.
    pub fn load(flags: &Flags) -> Result<Self, ConfigError> {
        let environment = Env::prefixed("PLG_")
            .filter(|key| is_setting(key.as_str()))
            .split("__");
        Self::load_with(flags, environment)
    }

    fn load_with(flags: &Flags, environment: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &flags.config {
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Self = figment
            .merge(environment)
            .merge(Serialized::defaults(flags))
            .extract()
            .map_err(|error| ConfigError(Box::new(error)))?;
        Ok(Self {
            insecure_local: flags.insecure_local,
            kurrentdb_allow_raw_writes: flags.kurrentdb_allow_raw_writes,
            ..config
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn flags_beat_the_environment_which_beats_the_file_which_beats_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "plg.toml",
                "listen = \"127.0.0.1:7001\"\ndata_dir = \"/from/file\"\nlog_filter = \"debug\"",
            )?;
            jail.set_env("PLG_DATA_DIR", "/from/env");
            jail.set_env("PLG_LOG_FILTER", "warn");
            jail.set_env("PLG_TLS__CERT", "/from/env/cert.pem");
            jail.set_env("PLG_TLS__KEY", "/from/env/key.pem");
            jail.set_env("PLG_INSECURE_LOCAL", "true");
            jail.set_env("PLG_CONNECTIONS__MAX", "7");
            let flags = Flags {
                config: Some("plg.toml".into()),
                log_filter: Some("trace".into()),
                ..Flags::default()
            };
            let config = Config::load(&flags).map_err(|error| error.to_string())?;
            assert_eq!(config.listen, "127.0.0.1:7001".parse().map_err(|_| "addr")?);
            assert_eq!(config.data_dir, PathBuf::from("/from/env"));
            assert_eq!(config.log_filter, "trace");
            assert_eq!(config.log_format, LogFormat::Pretty);
            assert_eq!(
                config.connections,
                ConnectionLimits {
                    max: 7,
                    ..ConnectionLimits::default()
                },
                "a nested setting keeps its siblings' defaults"
            );
            assert_eq!(
                config.tls,
                Some(TlsConfig {
                    cert: "/from/env/cert.pem".into(),
                    key: "/from/env/key.pem".into(),
                })
            );
            assert!(
                !config.insecure_local,
                "only the flag turns authentication off"
            );
            let flags = Flags {
                insecure_local: true,
                ..flags
            };
            assert!(
                Config::load(&flags)
                    .map_err(|e| e.to_string())?
                    .insecure_local
            );
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn an_unknown_key_in_the_file_is_refused_by_name() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PLG_API_KEY", "plg_not_a_setting");
            for (file, key) in [
                ("lisen = \"127.0.0.1:7001\"", "lisen"),
                ("insecure_local = true", "insecure_local"),
                ("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nca = \"x\"", "ca"),
            ] {
                jail.create_file("plg.toml", file)?;
                let flags = Flags {
                    config: Some("plg.toml".into()),
                    ..Flags::default()
                };
                let error = Config::load(&flags).expect_err(file).to_string();
                assert!(
                    error.contains(&format!("unknown field: found `{key}`")),
                    "{error}"
                );
            }
            jail.create_file("plg.toml", "listen = \"127.0.0.1:7001\"")?;
            let flags = Flags {
                config: Some("plg.toml".into()),
                ..Flags::default()
            };
            assert!(Config::load(&flags).is_ok(), "other PLG_ variables pass by");
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn unknown_plg_variables_are_named_and_known_ones_are_not() {
        figment::Jail::expect_with(|jail| {
            for name in [
                "PLG_DATA_DIRR",
                "PLG_INSECURE_LOCAL",
                "PLG_DATA_DIR",
                "PLG_TLS__CERT",
                "PLG_CONFIG",
                "PLG_API_KEY",
                "PLGX",
            ] {
                jail.set_env(name, "x");
            }
            assert_eq!(
                unknown_environment(),
                ["PLG_DATA_DIRR", "PLG_INSECURE_LOCAL"]
            );
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn the_kurrentdb_listener_is_off_unless_a_file_the_environment_or_a_flag_sets_it() {
        figment::Jail::expect_with(|jail| {
            let listen = |flags: &Flags| {
                Config::load(flags)
                    .map(|config| config.kurrentdb_listen)
                    .map_err(|error| error.to_string())
            };
            assert_eq!(listen(&Flags::default())?, None);
            jail.create_file("plg.toml", "kurrentdb_listen = \"127.0.0.1:2113\"")?;
            let from_file = Flags {
                config: Some("plg.toml".into()),
                ..Flags::default()
            };
            assert_eq!(listen(&from_file)?, "127.0.0.1:2113".parse().ok());
            jail.set_env("PLG_KURRENTDB_LISTEN", "127.0.0.1:2114");
            assert_eq!(listen(&from_file)?, "127.0.0.1:2114".parse().ok());
            assert!(unknown_environment().is_empty());
            let flagged = Flags {
                kurrentdb_listen: "127.0.0.1:2115".parse().ok(),
                ..from_file
            };
            assert_eq!(listen(&flagged)?, "127.0.0.1:2115".parse().ok());
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn only_the_flag_allows_raw_kurrentdb_writes() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PLG_KURRENTDB_ALLOW_RAW_WRITES", "true");
            let allowed = |flags: &Flags| {
                Config::load(flags)
                    .map(|config| config.kurrentdb_allow_raw_writes)
                    .map_err(|error| error.to_string())
            };
            assert!(!allowed(&Flags::default())?, "not from the environment");
            assert_eq!(unknown_environment(), ["PLG_KURRENTDB_ALLOW_RAW_WRITES"]);
            jail.create_file("plg.toml", "kurrentdb_allow_raw_writes = true")?;
            let from_file = Flags {
                config: Some("plg.toml".into()),
                ..Flags::default()
            };
            let refused = allowed(&from_file).expect_err("not from a file");
            assert!(
                refused.contains("unknown field: found `kurrentdb_allow_raw_writes`"),
                "{refused}"
            );
            let flagged = Flags {
                kurrentdb_allow_raw_writes: true,
                ..Flags::default()
            };
            assert!(allowed(&flagged)?);
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn traces_are_exported_where_the_file_or_the_environment_says() {
        figment::Jail::expect_with(|jail| {
            let endpoint = |flags: &Flags| {
                Config::load(flags)
                    .map(|config| config.otlp_endpoint)
                    .map_err(|error| error.to_string())
            };
            assert_eq!(endpoint(&Flags::default())?, None);
            jail.create_file("plg.toml", "otlp_endpoint = \"http://collector:4317\"")?;
            let from_file = Flags {
                config: Some("plg.toml".into()),
                ..Flags::default()
            };
            assert_eq!(
                endpoint(&from_file)?.as_deref(),
                Some("http://collector:4317")
            );
            jail.set_env("PLG_OTLP_ENDPOINT", "http://127.0.0.1:4317");
            assert_eq!(
                endpoint(&from_file)?.as_deref(),
                Some("http://127.0.0.1:4317")
            );
            assert!(unknown_environment().is_empty());
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn metrics_are_served_where_the_file_the_environment_or_a_flag_says() {
        figment::Jail::expect_with(|jail| {
            let listen = |flags: &Flags| {
                Config::load(flags)
                    .map(|config| config.metrics_listen)
                    .map_err(|error| error.to_string())
            };
            assert_eq!(listen(&Flags::default())?, None);
            jail.create_file("plg.toml", "metrics_listen = \"127.0.0.1:9464\"")?;
            let mut flags = Flags {
                config: Some("plg.toml".into()),
                ..Flags::default()
            };
            assert_eq!(listen(&flags)?, Some(([127, 0, 0, 1], 9464).into()));
            jail.set_env("PLG_METRICS_LISTEN", "0.0.0.0:9465");
            assert_eq!(listen(&flags)?, Some(([0, 0, 0, 0], 9465).into()));
            flags.metrics_listen = Some(([127, 0, 0, 1], 9466).into());
            assert_eq!(listen(&flags)?, Some(([127, 0, 0, 1], 9466).into()));
            jail.set_env("PLG_METRICS_LISTEN", "not an address");
            assert!(listen(&Flags::default()).is_err());
            assert!(unknown_environment().is_empty());
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let flags = Flags {
            config: Some("/nonexistent/plg.toml".into()),
            ..Flags::default()
        };
        assert!(Config::load(&flags).is_err());
    }
}
