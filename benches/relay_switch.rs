//! The relay on its own, with real programs: an encoder publishes to a hub
//! (nginx-rtmp), an ingest FFmpeg copies the hub's stream to MPEG-TS, the
//! relay feeds two output FFmpegs (HLS files, and an RTMP push to a second
//! nginx-rtmp standing in for a platform). The encoder is killed for a
//! while and brought back, `OUTAGES` times; the ingest is retried every
//! half second as the engine would.
//!
//! Prints: time from the encoder's death to the slate on the outputs and
//! from its return to live again (relay side); the longest gap a viewer of
//! the platform saw; how many publish sessions the platform counted (1 =
//! the connection never dropped); what ffprobe reads on the platform
//! before, during and after an outage; HLS segments written during the
//! outages; and the relay's cost (bytes relayed per CPU second of this
//! process, which runs nothing but the relay and the clock).
//!
//! Run: `cargo bench --bench relay_switch -- [OUTAGES [SECONDS_DOWN [WxH RATE]]]`
//! (needs ffmpeg, nginx and libnginx-mod-rtmp). Asserts nothing.

#[path = "../tests/common/net.rs"]
mod net;
#[path = "../tests/support/rtmp_hub.rs"]
mod rtmp_hub;

use net::free_port;

use anyhow::{Context, bail};
use onair::ffmpeg::probe::{self, FeedFormat};
use onair::ffmpeg::slate::{SlateSource, clip_command};
use onair::relay::{Clip, Feed, Relay, RelayCommand, RelayEvent};
use rtmp_hub::{Feed as Encoder, Nginx, Viewer};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn ffmpeg(args: &[&str]) -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostats", "-loglevel", "error"])
        .args(args)
        .kill_on_drop(true)
        .stderr(Stdio::inherit());
    c
}

