//! Screens report what they show: `POST /api/screen-reports` from every
//! player page (`assets/screen-report.js`), `GET /api/screens` for the list,
//! and the screen families of `/metrics`.
//!
//! The endpoint takes input from anyone on the venue's LAN, so it is
//! bounded before anything else: a per-address rate (GCRA, `governor`) is
//! checked before the body is read, the body is read up to a few KiB, every
//! field is checked and cut to size, and the stream is taken from
//! `streams.toml` rather than from the page. A report only ever changes the
//! entry of the page that sent it (its address and its own random id), and
//! the engine bounds how many pages it follows.

use super::AppState;
use super::access::Operator;
use super::api::masked_json;
use super::metrics::{family, label};
use crate::engine::{ReportRefused, ScreenReport, ScreenState};
use axum::Json;
use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

/// Largest report body taken; a real one is about 200 bytes.
pub const MAX_BODY_BYTES: usize = 2048;
/// Reports per second one address may send, sustained. A page reports
/// every few seconds and on each change, so this leaves room for a dozen
/// pages on one box.
pub const REPORTS_PER_SECOND: u32 = 8;
/// Reports one address may send in a burst.
pub const REPORT_BURST: u32 = 16;
/// Addresses remembered by the rate limiter before forgotten ones are swept.
const LIMITER_KEYS: usize = 4096;
/// Longest error text and user agent kept.
const MAX_TEXT: usize = 160;

/// The per-address limit on reports.
pub(crate) struct ReportLimiter(DefaultKeyedRateLimiter<IpAddr>);

impl Default for ReportLimiter {
    fn default() -> Self {
        let rate = NonZeroU32::new(REPORTS_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(REPORT_BURST).unwrap_or(NonZeroU32::MIN);
        ReportLimiter(RateLimiter::keyed(
            Quota::per_second(rate).allow_burst(burst),
        ))
    }
}

impl ReportLimiter {
    /// True when `address` may send one more report now.
    fn allow(&self, address: IpAddr) -> bool {
        if self.0.len() > LIMITER_KEYS {
            self.0.retain_recent();
        }
        self.0.check_key(&address).is_ok()
    }
}

/// A report as a page sends it. Unknown fields are ignored (a newer page
/// against an older onair); missing ones take their defaults.
#[derive(Debug, Deserialize)]
struct Incoming {
    id: String,
    #[serde(default)]
    screen: Option<String>,
    #[serde(default)]
    stream: Option<String>,
    state: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    latency: Option<f64>,
    #[serde(default)]
    width: Option<u32>,
    #[serde(default)]
    height: Option<u32>,
    /// The page is going away (sent on `pagehide`).
    #[serde(default)]
    closing: bool,
}

/// Keeps printable characters only, at most `max` of them.
fn cleaned(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

fn refuse(status: StatusCode, why: &str) -> Response {
    let mut response = (status, Json(serde_json::json!({ "error": why }))).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn valid_id(id: &str) -> bool {
    (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `POST /api/screen-reports`.
pub(crate) async fn report(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let address = peer.ip().to_canonical();
    if !state.report_limiter.allow(address) {
        return refuse(StatusCode::TOO_MANY_REQUESTS, "too many reports: slow down");
    }
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| cleaned(ua, MAX_TEXT))
        .unwrap_or_default();
    let Ok(body) = to_bytes(request.into_body(), MAX_BODY_BYTES).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "a report is at most 2048 bytes",
        );
    };
    let incoming: Incoming = match serde_json::from_slice(&body) {
        Ok(incoming) => incoming,
        Err(_) => return refuse(StatusCode::BAD_REQUEST, "not a screen report"),
    };
    if !valid_id(&incoming.id) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "id: 8 to 64 letters, digits, - or _",
        );
    }
    let address_text = address.to_string();
    if incoming.closing {
        state.engine.screen_closed(&address_text, &incoming.id);
        return StatusCode::NO_CONTENT.into_response();
    }
    let Some(screen_state) = ScreenState::ALL
        .into_iter()
        .find(|s| s.label() == incoming.state)
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "state: playing, loading, stalled or lost",
        );
    };
    // The stream comes from streams.toml, never from the page.
    let config = state.engine.config();
    let (screen, stream) = match (&incoming.screen, &incoming.stream) {
        (Some(name), _) => match config.screen(name) {
            Some(spec) => (Some(spec.name.clone()), spec.stream.clone()),
            None => return refuse(StatusCode::NOT_FOUND, "no such screen"),
        },
        (None, Some(name)) => match config.stream(name) {
            Some(spec) => (None, spec.name.clone()),
            None => return refuse(StatusCode::NOT_FOUND, "no such stream"),
        },
        (None, None) => return refuse(StatusCode::BAD_REQUEST, "screen or stream is required"),
    };
    let report = ScreenReport {
        id: incoming.id,
        address: address_text,
        screen,
        stream,
        state: screen_state,
        error: incoming
            .error
            .as_deref()
            .map(|e| cleaned(e, MAX_TEXT))
            .filter(|e| !e.is_empty()),
        latency: incoming
            .latency
            .filter(|l| l.is_finite() && (0.0..=3600.0).contains(l)),
        width: incoming.width.filter(|w| (1..=16384).contains(w)),
        height: incoming.height.filter(|h| (1..=16384).contains(h)),
        user_agent,
        ..ScreenReport::default()
    };
    match state.engine.report_screen(report) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refused @ (ReportRefused::TooManyScreens | ReportRefused::TooManyFromAddress)) => {
            refuse(StatusCode::SERVICE_UNAVAILABLE, &refused.to_string())
        }
    }
}

