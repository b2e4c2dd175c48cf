//! What fallback costs and how fast it switches, measured on onair itself.
//!
//! 1. Switch times: one stream reads a venue hub (nginx-rtmp) fed by an
//!    encoder that is killed and restarted `OUTAGES` times. For each outage:
//!    the encoder's death → the slate on the outputs, the encoder's return
//!    → live on the outputs, and (the relay's own share) the ingest
//!    delivering again → live on the outputs. Medians are printed.
//! 2. Cost: `STREAMS` copy-mode streams read the same hub and write HLS,
//!    first with fallback on, then off. After a warm-up, for `MEASURE`
//!    seconds: every stream's speed, onair's own CPU and RSS, the relay's
//!    throughput.
//!
//! The encoder publishes a pre-encoded 720p clip in a loop (`-c copy`), so
//! it costs almost nothing itself. Run: `scripts/bench-fallback.sh
//! [OUTAGES [STREAMS [SECONDS]]]` (needs ffmpeg, nginx and
//! libnginx-mod-rtmp). Prints figures, asserts nothing.

#[path = "../tests/common/net.rs"]
mod net;
#[path = "../tests/support/rtmp_hub.rs"]
mod rtmp_hub;

use net::free_port;

use anyhow::{Context, bail};
use onair::engine::{Command as EngineCommand, Engine, EngineOptions, Snapshot};
use rtmp_hub::{Guarded, Nginx};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A 720p30 H.264 + AAC clip, about 2.5 Mbit/s, made once.
fn make_clip(path: &Path) -> anyhow::Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t", "10", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k",
        ])
        .args([
            "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
        ])
        .args(["-f", "flv"])
        .arg(path)
        .status()
        .context("cannot run ffmpeg")?;
    if !status.success() {
        bail!("could not make the clip");
    }
    Ok(())
}

/// The encoder: the clip published in a loop, not re-encoded.
fn publish(clip: &Path, url: &str) -> Guarded {
    let mut command = Command::new("ffmpeg");
    command
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
        ])
        .arg(clip)
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Guarded::spawn(&mut command)
}

fn start(dir: &Path, text: &str) -> anyhow::Result<(Engine, onair::engine::EngineTask)> {
    let path = dir.join("streams.toml");
    std::fs::write(&path, text)?;
    let config = onair::config::load_file(&path)?;
    Ok(Engine::start(config, EngineOptions { write_back: false })?)
}

async fn wait(
    engine: &Engine,
    within: Duration,
    check: impl Fn(&Snapshot) -> bool,
) -> Option<Instant> {
    let mut rx = engine.subscribe();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check(&rx.borrow_and_update()) {
            return Some(Instant::now());
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            return None;
        }
    }
}

fn on_air(s: &Snapshot, name: &str) -> String {
    s.stream(name)
        .and_then(|r| r.fallback.as_ref())
        .map(|f| f.on_air.clone())
        .unwrap_or_default()
}

fn ingest_running(s: &Snapshot, name: &str) -> bool {
    s.stream(name)
        .and_then(|r| r.fallback.as_ref())
        .is_some_and(|f| f.ingest_state == "running")
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn stream_text(name: &str, input: &str, fallback: bool) -> String {
    format!(
        "[[stream]]\nname = \"{name}\"\ninput = \"{input}\"\naudio = \"copy\"\nfallback = {fallback}\n\n"
    )
}

async fn switch_times(dir: &Path, clip: &Path, hub: &Nginx, outages: usize) -> anyhow::Result<()> {
    let url = hub.url("switch");
    let mut encoder = Some(publish(clip, &url));
    let (engine, task) = start(
        dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\nhls_dir = \"hls-switch\"\n\n{}",
            free_port(),
            stream_text("cam", &url, true)
        ),
    )?;
    wait(&engine, Duration::from_secs(60), |s| {
        on_air(s, "cam") == "live"
    })
    .await
    .context("the stream never went live")?;
    let (mut to_slate, mut to_live, mut relay_share) = (Vec::new(), Vec::new(), Vec::new());
    for n in 1..=outages {
        tokio::time::sleep(Duration::from_secs(6)).await;
        drop(encoder.take());
        let died = Instant::now();
        let slate = wait(&engine, Duration::from_secs(30), |s| {
            on_air(s, "cam") == "slate"
        })
        .await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        encoder = Some(publish(clip, &url));
        let back = Instant::now();
        let delivering = wait(&engine, Duration::from_secs(60), |s| {
            ingest_running(s, "cam")
        })
        .await;
        let live = wait(&engine, Duration::from_secs(60), |s| {
            on_air(s, "cam") == "live"
        })
        .await;
        match (slate, delivering, live) {
            (Some(slate), Some(delivering), Some(live)) => {
                to_slate.push((slate - died).as_secs_f64());
                to_live.push((live - back).as_secs_f64());
                relay_share.push(live.saturating_duration_since(delivering).as_secs_f64());
                println!(
                    "outage {n:2}: death -> slate {:.3} s, return -> live {:.2} s (ingest delivering -> live {:.3} s)",
                    to_slate[to_slate.len() - 1],
                    to_live[to_live.len() - 1],
                    relay_share[relay_share.len() - 1]
                );
            }
            _ => println!("outage {n:2}: a switch did not happen in time"),
        }
    }
    println!(
        "median over {} outages: source death -> slate {:.3} s; source return -> live {:.2} s; ingest delivering -> live {:.3} s",
        to_slate.len(),
        median(&to_slate),
        median(&to_live),
        median(&relay_share)
    );
    engine.send(EngineCommand::Shutdown);
    task.wait().await;
    Ok(())
}

