//! `/metrics` in the Prometheus text format, and the counting of requests
//! and bytes that feeds it.
//!
//! A venue that already runs Prometheus and Grafana sees its streams next to
//! everything else: up or not, restarts, stalls, CPU, memory, frame rate and
//! bitrate per stream, and how much the screens pull.

use super::access::Operator;
use super::{AppState, Traffic};
use crate::engine::{AlarmKind, AudioLevels, ChannelLevel, Snapshot, StreamSnapshot, StreamState};
use axum::body::{Body, HttpBody};
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::convert::Infallible;
use std::fmt::Write;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// One per-stream figure: metric name, type, help text, and how to read it
/// from a stream (`None` leaves that stream's series out).
type Figure = (
    &'static str,
    &'static str,
    &'static str,
    fn(&StreamSnapshot) -> Option<f64>,
);

/// Every state a stream can be in, for the one-hot `onair_stream_state`.
const STATES: [&str; 7] = [
    "stopped", "starting", "running", "stalled", "retrying", "failed", "fallback",
];

/// A layer that counts every request and the body bytes sent back. Written
/// by hand rather than with `middleware::from_fn`: it sits on every request
/// of every screen, and this costs one allocation instead of several.
#[derive(Clone)]
pub(crate) struct CountTraffic(pub(crate) Arc<Traffic>);

impl<S> Layer<S> for CountTraffic {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            traffic: Arc::clone(&self.0),
        }
    }
}

/// The service [`CountTraffic`] wraps around each route.
#[derive(Clone)]
pub(crate) struct Counted<S> {
    inner: S,
    traffic: Arc<Traffic>,
}

impl<S> Service<Request> for Counted<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let counting = Counting::start(&self.traffic, &request);
        let future = self.inner.call(request);
        Box::pin(async move { Ok(counting.finish(future.await?)) })
    }
}

/// One request being counted: counted when it arrives, its body's bytes
/// when the answer is ready (or as they go, for a stream).
pub(crate) struct Counting {
    head: bool,
    traffic: Arc<Traffic>,
}

impl Counting {
    /// Counts the request.
    pub(crate) fn start(traffic: &Arc<Traffic>, request: &Request) -> Counting {
        traffic.requests.fetch_add(1, Ordering::Relaxed);
        Counting {
            head: request.method() == Method::HEAD,
            traffic: Arc::clone(traffic),
        }
    }

    /// Counts the answer's body.
    pub(crate) fn finish(self, response: Response) -> Response {
        count_body(response, self.head, self.traffic)
    }
}

fn count_body(response: Response, head: bool, traffic: Arc<Traffic>) -> Response {
    if head {
        return response;
    }
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| response.body().size_hint().exact());
    if let Some(length) = declared {
        traffic.bytes.fetch_add(length, Ordering::Relaxed);
        return response;
    }
    // A stream (server-sent events): count the bytes as they go.
    let (parts, body) = response.into_parts();
    let counted = body.into_data_stream().map(move |chunk| {
        if let Ok(bytes) = &chunk {
            traffic
                .bytes
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        chunk
    });
    Response::from_parts(parts, Body::from_stream(counted))
}

/// `GET /metrics`, for operator addresses only.
pub(crate) async fn metrics(_: Operator, State(state): State<AppState>) -> Response {
    let snapshot = state.engine.snapshot();
    let mut text = render(&snapshot, &state.traffic);
    let hls = super::hls::HlsFiles::from_ref(&state);
    hls.requests.render(&mut text, label);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// Escapes a label value: backslash, double quote and newline.
pub(super) fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(super) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Levels older than this are left out: the stream stopped measuring.
const LEVELS_FRESH_MILLIS: u64 = 2_000;

/// What the audience gets: audio levels per channel, and each content
/// alarm as 0 or 1 for every stream that measures its content.
fn content(out: &mut String, snapshot: &Snapshot) {
    let levels: Vec<(&StreamSnapshot, &AudioLevels)> = snapshot
        .streams
        .iter()
        .filter_map(|s| s.audio.as_ref().map(|a| (s, a)))
        .filter(|(s, a)| {
            s.pid.is_some() && snapshot.taken_at.saturating_sub(a.at) <= LEVELS_FRESH_MILLIS
        })
        .collect();
    for (name, help, value) in [
        (
            "onair_stream_audio_peak_dbfs",
            "Peak audio level of the latest 0.2 s, per channel, dBFS (-120: digital silence).",
            (|c: &ChannelLevel| c.peak_dbfs) as fn(&ChannelLevel) -> f32,
        ),
        (
            "onair_stream_audio_rms_dbfs",
            "RMS audio level of the latest 0.2 s, per channel, dBFS (-120: digital silence).",
            |c: &ChannelLevel| c.rms_dbfs,
        ),
    ] {
        family(out, name, "gauge", help);
        for (stream, audio) in &levels {
            for (index, channel) in audio.channels.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}{{stream=\"{}\",channel=\"{}\"}} {}",
                    label(&stream.name),
                    index + 1,
                    value(channel)
                );
            }
        }
    }
    family(
        out,
        "onair_stream_alarm",
        "gauge",
        "1 while the content alarm is raised (silent, black, frozen).",
    );
    for stream in snapshot.streams.iter().filter(|s| s.analysis) {
        for kind in AlarmKind::ALL {
            let raised = u8::from(stream.alarms.iter().any(|a| a.kind == kind));
            let _ = writeln!(
                out,
                "onair_stream_alarm{{stream=\"{}\",alarm=\"{kind}\"}} {raised}",
                label(&stream.name)
            );
        }
    }
}

