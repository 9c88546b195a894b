//! Apps following the session: trainees' live streams as a phone would open them, over SSE (the
//! `live_url` from `join`, ticket included) or over WebSocket (its `ws_url`), recording how late
//! each frame arrives.
//!
//! Followers are spread over the api nodes given (`--follow-api-url`). A stream that breaks
//! before the workout ends is opened again, the way `EventSource` behind a load balancer does it:
//! after the server's `retry:` delay (a WebSocket app waits as long as a browser's default), with
//! the same URL (the ticket is valid on every node), on the next node. The time from the break to
//! the next frame is what a user sees of a dead node.

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Until the server sends `retry:`, reconnect after this long (browsers use about 3 s).
const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// Opens that fail in a row before a follower gives up.
const MAX_ATTEMPTS: u32 = 10;

/// What the followers saw.
#[derive(Debug)]
pub struct Seen {
    /// Milliseconds from a frame's ranking (`at`) to its arrival at a follower.
    pub lag: Histogram<u64>,
    /// Frames received, over all followers.
    pub frames: u64,
    /// Of those, frames received over WebSocket.
    pub websocket_frames: u64,
    /// Followers whose stream failed for good (gave up reconnecting) or never opened.
    pub failed: u64,
    /// Streams that broke and were opened again, then received a frame.
    pub reconnected: u64,
    /// Milliseconds from a stream breaking to the first frame on its new stream.
    pub recovery: Histogram<u64>,
}

impl Default for Seen {
    fn default() -> Self {
        let histogram = || Histogram::new(3).unwrap_or_else(|_| std::process::abort());
        Self {
            lag: histogram(),
            frames: 0,
            websocket_frames: 0,
            failed: 0,
            reconnected: 0,
            recovery: histogram(),
        }
    }
}

/// How an app follows the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Server-sent events on `live_url`.
    Sse,
    /// A WebSocket on `ws_url`: the same events, each a text message `{"event", "data"}`.
    WebSocket,
}

/// Opens one stream per (transport, path with its ticket) (follower `i` on
/// `bases[i % bases.len()]`) and follows it until the workout ends or the task is aborted.
pub fn spawn(
    bases: &[String],
    streams: Vec<(Transport, String)>,
    seen: Arc<Mutex<Seen>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::new();
    let bases: Arc<[String]> = bases.into();
    streams
        .into_iter()
        .enumerate()
        .map(|(i, (transport, path))| {
            let follower = Follower {
                client: client.clone(),
                bases: bases.clone(),
                node: i,
                transport,
                path,
                retry: DEFAULT_RETRY,
                broken_at: None,
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                if follower.run(&seen).await.is_err() {
                    lock(&seen).failed += 1;
                }
            })
        })
        .collect()
}

/// One app's stream, across reconnections.
struct Follower {
    client: reqwest::Client,
    bases: Arc<[String]>,
    /// Index (modulo the nodes) of the api node to open the stream on next.
    node: usize,
    transport: Transport,
    /// The stream's path and ticket.
    path: String,
    /// The server's reconnection delay.
    retry: Duration,
    /// When an open stream broke, until a frame arrives on its successor.
    broken_at: Option<Instant>,
}

/// How one open stream finished.
enum Finish {
    /// The workout ended (or was cancelled): done.
    Ended,
    /// The stream broke (`opened`: it had been open) and should be opened again.
    Broken { opened: bool },
}

impl Follower {
    async fn run(mut self, seen: &Mutex<Seen>) -> anyhow::Result<()> {
        let mut failures = 0;
        loop {
            match self.stream_once(seen).await {
                Finish::Ended => return Ok(()),
                Finish::Broken { opened } => {
                    if opened {
                        self.broken_at.get_or_insert_with(Instant::now);
                        failures = 0;
                    }
                    failures += 1;
                    if failures > MAX_ATTEMPTS {
                        anyhow::bail!("gave up after {MAX_ATTEMPTS} failed opens");
                    }
                    tokio::time::sleep(self.retry).await;
                    self.node += 1;
                }
            }
        }
    }

    /// Opens the stream on the current node and reads it until it ends or breaks.
    async fn stream_once(&mut self, seen: &Mutex<Seen>) -> Finish {
        let base = &self.bases[self.node % self.bases.len()];
        match self.transport {
            Transport::Sse => {
                let url = format!("{base}{}", self.path);
                self.sse_once(&url, seen).await
            }
            Transport::WebSocket => {
                let url = format!("{}{}", websocket_base(base), self.path);
                self.websocket_once(&url, seen).await
            }
        }
    }

    async fn sse_once(&mut self, url: &str, seen: &Mutex<Seen>) -> Finish {
        let response = self.client.get(url).send().await;
        let Ok(mut response) = response.and_then(reqwest::Response::error_for_status) else {
            return Finish::Broken { opened: false };
        };
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                match parse(&block) {
                    Block::Retry(after) => self.retry = after,
                    Block::Frame(at) => self.saw_frame(at, seen),
                    Block::Ended => return Finish::Ended,
                    Block::Other => {}
                }
            }
        }
        Finish::Broken { opened: true }
    }

    async fn websocket_once(&mut self, url: &str, seen: &Mutex<Seen>) -> Finish {
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url).await else {
            return Finish::Broken { opened: false };
        };
        // Reading also answers the server's pings.
        while let Some(Ok(message)) = socket.next().await {
            let tokio_tungstenite::tungstenite::Message::Text(text) = message else {
                continue;
            };
            match parse_message(&text) {
                Block::Frame(at) => self.saw_frame(at, seen),
                Block::Ended => return Finish::Ended,
                Block::Retry(_) | Block::Other => {}
            }
        }
        Finish::Broken { opened: true }
    }

    fn saw_frame(&mut self, at: DateTime<Utc>, seen: &Mutex<Seen>) {
        let lag = (Utc::now() - at).num_milliseconds().max(0);
        let mut s = lock(seen);
        s.frames += 1;
        if self.transport == Transport::WebSocket {
            s.websocket_frames += 1;
        }
        let _ = s.lag.record(u64::try_from(lag).unwrap_or(0));
        if let Some(broken_at) = self.broken_at.take() {
            s.reconnected += 1;
            let _ = s
                .recovery
                .record(u64::try_from(broken_at.elapsed().as_millis()).unwrap_or(u64::MAX));
        }
    }
}

