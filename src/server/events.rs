//! `/events`: Server-Sent Events, so an open page follows the engine
//! without reloading.
//!
//! - `/events?screen=NAME` (a screen) and `/events?stream=NAME` (a bare
//!   stream's player): a `view` event with what the player needs, at once and
//!   then whenever it changes (the screen's overlays or stream, the stream's
//!   profile or state, a new FFmpeg).
//! - `/events`: a `snapshot` event with every new snapshot, and a `screens`
//!   event whenever the list of screens changes.
//! - `/events?wall`: a `wall` event whenever what `/wall` shows changes.
//!
//! Each event stream ends when its listener closes (a move or a stop), and
//! open screen connections are counted for the console.

use super::access::Client;
use super::api::{PlayView, masked_json, masked_view, screen_view, watch_view};
use super::listener::Closing;
use super::wall::wall_view;
use super::{AppState, Traffic};
use crate::engine::{Engine, Snapshot};
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// How soon a browser reconnects after the connection drops.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// A comment line this often keeps proxies and TVs from closing an idle stream.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);

/// `?screen=` or `?stream=`.
#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    screen: Option<String>,
    stream: Option<String>,
    wall: Option<String>,
}

enum Subject {
    Screen(String),
    Stream(String),
    Wall,
    Everything,
}

/// Counts an open screen connection for as long as it lives.
struct ScreenConnection(Arc<Traffic>);

impl ScreenConnection {
    fn open(traffic: &Arc<Traffic>) -> ScreenConnection {
        traffic.screens.fetch_add(1, Ordering::Relaxed);
        traffic.changed.notify_one();
        ScreenConnection(Arc::clone(traffic))
    }
}

impl Drop for ScreenConnection {
    fn drop(&mut self) {
        self.0.screens.fetch_sub(1, Ordering::Relaxed);
        self.0.changed.notify_one();
    }
}

/// One of the open event streams, which are capped: each holds a task and
/// a socket, and a misbehaving page (or a flood) must not exhaust onair.
struct EventStreamSlot(Arc<Traffic>);

impl EventStreamSlot {
    /// Takes a slot, or `None` when `cap` streams are open already.
    fn take(traffic: &Arc<Traffic>, cap: usize) -> Option<EventStreamSlot> {
        traffic
            .event_streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < cap).then_some(open + 1)
            })
            .ok()
            .map(|_| EventStreamSlot(Arc::clone(traffic)))
    }
}

impl Drop for EventStreamSlot {
    fn drop(&mut self) {
        self.0.event_streams.fetch_sub(1, Ordering::AcqRel);
    }
}

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

struct Feed {
    engine: Engine,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    closing: Option<watch::Receiver<bool>>,
    subject: Subject,
    started: bool,
    sent_any: bool,
    last_payload: Option<Value>,
    last_screens: Option<Value>,
    queue: VecDeque<Event>,
    _screen: Option<ScreenConnection>,
    _slot: EventStreamSlot,
}

impl Feed {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.started {
                let snapshots = &mut self.snapshots;
                let closing = closing_of(self.closing.as_mut());
                tokio::select! {
                    changed = snapshots.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    _ = closing => return None,
                }
            }
            self.started = true;
            let snapshot = Arc::clone(&self.snapshots.borrow_and_update());
            // seq 0 is the placeholder before the engine's first picture.
            if snapshot.seq > 0 {
                let first = !self.sent_any;
                self.queue_changes(&snapshot, first);
                self.sent_any = true;
            }
        }
    }

    fn queue_changes(&mut self, snapshot: &Snapshot, first: bool) {
        let config = self.engine.config();
        let secrets = &config.secrets;
        let (name, payload) = match &self.subject {
            Subject::Screen(name) => {
                let view = screen_view(snapshot, &config, name).unwrap_or_else(|| PlayView {
                    screen: None,
                    stream: None,
                    error: Some(format!("no [[screen]] named {name:?} in streams.toml")),
                });
                ("view", masked_view(&view, secrets))
            }
            Subject::Stream(name) => (
                "view",
                masked_json(&watch_view(snapshot, &config, name), secrets),
            ),
            Subject::Wall => ("wall", masked_json(&wall_view(snapshot), secrets)),
            Subject::Everything => ("snapshot", masked_json(snapshot, secrets)),
        };
        if self.last_payload.as_ref() != Some(&payload) {
            let mut event = Event::default().event(name).data(payload.to_string());
            if first {
                event = event.retry(RECONNECT_AFTER);
            }
            self.queue.push_back(event);
            self.last_payload = Some(payload);
        }
        if matches!(self.subject, Subject::Everything) {
            let screens = masked_json(&config.screens, secrets);
            if self.last_screens.as_ref() != Some(&screens) {
                self.queue
                    .push_back(Event::default().event("screens").data(screens.to_string()));
                self.last_screens = Some(screens);
            }
        }
    }
}

/// Resolves when the listener closes; never if there is no such signal.
async fn closing_of(closing: Option<&mut watch::Receiver<bool>>) {
    match closing {
        Some(closing) => {
            let _ = closing.wait_for(|c| *c).await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// `GET /events`. A screen's or a stream's own events are open to every
/// screen; the unscoped stream (every snapshot) is operator data.
pub(crate) async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
    client: Client,
    closing: Option<Extension<Closing>>,
) -> Response {
    let config = state.engine.config();
    let subject = match (query.screen, query.stream) {
        (Some(screen), _) if config.screen(&screen).is_none() => {
            return plain(
                StatusCode::NOT_FOUND,
                format!("no [[screen]] named {screen:?} in streams.toml\n"),
            );
        }
        (Some(screen), _) => Subject::Screen(screen),
        (None, Some(stream)) if config.stream(&stream).is_none() => {
            return plain(
                StatusCode::NOT_FOUND,
                format!("no stream named {stream:?} in streams.toml\n"),
            );
        }
        (None, Some(stream)) => Subject::Stream(stream),
        (None, None) if !client.operator => return client.refusal("/events"),
        (None, None) if query.wall.is_some() => Subject::Wall,
        (None, None) => Subject::Everything,
    };
    let Some(slot) = EventStreamSlot::take(&state.traffic, state.limits.event_streams) else {
        let mut busy = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "503: {} event streams are open, the most onair serves; try again shortly\n",
                state.limits.event_streams
            ),
        );
        busy.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return busy;
    };
    let screen =
        matches!(subject, Subject::Screen(_)).then(|| ScreenConnection::open(&state.traffic));
    let feed = Feed {
        snapshots: state.engine.subscribe(),
        engine: state.engine.clone(),
        closing: closing.map(|Extension(Closing(rx))| rx),
        subject,
        started: false,
        sent_any: false,
        last_payload: None,
        last_screens: None,
        queue: VecDeque::new(),
        _screen: screen,
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next_event().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE_EVERY))
        .into_response();
    // A proxy in front (nginx) must pass each event on at once.
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    response
}
