//! `/wall`: the multiview page for an operator's monitor. Every stream is a
//! tile with its thumbnail, name, state, audio meter and alarm flags, kept
//! up to date over `/events?wall` (a slim `wall` event, not the whole
//! snapshot). Thumbnails are JPEGs the page reloads when the engine says a
//! new one was written, so the browser never decodes video.

use super::AppState;
use super::access::Operator;
use crate::engine::{Alarm, AudioLevels, Snapshot, UnixMillis};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

/// What one tile shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Tile {
    name: String,
    /// `running`, `retrying`, ...
    state: &'static str,
    enabled: bool,
    /// False when the stream does not measure its content.
    analysis: bool,
    /// Levels, while the stream runs.
    audio: Option<AudioLevels>,
    alarms: Vec<Alarm>,
    /// When the thumbnail was last written: the page reloads it when this changes.
    thumbnail_at: Option<UnixMillis>,
}

/// The `wall` event: every stream, and the engine's clock for durations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct WallView {
    taken_at: UnixMillis,
    tiles: Vec<Tile>,
}

/// The wall as of `snapshot`.
pub(crate) fn wall_view(snapshot: &Snapshot) -> WallView {
    WallView {
        taken_at: snapshot.taken_at,
        tiles: snapshot
            .streams
            .iter()
            .map(|s| Tile {
                name: s.name.clone(),
                state: s.state.label(),
                enabled: s.enabled,
                analysis: s.analysis,
                audio: s.audio.clone().filter(|_| s.pid.is_some()),
                alarms: s.alarms.clone(),
                thumbnail_at: s.thumbnail.as_ref().map(|t| t.updated_at),
            })
            .collect(),
    }
}

/// `GET /wall` (operator addresses only).
pub(crate) async fn page(_: Operator, State(state): State<AppState>) -> Response {
    match state.assets.text("wall.html").await {
        Some(html) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
            Html(html),
        )
            .into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "wall.html is missing\n").into_response(),
    }
}

/// `GET /wall/thumbnail/<stream>`: the stream's latest thumbnail (operator
/// addresses only).
pub(crate) async fn thumbnail(
    _: Operator,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    let snapshot = state.engine.snapshot();
    let Some(path) = snapshot
        .stream(&name)
        .and_then(|s| s.thumbnail.as_ref())
        .map(|t| t.path.clone())
    else {
        return (
            StatusCode::NOT_FOUND,
            "no thumbnail for this stream (yet)\n",
        )
            .into_response();
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
                // Each picture is asked for with its own `?t=`; the same
                // URL never needs to be asked for again.
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, max-age=60"),
                ),
            ],
            Body::from(bytes),
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "the thumbnail is gone\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{AlarmKind, StreamSnapshot, StreamState, Thumbnail};

    #[test]
    fn a_tile_carries_what_the_wall_shows_and_nothing_else() {
        let stream = StreamSnapshot {
            name: "cam".to_string(),
            enabled: true,
            state: StreamState::Running,
            pid: Some(7),
            analysis: true,
            command: "ffmpeg -i rtsp://secret@cam/".to_string(),
            last_error: Some("noise".to_string()),
            alarms: vec![Alarm {
                kind: AlarmKind::Black,
                since: 5,
                detail: "picture black for 5 s".to_string(),
            }],
            thumbnail: Some(Thumbnail {
                path: "/srv/hls/.thumbs/cam.jpg".to_string(),
                updated_at: 9,
            }),
            ..StreamSnapshot::default()
        };
        let snapshot = Snapshot {
            taken_at: 10,
            streams: vec![stream],
            ..Snapshot::default()
        };
        let json = serde_json::to_string(&wall_view(&snapshot)).expect("json");
        assert!(json.contains("\"thumbnail_at\":9"), "{json}");
        assert!(json.contains("\"black\""), "{json}");
        for private in ["secret", "noise", "/srv/hls"] {
            assert!(!json.contains(private), "{private} in {json}");
        }
    }
}
