//! The HTML pages: `/` lists what can be watched, `/screen/<name>` and
//! `/watch/<stream>` are the player.
//!
//! The player page is one template (`assets/player.html`) told what to play
//! through a small JSON block; everything else it learns from `/events`.

use super::AppState;
use super::access::Client;
use super::api::{encode_path_segment, playlist_url};
use crate::config::{OutputKind, ScreenSpec};
use crate::engine::Snapshot;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// JSON that is safe inside a `<script>` element.
fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn page(status: StatusCode, html: String) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        Html(html),
    )
        .into_response()
}

fn path_of(name: &str) -> String {
    name.split('/')
        .map(encode_path_segment)
        .collect::<Vec<_>>()
        .join("/")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#111;color:#eee;margin:2em;}\
a{color:#6cf;}table{border-collapse:collapse;margin-bottom:2em;}\
td,th{padding:.3em .9em;text-align:left;border-bottom:1px solid #333;}\
.running{color:#5d5;}.failed,.stalled,.retrying{color:#f66;}.starting{color:#fd5;}.stopped{color:#999;}";

/// `GET /`: every stream and screen, with links to watch them.
/// The stream table (state, profile, outputs) only for operator addresses.
pub(crate) async fn index(client: Client, State(state): State<AppState>) -> Response {
    let snapshot = state.engine.snapshot();
    let config = state.engine.config();
    page(
        StatusCode::OK,
        render_index(&snapshot, &config.screens, client.operator),
    )
}

fn render_index(snapshot: &Snapshot, screens: &[ScreenSpec], operator: bool) -> String {
    let mut html = String::with_capacity(4096);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"5\"><title>onair</title><style>{STYLE}</style></head><body>\
         <h1>onair</h1><h2>Screens</h2>"
    );
    if screens.is_empty() {
        html.push_str("<p>No <code>[[screen]]</code> in streams.toml yet.</p>");
    } else {
        html.push_str("<table><tr><th>Screen</th><th>Stream</th></tr>");
        for screen in screens {
            let _ = write!(
                html,
                "<tr><td><a href=\"/screen/{}\">{}</a></td><td>{}</td></tr>",
                path_of(&screen.name),
                escape_html(&screen.name),
                escape_html(&screen.stream)
            );
        }
        html.push_str("</table>");
    }
    if !operator {
        html.push_str(
            "<p>Streams and their state are shown only to the operator's addresses \
             (<code>[server].operator_allow</code> in streams.toml).</p></body></html>",
        );
        return html;
    }
    html.push_str("<h2>Streams</h2><table><tr><th>Stream</th><th>State</th><th>Profile</th><th>Output</th><th></th></tr>");
    for stream in &snapshot.streams {
        let state = stream.state.label();
        let links = if stream.output_kind == OutputKind::Hls {
            format!(
                "<a href=\"/watch/{}\">watch</a> · <a href=\"{}\">playlist</a>",
                path_of(&stream.name),
                playlist_url(&stream.name)
            )
        } else {
            String::new()
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"{state}\">{state}</td><td>{}</td><td>{}</td><td>{links}</td></tr>",
            escape_html(&stream.name),
            stream.profile,
            escape_html(&stream.output),
        );
    }
    html.push_str(
        "</table><p><a href=\"/api/streams\">/api/streams</a> · <a href=\"/metrics\">/metrics</a></p></body></html>",
    );
    html
}

async fn player(state: &AppState, title: &str, target: serde_json::Value) -> Response {
    let Some(template) = state.assets.text("player.html").await else {
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "player.html is missing".to_string(),
        );
    };
    let html = template
        .replace("__ONAIR_TITLE__", &escape_html(title))
        .replace("__ONAIR_TARGET__", &script_json(&target));
    page(StatusCode::OK, html)
}

fn not_found(what: &str, known: &[String], kind: &str) -> Response {
    let list = if known.is_empty() {
        "none".to_string()
    } else {
        known
            .iter()
            .map(|k| escape_html(k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    page(
        StatusCode::NOT_FOUND,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>onair</title><style>{STYLE}</style></head>\
             <body><h1>{}</h1><p>Known {kind}: {list}. <a href=\"/\">All streams and screens</a></p></body></html>",
            escape_html(what)
        ),
    )
}

/// `GET /screen/<name>`: the player for a screen, with its overlays.
pub(crate) async fn screen(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let config = state.engine.config();
    if config.screen(&name).is_none() {
        let known: Vec<String> = config.screens.iter().map(|s| s.name.clone()).collect();
        return not_found(
            &format!("No [[screen]] named {name:?} in streams.toml"),
            &known,
            "screens",
        );
    }
    player(&state, &name, serde_json::json!({ "screen": name })).await
}

/// `GET /watch/<stream>`: the player for a bare stream.
pub(crate) async fn watch(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let config = state.engine.config();
    let hls: Vec<String> = config
        .streams
        .iter()
        .filter(|s| s.output.kind() == OutputKind::Hls)
        .map(|s| s.name.clone())
        .collect();
    if !hls.contains(&name) {
        return not_found(
            &format!("No HLS stream named {name:?} in streams.toml"),
            &hls,
            "HLS streams",
        );
    }
    player(&state, &name, serde_json::json!({ "stream": name })).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script() {
        let value = serde_json::json!({ "screen": "</script><b>" });
        let text = script_json(&value);
        assert!(!text.contains("</script>"));
        let back: serde_json::Value = serde_json::from_str(&text).expect("still JSON");
        assert_eq!(back, value);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
