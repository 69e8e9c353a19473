//! `$all`'s server-side filters: on stream name or event type, by prefixes or a regex, with
//! checkpoints so a client whose filter skips long runs still learns how far the log is read.

use fancy_regex::Regex;
use plg_eventstore::RecordedEvent;
use plg_kurrentdb_wire::event_store::client::streams::read_req::options::{
    FilterOption, FilterOptions,
    filter_options::{Expression, Filter as Target, Window},
};
use tonic::Status;

/// What a filter matches against.
#[derive(Debug, Clone, Copy)]
enum On {
    StreamName,
    EventType,
}

/// KurrentDB matches prefixes when any are given, else the regex. Its regexes are .NET's,
/// with look-around, which clients use: the Python client's default `$all` filter excludes
/// system events with `^(?!(\$.+$|…))`. `fancy_regex` has look-around and backtracks only
/// for it (and back-references), within its backtracking limit.
#[derive(Debug)]
enum Matcher {
    Prefixes(Vec<String>),
    Regex(Regex),
}

#[derive(Debug)]
pub(crate) struct Filter {
    on: On,
    matcher: Matcher,
    /// Events examined between checkpoints; `None` sends none.
    checkpoint_every: Option<u64>,
}

/// The longest regex a client may send, so one cannot make the server compile a huge one.
const MAX_REGEX_BYTES: usize = 1024;

impl Filter {
    /// The filter a request asks for; `None` for none.
    pub(crate) fn from_request(option: Option<FilterOption>) -> Result<Option<Self>, Status> {
        let Some(FilterOption::Filter(FilterOptions {
            filter,
            window,
            checkpoint_interval_multiplier,
        })) = option
        else {
            return Ok(None);
        };
        let (on, expression) = match filter {
            Some(Target::StreamIdentifier(expression)) => (On::StreamName, expression),
            Some(Target::EventType(expression)) => (On::EventType, expression),
            None => return Err(Status::invalid_argument("the filter names no target")),
        };
        let Expression { regex, prefix } = expression;
        let matcher = if !prefix.is_empty() {
            Matcher::Prefixes(prefix)
        } else if regex.len() > MAX_REGEX_BYTES {
            return Err(Status::invalid_argument(format!(
                "the filter's regex is longer than {MAX_REGEX_BYTES} bytes"
            )));
        } else {
            Matcher::Regex(Regex::new(&regex).map_err(|error| {
                Status::invalid_argument(format!("the filter's regex is not valid: {error}"))
            })?)
        };
        let checkpoint_every = match window {
            Some(Window::Max(max)) => {
                Some(u64::from(max) * u64::from(checkpoint_interval_multiplier.max(1)))
            }
            Some(Window::Count(_)) | None => None,
        }
        .filter(|every| *every > 0);
        Ok(Some(Self {
            on,
            matcher,
            checkpoint_every,
        }))
    }

    pub(crate) fn matches(&self, event: &RecordedEvent) -> bool {
        let text = match self.on {
            On::StreamName => event.stream.as_str(),
            On::EventType => event.event_type.as_str(),
        };
        match &self.matcher {
            Matcher::Prefixes(prefixes) => prefixes.iter().any(|prefix| text.starts_with(prefix)),
            // Over the backtracking limit (a pathological regex), an event counts as not
            // matching rather than stopping the whole read.
            Matcher::Regex(regex) => regex.is_match(text).unwrap_or(false),
        }
    }

    pub(crate) fn checkpoint_every(&self) -> Option<u64> {
        self.checkpoint_every
    }
}
