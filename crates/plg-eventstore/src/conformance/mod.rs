//! The conformance suite every [`EventStore`] backend must pass, written once.
//!
//! Each check is a `pub async fn` taking a fresh, empty store, so a backend can call them one
//! by one; [`run_all`] runs them in sequence; and [`conformance_tests!`](crate::conformance_tests)
//! turns each into its own `#[test]`, so that failures are reported per check:
//!
//! ```ignore
//! mod conformance {
//!     use plg_eventstore::sqlite::SqliteEventStore;
//!
//!     plg_eventstore::conformance_tests!(|| async {
//!         SqliteEventStore::open_temporary().await.expect("store opens")
//!     });
//! }
//! ```
//!
//! The checks panic on failure, like any test. Subscription receives are bounded by
//! [`RECEIVE_TIMEOUT`] and whole checks by [`CHECK_TIMEOUT`], so that a broken backend fails
//! instead of hanging.
//!
//! The checks live in one file per area. One list (`__conformance_for_each_check`) generates
//! their re-exports here, [`run_all`] and `conformance_tests!`, so none of these can miss a
//! check; and a check left off the list is dead code, which fails the build.

mod append;
mod chain;
mod concurrency;
mod content;
mod helpers;
mod idempotency;
mod read;
mod subscribe;

use std::future::Future;
use std::time::Duration;

use crate::EventStore;

crate::__conformance_for_each_check!(__conformance_reexports!());

/// The longest a check waits for a subscription to deliver its next event.
pub const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest one check may run.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a check listens to make sure a subscription delivers nothing more.
const QUIET_PERIOD: Duration = Duration::from_millis(200);

/// Expands to one `#[test]` per conformance check, each with a fresh store from `factory`:
/// an expression callable as `factory()` returning a future of the store.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::__conformance_for_each_check!(__conformance_test_fns!($factory));
    };
}

/// The one list of checks, by area (the file each is in), handed to `$callback` after its own
/// arguments and a `;`.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_for_each_check {
    ($callback:ident!($($args:tt)*)) => {
        $crate::$callback! { $($args)*;
            append {
                append_to_new_stream,
                expected_no_stream,
                expected_stream_exists,
                expected_exact_revision,
                expected_any,
                multi_event_append_is_atomic,
                empty_append_is_rejected,
            }
            read {
                read_stream_forward,
                read_stream_backward,
                read_missing_stream,
                read_all_forward,
                read_all_stored_is_read_all_as_text,
                read_all_backward,
                stream_revision_tracks_appends,
                streams_in_category_in_creation_order,
            }
            idempotency {
                idempotent_append_is_replayed,
                idempotency_key_reused_is_rejected,
                idempotency_key_spans_streams,
                concurrent_appends_with_one_key_write_once,
                find_idempotent_outcome,
                failed_append_leaves_idempotency_key_unused,
            }
            concurrency {
                concurrent_appends_to_different_streams,
                concurrent_appends_race_on_expected_revision,
                concurrent_writers_each_win_one_revision,
            }
            subscribe {
                subscribe_to_all_catches_up_then_follows_live,
                subscribe_to_all_during_concurrent_appends,
                subscribe_to_all_after_position,
                subscribe_to_all_stored_is_subscribe_to_all_as_text,
                subscribe_to_stream_catches_up_then_follows_live,
                subscribe_to_stream_after_revision,
                subscribe_to_stream_before_it_exists,
            }
            content {
                event_fields_round_trip,
            }
            chain {
                appended_events_form_a_hash_chain,
                identical_payloads_hash_differently,
                replayed_append_leaves_hashes_unchanged,
            }
        }
    };
}

/// Makes every check public here, at `conformance::<check>`, whichever file it is in.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_reexports {
    (; $($area:ident { $($check:ident),+ $(,)? })+) => {
        $(pub use $crate::conformance::$area::{$($check),+};)+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test_fns {
    ($factory:expr; $($area:ident { $($check:ident),+ $(,)? })+) => {
        $($(
            #[test]
            fn $check() {
                $crate::conformance::run_check(stringify!($check), async {
                    let make_store = $factory;
                    $crate::conformance::$check(make_store().await).await;
                });
            }
        )+)+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_run_all {
    ($make_store:ident; $($area:ident { $($check:ident),+ $(,)? })+) => {
        $($(
            $crate::conformance::within_limit(
                stringify!($check),
                $crate::conformance::$check($make_store().await),
            )
            .await;
        )+)+
    };
}

/// Runs every check, each on a fresh store from `make_store`.
pub async fn run_all<S, F, Fut>(make_store: F)
where
    S: EventStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    crate::__conformance_for_each_check!(__conformance_run_all!(make_store));
}

/// Runs one check on a new multi-threaded runtime, as `conformance_tests!` does.
#[doc(hidden)]
pub fn run_check(name: &str, check: impl Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime builds");
    runtime.block_on(within_limit(name, check));
}

/// Fails a check that runs longer than [`CHECK_TIMEOUT`].
#[doc(hidden)]
pub async fn within_limit(name: &str, check: impl Future<Output = ()>) {
    if tokio::time::timeout(CHECK_TIMEOUT, check).await.is_err() {
        panic!("conformance check {name} did not finish within {CHECK_TIMEOUT:?}");
    }
}