/// The whole exposition.
fn render(snapshot: &Snapshot, traffic: &Traffic) -> String {
    let mut out = String::with_capacity(4096);
    let streams = &snapshot.streams;

    // The state as one series per possible state, the current one at 1.
    family(
        &mut out,
        "onair_stream_state",
        "gauge",
        "The stream's current state (1 for the current one).",
    );
    for s in streams {
        let current = s.state.label();
        for state in STATES {
            let value = u8::from(state == current);
            let _ = writeln!(
                out,
                "onair_stream_state{{stream=\"{}\",state=\"{state}\"}} {value}",
                label(&s.name)
            );
        }
    }

    // Every other per-stream figure: one family each, a series per stream
    // that has a value (a stopped stream has no CPU, for example).
    let figures: [Figure; 10] = [
        (
            "onair_stream_up",
            "gauge",
            "1 when the stream's FFmpeg is running and producing output.",
            |s| Some(f64::from(u8::from(matches!(s.state, StreamState::Running)))),
        ),
        (
            "onair_stream_enabled",
            "gauge",
            "1 when onair keeps the stream running.",
            |s| Some(f64::from(u8::from(s.enabled))),
        ),
        (
            "onair_stream_restarts_total",
            "counter",
            "FFmpeg restarts since onair started (exits and stalls).",
            |s| Some(f64::from(s.restarts)),
        ),
        (
            "onair_stream_stalls_total",
            "counter",
            "Restarts caused by the stall watchdog.",
            |s| Some(f64::from(s.stalls)),
        ),
        (
            "onair_stream_cpu_percent",
            "gauge",
            "CPU use of the stream's FFmpeg, percent of one core.",
            |s| s.cpu_percent.map(f64::from),
        ),
        (
            "onair_stream_rss_bytes",
            "gauge",
            "Resident memory of the stream's FFmpeg, bytes.",
            |s| s.rss_bytes.map(|b| b as f64),
        ),
        (
            "onair_stream_fps",
            "gauge",
            "Frames per second the stream's FFmpeg outputs.",
            |s| s.fps,
        ),
        (
            "onair_stream_bitrate_bits_per_second",
            "gauge",
            "Output bitrate of the stream, bits per second.",
            |s| s.bitrate_kbps.map(|k| k * 1000.0),
        ),
        (
            "onair_stream_fallbacks_total",
            "counter",
            "Times the slate replaced the stream's lost source since onair started.",
            |s| s.fallback.as_ref().map(|f| f64::from(f.fallbacks)),
        ),
        (
            "onair_stream_slate_seconds",
            "gauge",
            "Seconds the slate has been on the air without a break (0 on live).",
            |s| s.fallback.as_ref().map(|f| f.slate_seconds),
        ),
    ];
    for (name, kind, help, value) in figures {
        family(&mut out, name, kind, help);
        for s in streams {
            if let Some(v) = value(s).filter(|v| v.is_finite()) {
                let _ = writeln!(out, "{name}{{stream=\"{}\"}} {v}", label(&s.name));
            }
        }
    }

    content(&mut out, snapshot);

    family(
        &mut out,
        "onair_http_requests_total",
        "counter",
        "HTTP requests served.",
    );
    let _ = writeln!(out, "onair_http_requests_total {}", traffic.requests());
    family(
        &mut out,
        "onair_http_response_bytes_total",
        "counter",
        "Bytes of HTTP response bodies served.",
    );
    let _ = writeln!(out, "onair_http_response_bytes_total {}", traffic.bytes());
    family(
        &mut out,
        "onair_screens_connected",
        "gauge",
        "Screens with an open /events connection.",
    );
    let _ = writeln!(out, "onair_screens_connected {}", traffic.screens());
    super::screen_reports::render_metrics(&mut out, &snapshot.screen_reports);
    family(
        &mut out,
        "onair_host_cpu_percent",
        "gauge",
        "CPU use of the whole machine, percent of all cores.",
    );
    let _ = writeln!(out, "onair_host_cpu_percent {}", snapshot.host.cpu_percent);
    family(
        &mut out,
        "onair_process_rss_bytes",
        "gauge",
        "Resident memory of onair itself, bytes.",
    );
    let _ = writeln!(
        out,
        "onair_process_rss_bytes {}",
        snapshot.host.onair_rss_bytes
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
