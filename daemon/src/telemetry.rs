//! Structured logs: native journald under systemd (`JOURNAL_STREAM` set), one
//! JSON object per line otherwise. Fields follow the seed: `service`,
//! `request_id`, `lct_id`, `event`, `duration_ms`, `ledger_ref`.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// Which sink was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Journald,
    Json,
    Text,
}

/// Decide the sink from the configured format and the environment.
pub fn choose(format: LogFormat, journal_stream: Option<&str>) -> Sink {
    match format {
        LogFormat::Json => Sink::Json,
        LogFormat::Text => Sink::Text,
        LogFormat::Journald => Sink::Journald,
        LogFormat::Auto if journal_stream.is_some_and(|s| !s.is_empty()) => Sink::Journald,
        LogFormat::Auto => Sink::Json,
    }
}

type FilterHandle = tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>;

static FILTER: std::sync::OnceLock<FilterHandle> = std::sync::OnceLock::new();

/// Change the log level or filter of the running process (config reload).
pub fn set_level(level: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(level).map_err(|e| format!("log_level {level:?}: {e}"))?;
    match FILTER.get() {
        Some(h) => h.reload(filter).map_err(|e| e.to_string()),
        None => Err("logging is not initialised".into()),
    }
}

/// Install the global subscriber. `level` is a level or an EnvFilter directive.
pub fn init(level: &str, format: LogFormat) -> Result<Sink, String> {
    let filter = EnvFilter::try_new(level).map_err(|e| format!("LOG_LEVEL {level:?}: {e}"))?;
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let _ = FILTER.set(handle);
    let stream = std::env::var("JOURNAL_STREAM").ok();
    let mut sink = choose(format, stream.as_deref());
    let registry = tracing_subscriber::registry().with(filter);
    let result = match sink {
        Sink::Journald => match tracing_journald::layer() {
            Ok(layer) => registry.with(layer.with_syslog_identifier("web4d".into()).with_field_prefix(None)).try_init(),
            Err(_) => {
                sink = Sink::Json;
                registry.with(json_layer()).try_init()
            }
        },
        Sink::Json => registry.with(json_layer()).try_init(),
        Sink::Text => registry.with(tracing_subscriber::fmt::layer().with_target(false)).try_init(),
    };
    result.map_err(|e| e.to_string())?;
    Ok(sink)
}

fn json_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_writer(std::io::stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journald_only_when_systemd_says_so() {
        assert_eq!(choose(LogFormat::Auto, Some("8:1234")), Sink::Journald);
        assert_eq!(choose(LogFormat::Auto, None), Sink::Json);
        assert_eq!(choose(LogFormat::Auto, Some("")), Sink::Json);
        assert_eq!(choose(LogFormat::Text, Some("8:1")), Sink::Text);
    }
}
