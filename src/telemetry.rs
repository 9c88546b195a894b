//! Tracing setup: JSON lines for machines, pretty output for people.
//!
//! Every HTTP request runs in a span carrying its `request_id` (tracing-actix-web). A command it
//! sends to an actor runs in an `actor call` span; the id travels in the command's NATS header
//! and the worker handles the command in an `actor command` span carrying the same id (both at
//! debug level). JSON lines list all their spans (`spans`), so one id finds a request's lines on
//! every node. Never log secrets or personal data.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, with the current span's fields.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// Install the global subscriber; `RUST_LOG` filters (default `default_level`). Tools whose
/// stdout is their output (`nats-config`, `simulate`) log to stderr instead.
pub fn init(format: LogFormat, default_level: &str, to_stderr: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let writer = if to_stderr {
        BoxMakeWriter::new(std::io::stderr)
    } else {
        BoxMakeWriter::new(std::io::stdout)
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    // A second init (only possible in tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
