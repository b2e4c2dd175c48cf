//! The relay's own cost: `STREAMS` relays in this process, each fed by an
//! FFmpeg that plays a 720p30 MPEG-TS clip in real time (`-c copy`, as an
//! ingest writes it) and feeding one output that discards what it reads.
//! This process runs nothing but the relays, so its CPU time is theirs.
//!
//! Run: `cargo bench --bench relay_load -- [STREAMS [SECONDS]]`. Prints
//! bytes relayed per second, this process's CPU (percent of one core) and
//! RSS, and the ratio. Asserts nothing.

use anyhow::{Context, bail};
use onair::relay::{Relay, RelayCommand};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<f64>().ok())
        })
        .map_or(0.0, |pages| pages * 4096.0 / 1e6)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let streams: usize = args.first().map_or(Ok(64), |s| s.parse())?;
    let seconds: u64 = args.get(1).map_or(Ok(20), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let clip = dir.path().join("clip.ts");
    let made = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t", "10", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-g", "60",
        ])
        .args([
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "mpegts",
        ])
        .arg(&clip)
        .status()
        .await
        .context("cannot run ffmpeg")?;
    if !made.success() {
        bail!("could not make the clip");
    }
    let mut children: Vec<Child> = Vec::new();
    let mut relays = Vec::new();
    for _ in 0..streams {
        let (relay, _events, _task) = Relay::start(true);
        let mut sink = Command::new("dd")
            .args(["of=/dev/null", "bs=64k", "status=none"])
            .stdin(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = sink.stdin.take().context("stdin")?.into_owned_fd()?;
        if std::env::var("NO_OUTPUT").is_err() {
            relay.send(RelayCommand::AddOutput {
                name: "out".into(),
                stdin,
            });
        }
        let mut ingest = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-stream_loop",
                "-1",
                "-i",
            ])
            .arg(&clip)
            .args(["-map", "0", "-c", "copy", "-f", "mpegts", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = ingest.stdout.take().context("stdout")?.into_owned_fd()?;
        relay.send(RelayCommand::AttachLive(stdout));
        children.push(sink);
        children.push(ingest);
        relays.push((relay, _events));
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let total = |relays: &[(Relay, _)]| -> u64 {
        relays
            .iter()
            .map(|(r, _)| {
                r.counters()
                    .output_bytes
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    };
    let (bytes0, cpu0, t0) = (total(&relays), cpu_seconds(), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (bytes, cpu, wall) = (
        total(&relays) - bytes0,
        cpu_seconds() - cpu0,
        t0.elapsed().as_secs_f64(),
    );
    let mb_s = bytes as f64 / 1e6 / wall;
    let cpu_pct = cpu / wall * 100.0;
    println!(
        "{streams} relays: {mb_s:.1} MB/s relayed, {cpu_pct:.2} % of a core, RSS {:.1} MB; {:.1} MB/s per percent of a core",
        rss_mb(),
        mb_s / cpu_pct.max(1e-9)
    );
    drop(relays);
    drop(children);
    Ok(())
}
