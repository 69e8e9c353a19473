//! Which event store a process runs on (`store`: the embedded file in the data directory, or
//! KurrentDB by connection string), parsed once at the edge, and opening it.

use std::{fmt, path::Path, sync::Arc};

use plg_eventstore::{
    EventStore, StoreError,
    kurrentdb::KurrentDbEventStore,
    sqlite::{Sharing, SqliteEventStore},
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The embedded store's file inside the data directory.
pub const EVENT_STORE_FILE: &str = "events.db";

/// What `store` names the embedded store by; also its value when left out.
const EMBEDDED: &str = "embedded";

/// The schemes of KurrentDB's connection strings (`esdb` is EventStoreDB's older one).
const KURRENTDB_SCHEMES: [&str; 4] = [
    "kurrentdb://",
    "kurrentdb+discover://",
    "esdb://",
    "esdb+discover://",
];

/// The event store to run on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreChoice {
    /// The SQLite file `events.db` in the data directory.
    #[default]
    Embedded,
    /// A KurrentDB server (or a plgd's KurrentDB listener).
    KurrentDb(ConnectionString),
}

impl fmt::Display for StoreChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded => f.write_str(EMBEDDED),
            Self::KurrentDb(connection) => connection.fmt(f),
        }
    }
}

/// A KurrentDB connection string. Shown (`Debug`, `Display`) with its password replaced by
/// `***`: it is printed with the configuration and in errors, which may travel further.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString(String);

impl ConnectionString {
    /// The whole string, secret included: only for the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionString({self})")
    }
}

/// `scheme://user:***@hosts…`: the user stays (a key id, not a secret), the password goes.
fn redacted(connection: &str) -> String {
    let Some((scheme, rest)) = connection.split_once("://") else {
        return "***".into();
    };
    // The credentials end at the last `@` before the path or query.
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => connection.to_owned(),
    }
}

impl std::str::FromStr for StoreChoice {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value == EMBEDDED {
            return Ok(Self::Embedded);
        }
        if KURRENTDB_SCHEMES
            .iter()
            .any(|scheme| value.starts_with(scheme))
        {
            return Ok(Self::KurrentDb(ConnectionString(value.to_owned())));
        }
        // Only the scheme is repeated: the rest may hold a password.
        let scheme = value.split_once("://").map_or("none", |(scheme, _)| scheme);
        Err(format!(
            "unknown store (scheme {scheme:?}): `store` takes \"embedded\" or a \
             \"kurrentdb://…\" connection string"
        ))
    }
}

impl Serialize for StoreChoice {
    /// In full: the configuration's layers are merged through this form.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Embedded => serializer.serialize_str(EMBEDDED),
            Self::KurrentDb(connection) => serializer.serialize_str(connection.expose()),
        }
    }
}

impl<'de> Deserialize<'de> for StoreChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An open event store, of either kind.
#[derive(Debug, Clone)]
pub struct OpenStore {
    shared: Arc<dyn EventStore>,
    /// Kept to be closed: the embedded store's writes are on disk once it is.
    embedded: Option<SqliteEventStore>,
}

impl OpenStore {
    /// Opens `choice`: the embedded file in `data_dir`, shared or not, or a connection to
    /// KurrentDB, which fails at once when it does not answer or refuses the credentials.
    pub async fn open(
        choice: &StoreChoice,
        data_dir: &Path,
        sharing: Sharing,
    ) -> Result<Self, StoreError> {
        match choice {
            StoreChoice::Embedded => {
                let store =
                    SqliteEventStore::open_with(data_dir.join(EVENT_STORE_FILE), sharing).await?;
                Ok(Self {
                    shared: Arc::new(store.clone()),
                    embedded: Some(store),
                })
            }
            StoreChoice::KurrentDb(connection) => {
                // KurrentDB's client sets up TLS with the process's crypto provider.
                crate::app::select_tls_crypto();
                let store = KurrentDbEventStore::connect(connection.expose()).await?;
                Ok(Self {
                    shared: Arc::new(store),
                    embedded: None,
                })
            }
        }
    }