/// What one SSE block (the lines up to a blank line) means to a follower.
#[derive(Debug, PartialEq)]
enum Block {
    /// `retry: <ms>`: the server's reconnection delay.
    Retry(Duration),
    /// A `frame`, ranked at this time.
    Frame(DateTime<Utc>),
    /// `ended` or `cancelled`: the stream is over.
    Ended,
    /// Anything else (other events, comments).
    Other,
}

/// The one field of an event's data a follower reads. Everything else in it (a frame's places)
/// is skipped, not built: 10 000 followers in one process read 10 000 frames a second, and the
/// lag they measure includes their own reading.
#[derive(Deserialize)]
struct Stamped<'a> {
    #[serde(borrow, default)]
    at: Option<Cow<'a, str>>,
}

/// A WebSocket text message, `{"event": name, "data": {...}}`, as far as a follower reads it.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    data: Option<Stamped<'a>>,
}

impl Stamped<'_> {
    fn at(&self) -> Option<DateTime<Utc>> {
        self.at.as_deref()?.parse().ok()
    }
}

/// An SSE block: `event:` and `data:` lines, or a `retry:` line.
fn parse(block: &str) -> Block {
    let field = |name: &str| {
        block
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim_start)
    };
    match field("event") {
        Some(event) => meaning(event, || {
            serde_json::from_str::<Stamped>(field("data")?).ok()?.at()
        }),
        None => field("retry")
            .and_then(|ms| ms.parse().ok())
            .map_or(Block::Other, |ms| Block::Retry(Duration::from_millis(ms))),
    }
}

/// A WebSocket text message: `{"event": name, "data": {...}}`.
fn parse_message(text: &str) -> Block {
    let Ok(message) = serde_json::from_str::<Message>(text) else {
        return Block::Other;
    };
    meaning(&message.event, || message.data.as_ref()?.at())
}

/// What an event means to a follower; when it was ranked (`at`) is read only for frames.
fn meaning(event: &str, at: impl FnOnce() -> Option<DateTime<Utc>>) -> Block {
    match event {
        "ended" | "cancelled" => Block::Ended,
        "frame" => at().map_or(Block::Other, Block::Frame),
        _ => Block::Other,
    }
}

/// `http://host` → `ws://host`, `https://host` → `wss://host`.
fn websocket_base(base: &str) -> String {
    match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{base}"),
    }
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_read_as_the_server_writes_them() {
        let frame = "event: frame\ndata: {\"at\":\"2030-01-01T10:00:00Z\",\"tick\":3}\n\n";
        assert_eq!(
            parse(frame),
            Block::Frame("2030-01-01T10:00:00Z".parse().unwrap_or_default())
        );
        assert_eq!(
            parse("event: started\ndata: {\"at\":\"2030-01-01T10:00:00Z\"}\n\n"),
            Block::Other
        );
        assert_eq!(
            parse("retry: 1000\n\n"),
            Block::Retry(Duration::from_secs(1))
        );
        assert_eq!(parse("event: ended\ndata: {}\n\n"), Block::Ended);
        assert_eq!(parse("event: cancelled\ndata: {}\n\n"), Block::Ended);
        assert_eq!(parse(": keep-alive\n\n"), Block::Other);
    }

    #[test]
    fn websocket_messages_mean_what_the_same_sse_events_mean() {
        assert_eq!(
            parse_message(r#"{"event":"frame","data":{"at":"2030-01-01T10:00:00Z","tick":3}}"#),
            Block::Frame("2030-01-01T10:00:00Z".parse().unwrap_or_default())
        );
        assert_eq!(
            parse_message(r#"{"event":"started","data":{"at":"2030-01-01T10:00:00Z"}}"#),
            Block::Other
        );
        assert_eq!(
            parse_message(r#"{"event":"ended","data":{}}"#),
            Block::Ended
        );
        assert_eq!(
            parse_message(r#"{"event":"cancelled","data":{}}"#),
            Block::Ended
        );
        assert_eq!(parse_message("not json"), Block::Other);
        // A whole frame, places and escaped names included, is read for its `at` alone.
        let frame = r#"{"event":"frame","data":{"epoch":1,"tick":9,"at":"2030-01-01T10:00:01Z","participants":2,"top":[{"rank":1,"user_id":null,"display_name":"A \"quoted\" name","energy":5,"rating":50}],"me":{"rank":2,"energy":3,"rating":40},"around":[],"samples_accepted":8,"samples_rejected":0}}"#;
        assert_eq!(
            parse_message(frame),
            Block::Frame("2030-01-01T10:00:01Z".parse().unwrap_or_default())
        );
    }

    #[test]
    fn websocket_urls_keep_the_host_and_the_security_of_the_api_url() {
        assert_eq!(
            websocket_base("http://127.0.0.1:8080"),
            "ws://127.0.0.1:8080"
        );
        assert_eq!(websocket_base("https://api.example"), "wss://api.example");
    }
}
