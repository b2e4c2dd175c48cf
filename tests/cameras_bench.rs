//! Camera benchmarks, not tests: run by `scripts/bench-cameras.sh`, never
//! asserted (`cargo test --release --test cameras_bench -- --ignored --nocapture`).
//!
//! - Time from onair's start to a playing screen, for an H.264 camera that
//!   `auto` copies and an H.265 camera that `auto` encodes (copy first, then
//!   one restart with encoding once FFmpeg has described the source), next
//!   to what deciding before the start would cost: the same H.265 camera with
//!   the encoding chosen up front (`video = "h264"`), plus an ffprobe of the
//!   camera (the probe such a decision needs).
//! - CPU of the H.265 → H.264 encode per stream at 640×360 and 1280×720,
//!   against copying an H.264 camera of the same size in the same run.
//!
//! `ONAIR_BENCH_RUNS` (default 5) sets the runs per case; medians are printed.

#[path = "support/chromium.rs"]
mod chromium;
mod common;
#[path = "support/rtsp_camera.rs"]
mod rtsp_camera;

use chromium::{Onair, open_browser};
use common::wait_for;
use fantoccini::Client;
use rtsp_camera::{Camera, Codec, Settings};
use std::time::{Duration, Instant};

/// The cameras' keyframe interval: short enough for the low-latency
/// profile's segments, so `auto` copies the H.264 camera.
const KEYFRAME: f64 = 0.5;

fn runs() -> usize {
    std::env::var("ONAIR_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn one_stream(url: &str, video: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[[stream]]\nname = \"cam\"\ninput = \"{url}\"\nprofile = \"low-latency\"\nvideo = \"{video}\"\n\n[[screen]]\nname = \"cam\"\nstream = \"cam\"\n"
    )
}

/// Seconds from onair's start (engine and HTTP server) to the screen's
/// player saying `playing`; the browser is already open on a blank page.
async fn start_to_playing(client: &Client, url: &str, video: &str) -> f64 {
    let started = Instant::now();
    let onair = Onair::start(&one_stream(url, video)).await;
    client
        .goto(&onair.url("/screen/cam"))
        .await
        .expect("open the screen");
    let deadline = started + Duration::from_secs(60);
    loop {
        let state = client
            .execute("return (window.onair || {}).state || null;", vec![])
            .await
            .expect("player state");
        if state == "playing" {
            break;
        }
        assert!(Instant::now() < deadline, "no picture within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    client.goto("about:blank").await.expect("leave");
    onair.stop().await;
    seconds
}

/// The ffprobe a decision before the start would run on the camera.
fn probe_seconds(url: &str) -> f64 {
    let started = Instant::now();
    let status = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-show_streams",
            url,
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("ffprobe");
    assert!(status.success(), "ffprobe failed on {url}");
    started.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run by scripts/bench-cameras.sh"]
async fn time_to_a_playing_screen() {
    let h264 = Camera::start(Settings {
        size: (640, 360),
        fps: 25,
        keyframe: KEYFRAME,
        ..Settings::default()
    });
    let h265 = Camera::start(Settings {
        codec: Codec::H265,
        size: (640, 360),
        fps: 25,
        keyframe: KEYFRAME,
        ..Settings::default()
    });
    let (driver, client) = open_browser().await;
    let mut copy = Vec::new();
    let mut auto = Vec::new();
    let mut upfront = Vec::new();
    let mut probe = Vec::new();
    for run in 0..runs() {
        copy.push(start_to_playing(&client, &h264.url(), "auto").await);
        auto.push(start_to_playing(&client, &h265.url(), "auto").await);
        upfront.push(start_to_playing(&client, &h265.url(), "h264").await);
        probe.push(probe_seconds(&h265.url()));
        eprintln!(
            "run {run}: h264 copy {:.2} s, h265 auto {:.2} s, h265 encoded from the start {:.2} s, ffprobe {:.2} s",
            copy[run], auto[run], upfront[run], probe[run]
        );
    }
    let (copy, auto, upfront, probe) = (median(copy), median(auto), median(upfront), median(probe));
    println!(
        "start to playing screen, median of {} runs (640x360 25 fps, keyframes every {KEYFRAME} s, low-latency):",
        runs()
    );
    println!("  H.264 camera, auto (copies):                    {copy:.2} s");
    println!(
        "  H.265 camera, auto (copy, learn, restart once): {auto:.2} s  ({:.2}x the H.264 copy)",
        auto / copy
    );
    println!("  H.265 camera, encoding chosen up front:         {upfront:.2} s");
    println!("  ffprobe of the camera (what a prior probe adds): {probe:.2} s");
    println!(
        "  => probing first would give about {:.2} s for H.265 and {:.2} s for H.264",
        upfront + probe,
        copy + probe
    );
    let _ = client.close().await;
    drop(driver);
}

/// Median CPU (percent of one core) of the stream's FFmpeg over `seconds`
/// once it runs the expected handling.
async fn stream_cpu(url: &str, handling: &str, seconds: u64) -> f64 {
    let onair = Onair::start(&one_stream(url, "auto")).await;
    wait_for(
        &onair.engine,
        Duration::from_secs(40),
        "the stream running",
        |s| {
            s.stream("cam")
                .is_some_and(|c| c.state.label() == "running" && c.handling == handling)
        },
    )
    .await;
    // Let the first samples settle (process start, probing).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut samples = Vec::new();
    for _ in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(cpu) = onair
            .engine
            .snapshot()
            .stream("cam")
            .and_then(|c| c.cpu_percent)
        {
            samples.push(f64::from(cpu));
        }
    }
    onair.stop().await;
    median(samples)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run by scripts/bench-cameras.sh"]
async fn cpu_of_the_h265_to_h264_encode() {
    let seconds = 20;
    println!("CPU of the stream's FFmpeg, median over {seconds} s (percent of one core, 25 fps):");
    for size in [(640, 360), (1280, 720)] {
        let h265 = Camera::start(Settings {
            codec: Codec::H265,
            size,
            fps: 25,
            keyframe: KEYFRAME,
            ..Settings::default()
        });
        let encode = stream_cpu(&h265.url(), "h264 from hevc", seconds).await;
        drop(h265);
        let h264 = Camera::start(Settings {
            size,
            fps: 25,
            keyframe: KEYFRAME,
            ..Settings::default()
        });
        let copy = stream_cpu(&h264.url(), "copy", seconds).await;
        drop(h264);
        println!(
            "  {}x{}: H.265 -> H.264 encode {encode:.1} %, H.264 copy {copy:.1} % ({:.0}x)",
            size.0,
            size.1,
            encode / copy.max(0.1)
        );
    }
}