    pub fn shared(&self) -> Arc<dyn EventStore> {
        Arc::clone(&self.shared)
    }

    /// Closes the embedded store, so every acknowledged write is on disk; KurrentDB holds
    /// its writes itself.
    pub async fn close(&self) {
        if let Some(store) = &self.embedded {
            store.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Flags};

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn the_store_is_embedded_unless_the_file_the_environment_or_a_flag_names_another() {
        figment::Jail::expect_with(|jail| {
            let store = |flags: &Flags| {
                Config::load(flags)
                    .map(|config| config.store)
                    .map_err(|error| error.to_string())
            };
            let kurrentdb =
                |connection: &str| StoreChoice::KurrentDb(ConnectionString(connection.into()));
            assert_eq!(store(&Flags::default())?, StoreChoice::Embedded);
            jail.create_file("plg.toml", "store = \"kurrentdb://file:2113\"")?;
            let from_file = Flags {
                config: Some("plg.toml".into()),
                ..Flags::default()
            };
            assert_eq!(store(&from_file)?, kurrentdb("kurrentdb://file:2113"));
            jail.set_env("PLG_STORE", "esdb://env:2113?tls=false");
            assert_eq!(store(&from_file)?, kurrentdb("esdb://env:2113?tls=false"));
            let flagged = Flags {
                store: Some("embedded".into()),
                ..from_file.clone()
            };
            assert_eq!(store(&flagged)?, StoreChoice::Embedded);

            jail.set_env("PLG_STORE", "mysql://root:hunter2@db:3306");
            let refused = store(&from_file).expect_err("an unknown scheme");
            assert!(refused.contains("store"), "{refused}");
            assert!(refused.contains("\"mysql\""), "{refused}");
            assert!(!refused.contains("hunter2"), "{refused}");
            Ok(())
        });
    }

    #[test]
    fn the_configuration_shows_the_store_without_its_password() {
        let config = Config {
            store: "kurrentdb://key-id:hunter2@host:2113"
                .parse()
                .expect("parses"),
            ..Config::default()
        };
        let shown = format!("{config:?} {}", config.store);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("kurrentdb://key-id:***@host:2113"),
            "{shown}"
        );
    }

    #[test]
    fn embedded_and_kurrentdb_connection_strings_parse_and_other_schemes_do_not() {
        assert_eq!("embedded".parse(), Ok(StoreChoice::Embedded));
        for connection in [
            "kurrentdb://localhost:2113?tls=false",
            "esdb://a:1,b:2?tls=true",
            "kurrentdb+discover://cluster.example.org:2113",
        ] {
            assert_eq!(
                connection.parse(),
                Ok(StoreChoice::KurrentDb(ConnectionString(connection.into())))
            );
        }
        let refused = "postgres://user:hunter2@db/plg"
            .parse::<StoreChoice>()
            .expect_err("not a store plgd knows");
        assert!(refused.contains("`store`"), "{refused}");
        assert!(refused.contains("\"postgres\""), "{refused}");
        assert!(!refused.contains("hunter2"), "{refused}");
        assert!("".parse::<StoreChoice>().is_err());
    }

    #[test]
    fn the_password_of_a_connection_string_is_never_shown() {
        let shown = |connection: &str| {
            let StoreChoice::KurrentDb(connection) = connection.parse().expect("parses") else {
                panic!("not a kurrentdb store");
            };
            (connection.to_string(), format!("{connection:?}"))
        };
        let (display, debug) = shown("kurrentdb://key-id:s3cr@t@host:2113/?tls=true");
        assert_eq!(display, "kurrentdb://key-id:***@host:2113/?tls=true");
        assert!(!debug.contains("s3cr"), "{debug}");
        let (display, _) = shown("esdb://host:2113?tls=false");
        assert_eq!(display, "esdb://host:2113?tls=false", "nothing to hide");
    }
}