struct Cost {
    min_speed: f64,
    median_speed: f64,
    below: usize,
    cpu: f64,
    rss_mb: f64,
    ffmpeg_cpu: f64,
    relayed_mb_s: f64,
}

async fn cost(
    dir: &Path,
    hub: &Nginx,
    streams: usize,
    fallback: bool,
    seconds: u64,
) -> anyhow::Result<Cost> {
    let url = hub.url("program");
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\nhls_dir = \"hls-{fallback}\"\nstall_timeout = 30\n\n",
        free_port()
    );
    let names: Vec<String> = (0..streams).map(|i| format!("s{i:02}")).collect();
    for name in &names {
        text.push_str(&stream_text(name, &url, fallback));
    }
    let (engine, task) = start(dir, &text)?;
    let all_running = |s: &Snapshot| {
        names
            .iter()
            .all(|n| s.stream(n).is_some_and(|r| r.state.label() == "running"))
    };
    if wait(&engine, Duration::from_secs(180), all_running)
        .await
        .is_none()
    {
        println!("warning: not every stream ran within 180 s");
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    let relayed = |s: &Snapshot| -> f64 {
        s.streams
            .iter()
            .filter_map(|r| r.fallback.as_ref())
            .map(|f| f.relayed_mb)
            .sum()
    };
    let first = engine.snapshot();
    let started = Instant::now();
    let (mut cpu, mut rss, mut ffmpeg) = (Vec::new(), Vec::new(), Vec::new());
    let mut speeds: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let s = engine.snapshot();
        cpu.push(f64::from(s.host.onair_cpu_percent));
        rss.push(s.host.onair_rss_bytes as f64 / 1e6);
        ffmpeg.push(
            s.streams
                .iter()
                .filter_map(|r| r.cpu_percent)
                .map(f64::from)
                .sum(),
        );
        for (i, name) in names.iter().enumerate() {
            if let Some(speed) = s.stream(name).and_then(|r| r.speed) {
                speeds[i].push(speed);
            }
        }
    }
    let last = engine.snapshot();
    let per_stream: Vec<f64> = speeds.iter().map(|v| median(v)).collect();
    let result = Cost {
        min_speed: per_stream.iter().copied().fold(f64::INFINITY, f64::min),
        median_speed: median(&per_stream),
        below: per_stream
            .iter()
            .filter(|s| s.is_nan() || **s < 0.99)
            .count(),
        cpu: median(&cpu),
        rss_mb: rss.iter().copied().fold(0.0, f64::max),
        ffmpeg_cpu: median(&ffmpeg),
        relayed_mb_s: (relayed(&last) - relayed(&first)) / started.elapsed().as_secs_f64(),
    };
    engine.send(EngineCommand::Shutdown);
    task.wait().await;
    Ok(result)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    const USAGE: &str = "usage: fallback [OUTAGES [STREAMS [SECONDS [on|off]]]]";
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let outages: usize = args.first().map_or(Ok(10), |s| s.parse()).context(USAGE)?;
    let streams: usize = args.get(1).map_or(Ok(64), |s| s.parse()).context(USAGE)?;
    let seconds: u64 = args.get(2).map_or(Ok(20), |s| s.parse()).context(USAGE)?;
    let dir = tempfile::tempdir()?;
    let clip = dir.path().join("clip.flv");
    make_clip(&clip)?;
    let hub = Nginx::start(dir.path(), "hub");

    if outages > 0 {
        println!("== switch times ({outages} outages of 4 s)");
        switch_times(dir.path(), &clip, &hub, outages).await?;
    }
    if streams > 0 {
        let _encoder = publish(&clip, &hub.url("program"));
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Each mode in a process of its own when asked (the script does):
        // memory once taken is not given back within one process.
        let modes: Vec<bool> = match args.get(3).map(String::as_str) {
            Some("on") => vec![true],
            Some("off") => vec![false],
            _ => vec![true, false],
        };
        println!(
            "== {streams} copy-mode streams (720p30, 2.6 Mbit/s each), {seconds} s after a 15 s warm-up"
        );
        println!(
            "fallback | speed min / median | streams < 0.99 | onair CPU % of a core | onair RSS MB | all FFmpeg CPU % | relayed MB/s"
        );
        for fallback in modes {
            let c = cost(dir.path(), &hub, streams, fallback, seconds).await?;
            println!(
                "{:8} | {:.3} / {:.3}     | {:14} | {:21.2} | {:12.1} | {:16.0} | {:.1}",
                if fallback { "on" } else { "off" },
                c.min_speed,
                c.median_speed,
                c.below,
                c.cpu,
                c.rss_mb,
                c.ffmpeg_cpu,
                c.relayed_mb_s
            );
        }
    }
    Ok(())
}