/// `GET /api/screens`: every screen page that reports, with what it shows
/// (addresses, user agents): operator data.
pub(crate) async fn list(_: Operator, State(state): State<AppState>) -> Response {
    let snapshot = state.engine.snapshot();
    let config = state.engine.config();
    let mut response = Json(masked_json(&snapshot.screen_reports, &config.secrets)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The screen families of `/metrics`: counts by state, and per page its
/// state and latency.
pub(crate) fn render_metrics(out: &mut String, reports: &[ScreenReport]) {
    family(
        out,
        "onair_screens",
        "gauge",
        "Screen pages that report, by what they show.",
    );
    for state in ScreenState::ALL {
        let count = reports.iter().filter(|r| r.state == state).count();
        let _ = writeln!(out, "onair_screens{{state=\"{}\"}} {count}", state.label());
    }
    family(
        out,
        "onair_screen_playing",
        "gauge",
        "1 when the screen page shows a moving picture.",
    );
    for r in reports {
        let _ = writeln!(
            out,
            "onair_screen_playing{{{}}} {}",
            screen_labels(r),
            u8::from(r.state == ScreenState::Playing)
        );
    }
    family(
        out,
        "onair_screen_latency_seconds",
        "gauge",
        "How far behind the live edge the screen plays, seconds.",
    );
    for r in reports {
        if let Some(latency) = r.latency {
            let _ = writeln!(
                out,
                "onair_screen_latency_seconds{{{}}} {latency}",
                screen_labels(r)
            );
        }
    }
}

fn screen_labels(r: &ScreenReport) -> String {
    format!(
        "screen=\"{}\",address=\"{}\",stream=\"{}\",id=\"{}\"",
        label(&r.name()),
        label(&r.address),
        label(&r.stream),
        label(&r.id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_a_page_is_cut_and_cleaned() {
        assert_eq!(cleaned("bad\u{1b}[31m\nthing ", 100), "bad[31mthing");
        assert_eq!(cleaned(&"x".repeat(500), 10).len(), 10);
    }

    #[test]
    fn ids_are_short_plain_tokens() {
        assert!(valid_id("a1b2c3d4e5f6"));
        assert!(!valid_id("short"));
        assert!(!valid_id("has space in it"));
        assert!(!valid_id(&"x".repeat(65)));
    }

    #[test]
    fn one_address_is_limited_without_touching_another() {
        let limiter = ReportLimiter::default();
        let flood: IpAddr = "127.0.0.2".parse().expect("ip");
        let calm: IpAddr = "127.0.0.1".parse().expect("ip");
        let allowed = (0..1000).filter(|_| limiter.allow(flood)).count();
        assert!(
            allowed <= REPORT_BURST as usize + 2,
            "{allowed} of 1000 let through"
        );
        assert!(limiter.allow(calm));
    }

    #[test]
    fn metrics_count_screens_by_state() {
        let reports = vec![
            ScreenReport {
                id: "aaaaaaaa".into(),
                address: "10.0.0.5".into(),
                screen: Some("foyer".into()),
                stream: "stage".into(),
                state: ScreenState::Playing,
                latency: Some(1.5),
                ..ScreenReport::default()
            },
            ScreenReport {
                id: "bbbbbbbb".into(),
                address: "10.0.0.6".into(),
                stream: "stage".into(),
                state: ScreenState::Lost,
                ..ScreenReport::default()
            },
        ];
        let mut out = String::new();
        render_metrics(&mut out, &reports);
        assert!(out.contains("onair_screens{state=\"playing\"} 1"), "{out}");
        assert!(out.contains("onair_screens{state=\"lost\"} 1"), "{out}");
        assert!(out.contains(
            "onair_screen_latency_seconds{screen=\"foyer\",address=\"10.0.0.5\",stream=\"stage\",id=\"aaaaaaaa\"} 1.5"
        ));
        assert!(out.contains("onair_screen_playing{screen=\"watch/stage\""));
    }
}
