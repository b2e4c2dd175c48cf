//! `/api/…`: the engine's state as JSON, and what a player needs to know
//! about the screen it shows.
//!
//! Snapshots are masked by the engine already; every string is masked once
//! more on the way out, so a key can only leak if both layers fail.

use super::AppState;
use super::access::Operator;
use crate::config::{Config, OutputKind, Profile, ScreenSpec};
use crate::engine::{Snapshot, StreamSnapshot};
use crate::secrets;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// What a player shows: a screen (absent for `/watch/<stream>`) and the
/// stream it plays, with what the player's settings depend on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PlayView {
    /// The screen's settings and overlays.
    pub(crate) screen: Option<ScreenSpec>,
    /// The stream it plays, if it exists.
    pub(crate) stream: Option<StreamView>,
    /// Why there is nothing to play, in words for the slate.
    pub(crate) error: Option<String>,
}

/// The part of a stream's state a player acts on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct StreamView {
    pub(crate) name: String,
    pub(crate) enabled: bool,
    /// `running`, `starting`, `retrying`, ...
    pub(crate) state: &'static str,
    pub(crate) profile: Profile,
    pub(crate) output_kind: OutputKind,
    /// Changes whenever a new FFmpeg starts producing: a new timeline.
    pub(crate) running_since: Option<u64>,
    /// The live playlist (only for an HLS stream).
    pub(crate) hls_url: Option<String>,
    /// The profile's segment length, seconds.
    pub(crate) hls_time: f64,
    /// The profile's playlist length, segments.
    pub(crate) hls_list_size: u32,
    /// The profile's keyframe interval, seconds.
    pub(crate) gop_seconds: f64,
    /// How far behind onair's clock every screen shows the picture, seconds.
    pub(crate) screen_delay: f64,
}

/// The URL path of a stream's live playlist.
pub(crate) fn playlist_url(stream: &str) -> String {
    let encoded: Vec<String> = stream.split('/').map(encode_path_segment).collect();
    format!("/hls/{}/index.m3u8", encoded.join("/"))
}

/// Percent-encodes one path segment (names are plain, but be safe).
pub(crate) fn encode_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn stream_view(stream: &StreamSnapshot, config: &Config) -> StreamView {
    let settings = config.profiles.get(stream.profile);
    StreamView {
        name: stream.name.clone(),
        enabled: stream.enabled,
        state: stream.state.label(),
        profile: stream.profile,
        output_kind: stream.output_kind,
        running_since: stream.running_since,
        hls_url: (stream.output_kind == OutputKind::Hls).then(|| playlist_url(&stream.name)),
        hls_time: settings.hls_time,
        hls_list_size: settings.hls_list_size,
        gop_seconds: settings.gop_seconds,
        screen_delay: settings.screen_delay,
    }
}

/// The view of a screen, or `None` if no screen has that name.
pub(crate) fn screen_view(snapshot: &Snapshot, config: &Config, name: &str) -> Option<PlayView> {
    let screen = config.screen(name)?;
    let stream = snapshot.stream(&screen.stream);
    let error = match stream {
        None => Some(format!("stream {} is not in streams.toml", screen.stream)),
        Some(s) if s.output_kind != OutputKind::Hls => {
            Some(format!("stream {} is not an HLS stream", screen.stream))
        }
        Some(_) => None,
    };
    Some(PlayView {
        screen: Some(screen.clone()),
        stream: stream.map(|s| stream_view(s, config)),
        error,
    })
}

/// The view of a bare stream (`/watch/<stream>`).
pub(crate) fn watch_view(snapshot: &Snapshot, config: &Config, name: &str) -> PlayView {
    match snapshot.stream(name) {
        Some(s) if s.output_kind == OutputKind::Hls => PlayView {
            screen: None,
            stream: Some(stream_view(s, config)),
            error: None,
        },
        Some(_) => PlayView {
            screen: None,
            stream: None,
            error: Some(format!("stream {name} is not an HLS stream")),
        },
        None => PlayView {
            screen: None,
            stream: None,
            error: Some(format!("stream {name} is not in streams.toml")),
        },
    }
}

/// A screen's view as JSON, masked like any other, except that the text of
/// its overlays is shown as the operator wrote it: only a secret value (a
/// key from a URL's `${VAR}`) is hidden there, not the look of a URL.
pub(crate) fn masked_view(view: &PlayView, secret_values: &[String]) -> Value {
    let mut json = masked_json(view, secret_values);
    if let Some(screen) = &view.screen {
        for (key, overlay) in [("banner", &screen.banner), ("ticker", &screen.ticker)] {
            if let (Some(overlay), Some(slot)) = (overlay, json["screen"][key].get_mut("text")) {
                *slot = Value::String(secrets::mask_values(&overlay.text, secret_values));
            }
        }
    }
    json
}

/// A value as JSON with every string passed through the secret masks.
pub(crate) fn masked_json<T: Serialize>(value: &T, secret_values: &[String]) -> Value {
    let mut json = serde_json::to_value(value).unwrap_or(Value::Null);
    mask_strings(&mut json, secret_values);
    json
}

fn mask_strings(value: &mut Value, secret_values: &[String]) {
    match value {
        Value::String(text)
            if text.contains("://") || secret_values.iter().any(|s| text.contains(s.as_str())) =>
        {
            *text = secrets::mask_text(text, secret_values);
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| mask_strings(v, secret_values)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| mask_strings(v, secret_values)),
        _ => {}
    }
}

fn no_cache(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /api/streams`: the whole snapshot (streams, host, config status,
/// log), for operator addresses only.
pub(crate) async fn streams(_: Operator, State(state): State<AppState>) -> Response {
    let snapshot = state.engine.snapshot();
    let config = state.engine.config();
    no_cache(Json(masked_json(&*snapshot, &config.secrets)).into_response())
}

/// `GET /api/screens/<name>`: a screen's settings and its stream's profile.
pub(crate) async fn screen(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let snapshot = state.engine.snapshot();
    let config = state.engine.config();
    match screen_view(&snapshot, &config, &name) {
        Some(view) => no_cache(Json(masked_view(&view, &config.secrets)).into_response()),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({
                "error": format!("no [[screen]] named {name:?} in streams.toml"),
            })),
        )
            .into_response(),
    }
}

/// `GET /api/watch/<stream>`: what the player of a bare stream needs.
pub(crate) async fn watch(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let snapshot = state.engine.snapshot();
    let config = state.engine.config();
    let view = watch_view(&snapshot, &config, &name);
    let status = if view.stream.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    no_cache((status, Json(masked_json(&view, &config.secrets))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_reaches_nested_strings() {
        let value = serde_json::json!({
            "a": ["rtmp://host/live/topsecret", {"b": "the key is topsecret"}],
            "n": 3,
        });
        let masked = masked_json(&value, &["topsecret".to_string()]);
        let text = masked.to_string();
        assert!(!text.contains("topsecret"), "{text}");
        assert_eq!(masked["n"], 3);
    }

    #[test]
    fn playlist_urls_encode_odd_names() {
        assert_eq!(playlist_url("cam1"), "/hls/cam1/index.m3u8");
        assert_eq!(playlist_url("program/hls"), "/hls/program/hls/index.m3u8");
        assert_eq!(playlist_url("a b"), "/hls/a%20b/index.m3u8");
    }
}