/// One run of the ingest: the hub's stream copied to MPEG-TS on stdout.
fn start_ingest(url: &str) -> anyhow::Result<(Child, std::os::fd::OwnedFd)> {
    let mut child = ffmpeg(&[
        "-rtmp_live",
        "live",
        "-rw_timeout",
        "5000000",
        "-i",
        url,
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-c",
        "copy",
        "-f",
        "mpegts",
        "pipe:1",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    Ok((child, stdout.into_owned_fd()?))
}

fn start_output(args: &[&str]) -> anyhow::Result<(Child, std::os::fd::OwnedFd)> {
    let mut base = vec!["-f", "mpegts", "-i", "pipe:0", "-c", "copy"];
    base.extend_from_slice(args);
    let mut child = ffmpeg(&base)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let stdin = child.stdin.take().context("stdin")?;
    Ok((child, stdin.into_owned_fd()?))
}

async fn probe_format(head: Vec<u8>) -> anyhow::Result<FeedFormat> {
    let argv = probe::command(Path::new("ffprobe"));
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let _ = stdin.write_all(&head).await;
    drop(stdin);
    let out = child.wait_with_output().await?;
    probe::parse(&String::from_utf8_lossy(&out.stdout)).context("ffprobe found nothing")
}

async fn encode_clip(name: &str, format: &FeedFormat) -> anyhow::Result<(Clip, f64)> {
    let argv = clip_command(
        Path::new("ffmpeg"),
        &SlateSource::Card(name.into()),
        format,
        true,
        1.0,
    );
    let started = Instant::now();
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .await?;
    if !out.status.success() {
        bail!("the slate encoder failed: {}", out.status);
    }
    Ok((Clip::parse(&out.stdout)?, started.elapsed().as_secs_f64()))
}

/// What ffprobe reads on the platform: codec, profile, size, rate per stream.
async fn probe_platform(url: &str) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "5000000",
            "-rtmp_live",
            "live",
        ])
        .args([
            "-show_entries",
            "stream=codec_name,profile,level,width,height,avg_frame_rate,sample_rate,channels",
        ])
        .args(["-of", "compact=p=0", url])
        .kill_on_drop(true)
        .output()
        .await;
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .trim()
            .replace('\n', " ; "),
        Err(e) => format!("ffprobe failed: {e}"),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let outages: usize = args.first().map_or(Ok(3), |s| s.parse())?;
    let down = Duration::from_secs(args.get(1).map_or(Ok(8), |s| s.parse())?);
    let size = args.get(2).map_or("640x360", String::as_str);
    let rate: u32 = args.get(3).map_or(Ok(25), |s| s.parse())?;

    let dir = tempfile::tempdir()?;
    let hub = Nginx::start(dir.path(), "hub");
    let platform = Nginx::start(dir.path(), "platform");
    let source = hub.url("cam");
    let target = platform.url("out");
    let hls = dir.path().join("hls");
    std::fs::create_dir_all(&hls)?;
    let mut encoder = Some(Encoder::publish_picture(
        std::slice::from_ref(&source),
        size,
        rate,
    ));

    let (relay, mut relay_events, _task) = Relay::start(true);
    // Events stamped as they come, whatever this loop is busy with.
    let (stamped, mut events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(e) = relay_events.recv().await {
            let _ = stamped.send((Instant::now(), e));
        }
    });
    let playlist = hls.join("index.m3u8");
    let seg = hls.join("seg-%d.ts");
    let (mut hls_out, stdin) = start_output(&[
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_list_size",
        "6",
        "-hls_flags",
        "delete_segments+temp_file",
        "-hls_segment_filename",
        seg.to_str().context("path")?,
        playlist.to_str().context("path")?,
    ])?;
    relay.send(RelayCommand::AddOutput {
        name: "hls".into(),
        stdin,
    });
    let (mut rtmp_out, stdin) =
        start_output(&["-f", "flv", "-flvflags", "no_duration_filesize", &target])?;
    relay.send(RelayCommand::AddOutput {
        name: "rtmp".into(),
        stdin,
    });

    // RELAY_DUMP=FILE keeps what the outputs receive, byte for byte.
    let _dump = match std::env::var("RELAY_DUMP") {
        Ok(path) => {
            let mut child = Command::new("dd")
                .arg(format!("of={path}"))
                .stdin(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            let stdin = child.stdin.take().context("stdin")?.into_owned_fd()?;
            relay.send(RelayCommand::AddOutput {
                name: "dump".into(),
                stdin,
            });
            Some(child)
        }
        Err(_) => None,
    };
    let mut ingest: Option<Child> = None;
    let mut next_try = Instant::now();
    let mut viewer: Option<Viewer> = None;
    let mut format: Option<FeedFormat> = None;
    let started = Instant::now();
    let cpu_start = cpu_seconds();
    let mut to_slate = Vec::new();
    let mut to_live = Vec::new();
    let mut killed_at: Option<Instant> = None;
    let mut back_at: Option<Instant> = None;
    let mut on_air = None;
    let mut probes = Vec::new();
    let mut phase = 0usize; // even: live, odd: down
    let mut phase_end = Instant::now() + Duration::from_secs(12);
    let mut viewing_from = None;
    let mut probing: Option<tokio::task::JoinHandle<String>> = None;
    let end_after = outages * 2;
    loop {
        // The ingest, retried every half second as the engine's backoff would.
        if let Some(child) = ingest.as_mut() {
            if child.try_wait()?.is_some() {
                ingest = None;
                next_try = Instant::now() + Duration::from_millis(500);
            }
        }
        if ingest.is_none() && Instant::now() >= next_try {
            let (child, reader) = start_ingest(&source)?;
            relay.send(RelayCommand::AttachLive(reader));
            ingest = Some(child);
        }
        if Instant::now() >= phase_end {
            phase += 1;
            if phase > end_after {
                break;
            }
            if phase % 2 == 1 {
                if phase == 1 {
                    probes.push(("before", probe_platform(&target).await));
                }
                encoder = None;
                killed_at = Some(Instant::now());
                phase_end = Instant::now() + down;
            } else {
                encoder = Some(Encoder::publish_picture(
                    std::slice::from_ref(&source),
                    size,
                    rate,
                ));
                back_at = Some(Instant::now());
                phase_end = Instant::now() + Duration::from_secs(10);
            }
        }
        if probing.as_ref().is_some_and(|p| p.is_finished()) {
            if let Some(p) = probing.take() {
                probes.push(("during", p.await?));
            }
        }
        // A viewer of the platform, once the platform has the stream.
        if viewer.is_none()
            && on_air == Some(Feed::Live)
            && started.elapsed() > Duration::from_secs(8)
        {
            let v = Viewer::watch(&target);
            if v.wait_flowing(Duration::from_secs(3)) {
                viewer = Some(v);
                viewing_from = Some(Instant::now());
            }
        }
        let event = tokio::time::timeout(Duration::from_millis(50), events.recv()).await;
        let Ok(Some((at, event))) = event else {
            continue;
        };
        match event {
            RelayEvent::LiveHead(head) if format.is_none() => {
                let probed = probe_format(head).await?;
                println!("live sends: {}", probed.describe());
                let (clip, secs) = encode_clip("cam", &probed).await?;
                println!(
                    "slate clip: {} bytes, {:?} a loop, encoded in {secs:.2} s",
                    clip.len(),
                    clip.duration()
                );
                relay.send(RelayCommand::SlateClip(Arc::new(clip)));
                format = Some(probed);
            }
            RelayEvent::OnAir(feed) => {
                on_air = Some(feed);
                let t = (at - started).as_secs_f64();
                match feed {
                    Feed::Slate => {
                        if let Some(k) = killed_at.take() {
                            to_slate.push((at - k).as_secs_f64());
                        }
                        println!("{t:7.2} s  slate on the air");
                        if probes.len() < 2 {
                            let target = target.clone();
                            probing =
                                Some(tokio::spawn(async move { probe_platform(&target).await }));
                        }
                    }
                    Feed::Live => {
                        if let Some(b) = back_at.take() {
                            to_live.push((at - b).as_secs_f64());
                        }
                        println!("{t:7.2} s  live on the air");
                    }
                }
            }
            RelayEvent::LiveHead(_) => {}
            other => println!("{:7.2} s  {other:?}", (at - started).as_secs_f64()),
        }
    }
    probes.push(("after", probe_platform(&target).await));
    let cpu = cpu_seconds() - cpu_start;
    let wall = started.elapsed().as_secs_f64();
    let relayed = relay
        .counters()
        .output_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    let live_in = relay
        .counters()
        .live_bytes
        .load(std::sync::atomic::Ordering::Relaxed);

    println!();
    println!(
        "source death -> slate on the outputs: median {:.2} s over {} ({:?})",
        median(&mut to_slate.clone()),
        to_slate.len(),
        to_slate
    );
    println!(
        "source return -> live on the outputs: median {:.2} s over {} ({:?})",
        median(&mut to_live.clone()),
        to_live.len(),
        to_live
    );
    if let (Some(v), Some(from)) = (&viewer, viewing_from) {
        let (gap, at) = v.longest_gap_since(from + Duration::from_secs(3));
        println!(
            "platform viewer: longest gap {:.2} s (at +{:.1} s)",
            gap.as_secs_f64(),
            at.as_secs_f64()
        );
    }
    let log = platform.error_log();
    let publishes = log.matches("publish: name='out'").count();
    println!("platform publish sessions for `out`: {publishes}");
    for (when, what) in &probes {
        println!("ffprobe on the platform {when}: {what}");
    }
    let segments = std::fs::read_dir(&hls)?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "ts"))
        })
        .count();
    println!(
        "hls: {segments} segments on disk; playlist tail: {}",
        std::fs::read_to_string(&playlist)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!(
        "relay cost: {:.1} MB relayed ({:.1} MB live in) in {wall:.0} s; this process used {cpu:.2} CPU s = {:.2} % of a core; {:.1} MB/s per CPU %",
        relayed as f64 / 1e6,
        live_in as f64 / 1e6,
        cpu / wall * 100.0,
        (relayed as f64 / 1e6 / wall) / (cpu / wall * 100.0).max(1e-9)
    );
    drop(encoder);
    drop(relay);
    let _ = hls_out.wait().await;
    let _ = rtmp_out.wait().await;
    Ok(())
}
