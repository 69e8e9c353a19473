//! What traces and metrics share about OTLP: where they go (the setting, else the standard
//! `OTEL_*` variables), how an endpoint is checked and shown, and the resource that names the
//! process.

use opentelemetry_sdk::Resource;

use crate::TelemetryError;

/// A provider exporting over OTLP, and the endpoint it exports to, as shown.
#[derive(Debug)]
pub(crate) struct Exporting<P> {
    pub provider: P,
    pub endpoint: String,
}

/// What is exported; each has its standard variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    /// `OTEL_<SIGNAL>_EXPORTER=none` turns this signal off.
    fn exporter_variable(self) -> &'static str {
        match self {
            Self::Traces => "OTEL_TRACES_EXPORTER",
            Self::Metrics => "OTEL_METRICS_EXPORTER",
        }
    }

    /// The signal's own endpoint variable, which beats the general one.
    fn endpoint_variable(self) -> &'static str {
        match self {
            Self::Traces => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            Self::Metrics => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        }
    }
}

/// Where `signal` goes: the configured endpoint, else the standard variables', the signal's
/// own first; none when the standard switches turn the SDK or the signal's exporter off.
pub(crate) fn endpoint(
    signal: Signal,
    configured: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let off = set("OTEL_SDK_DISABLED").is_some_and(|value| value.eq_ignore_ascii_case("true"))
        || set(signal.exporter_variable()).is_some_and(|value| value.eq_ignore_ascii_case("none"));
    if off {
        return None;
    }
    configured
        .filter(|endpoint| !endpoint.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| set(signal.endpoint_variable()))
        .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

/// Whether `endpoint` is reached over TLS. A gRPC endpoint names its scheme: without one the
/// exporter would assume https and find no roots to trust.
pub(crate) fn is_secure(endpoint: &str) -> Result<bool, TelemetryError> {
    let scheme = endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|uri| uri.scheme_str().map(str::to_ascii_lowercase));
    match scheme.as_deref() {
        Some("https") => Ok(true),
        Some("http") => Ok(false),
        _ => Err(TelemetryError::Endpoint(redacted(endpoint))),
    }
}

/// `endpoint` without the user and password it may carry, to be shown.
pub(crate) fn redacted(endpoint: &str) -> String {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), endpoint),
    };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => endpoint.to_owned(),
    }
}

/// The process as traces and metrics name it. The SDK reads `OTEL_SERVICE_NAME` and
/// `OTEL_RESOURCE_ATTRIBUTES` itself; when neither names the service, the binary's name does,
/// rather than the SDK's `unknown_service`.
pub(crate) fn resource() -> Resource {
    let mut resource = Resource::builder();
    if !names_service(|name| std::env::var(name).ok()) {
        resource = resource.with_service_name(binary_name());
    }
    resource.build()
}

/// Whether the environment names the service.
fn names_service(env: impl Fn(&str) -> Option<String>) -> bool {
    env("OTEL_SERVICE_NAME").is_some_and(|name| !name.trim().is_empty())
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attributes| {
            attributes
                .split(',')
                .any(|pair| pair.trim_start().starts_with("service.name="))
        })
}

fn binary_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem()?.to_str().map(str::to_owned))
        .unwrap_or_else(|| "plgd".to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        let pairs: HashMap<_, _> = pairs.iter().copied().collect();
        move |name| pairs.get(name).map(|value| (*value).to_owned())
    }

    #[test]
    fn an_endpoint_without_its_scheme_is_refused_and_shown_without_its_secret() {
        let refused = is_secure("user:token@collector:4317").expect_err("no scheme");
        assert!(
            matches!(&refused, TelemetryError::Endpoint(shown) if !shown.contains("token")),
            "{refused:?}"
        );
        assert!(is_secure("HTTPS://collector:4317").expect("a scheme"));
        assert!(!is_secure("http://collector:4317").expect("a scheme"));
        assert_eq!(
            redacted("https://user:token@collector:4317/v1"),
            "https://***@collector:4317/v1"
        );
        assert_eq!(redacted("http://collector:4317"), "http://collector:4317");
        assert_eq!(
            redacted("http://collector:4317/a@b"),
            "http://collector:4317/a@b"
        );
    }

    #[test]
    fn nothing_is_exported_unless_an_endpoint_is_configured_or_set() {
        for signal in [Signal::Traces, Signal::Metrics] {
            assert_eq!(endpoint(signal, None, env(&[])), None);
            assert_eq!(
                endpoint(signal, Some(" "), env(&[("OTEL_SERVICE_NAME", "x")])),
                None
            );
            assert_eq!(
                endpoint(signal, Some("http://c:4317"), env(&[])).as_deref(),
                Some("http://c:4317")
            );
            assert_eq!(
                endpoint(
                    signal,
                    None,
                    env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://all:4317")])
                )
                .as_deref(),
                Some("http://all:4317")
            );
        }
    }

    #[test]
    fn the_setting_beats_the_signals_variable_which_beats_the_general_one() {
        let all = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://all:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:4317"),
        ];
        assert_eq!(
            endpoint(Signal::Traces, None, env(&all)).as_deref(),
            Some("http://traces:4317")
        );
        assert_eq!(
            endpoint(Signal::Metrics, None, env(&all)).as_deref(),
            Some("http://metrics:4317")
        );
        assert_eq!(
            endpoint(Signal::Metrics, Some("http://set:4317"), env(&all)).as_deref(),
            Some("http://set:4317")
        );
    }

    #[test]
    fn the_standard_switches_turn_a_signal_off() {
        let set = Some("http://set:4317");
        assert_eq!(
            endpoint(Signal::Traces, set, env(&[("OTEL_SDK_DISABLED", "true")])),
            None
        );
        assert_eq!(
            endpoint(Signal::Metrics, set, env(&[("OTEL_SDK_DISABLED", "TRUE")])),
            None
        );
        let traces_off = env(&[("OTEL_TRACES_EXPORTER", "none")]);
        assert_eq!(endpoint(Signal::Traces, set, &traces_off), None);
        assert!(endpoint(Signal::Metrics, set, &traces_off).is_some());
        let metrics_off = env(&[("OTEL_METRICS_EXPORTER", "none")]);
        assert_eq!(endpoint(Signal::Metrics, set, &metrics_off), None);
        assert!(endpoint(Signal::Traces, set, &metrics_off).is_some());
        assert!(endpoint(Signal::Traces, set, env(&[("OTEL_SDK_DISABLED", "false")])).is_some());
    }

    #[test]
    fn the_service_is_named_by_either_standard_variable() {
        assert!(!names_service(env(&[])));
        assert!(names_service(env(&[("OTEL_SERVICE_NAME", "plg-scan-2")])));
        assert!(names_service(env(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test, service.name=plg"
        )])));
        assert!(!names_service(env(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.namespace=plg"
        )])));
    }
}
