//! Apps following the session: trainees' live streams over SSE, as a phone would open them (the
//! `live_url` from `join`, ticket included), recording how late each frame arrives.

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// What the followers saw.
#[derive(Debug)]
pub struct Seen {
    /// Milliseconds from a frame's ranking (`at`) to its arrival at a follower.
    pub lag: Histogram<u64>,
    /// Frames received, over all followers.
    pub frames: u64,
    /// Followers whose stream failed or ended early.
    pub failed: u64,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            lag: Histogram::new(3).unwrap_or_else(|_| std::process::abort()),
            frames: 0,
            failed: 0,
        }
    }
}

/// Opens one SSE stream per URL and records frames until the stream ends (`ended`) or the task
/// is aborted.
pub fn spawn(
    base: &str,
    live_urls: Vec<String>,
    seen: Arc<Mutex<Seen>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::new();
    live_urls
        .into_iter()
        .map(|url| {
            let (client, seen, url) = (client.clone(), seen.clone(), format!("{base}{url}"));
            tokio::spawn(async move {
                if follow(&client, &url, &seen).await.is_err() {
                    lock(&seen).failed += 1;
                }
            })
        })
        .collect()
}

async fn follow(client: &reqwest::Client, url: &str, seen: &Mutex<Seen>) -> anyhow::Result<()> {
    let mut response = client.get(url).send().await?.error_for_status()?;
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await? {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if event.starts_with("event: ended") {
                return Ok(());
            }
            if let Some(at) = frame_time(&event) {
                let lag = (Utc::now() - at).num_milliseconds().max(0);
                let mut s = lock(seen);
                s.frames += 1;
                let _ = s.lag.record(u64::try_from(lag).unwrap_or(0));
            }
        }
    }
    anyhow::bail!("the stream ended before the workout did")
}

/// When a `frame` event's ranking was taken.
fn frame_time(event: &str) -> Option<DateTime<Utc>> {
    let mut lines = event.lines();
    if lines.next()? != "event: frame" {
        return None;
    }
    let data: Value = serde_json::from_str(lines.next()?.strip_prefix("data: ")?).ok()?;
    data["at"].as_str()?.parse().ok()
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_frames_have_a_time() {
        let frame = "event: frame\ndata: {\"at\":\"2030-01-01T10:00:00Z\",\"tick\":3}\n\n";
        assert_eq!(
            frame_time(frame),
            "2030-01-01T10:00:00Z".parse::<DateTime<Utc>>().ok()
        );
        assert_eq!(
            frame_time("event: started\ndata: {\"at\":\"2030-01-01T10:00:00Z\"}\n\n"),
            None
        );
        assert_eq!(frame_time(": keep-alive\n\n"), None);
    }
}
