//! How much latency does a copy-mode relay through onair add, compared with
//! the encoder publishing straight to the platform?
//!
//! Method: one encoder (FFmpeg's tee muxer) publishes the same encoded
//! packets at the same instant to the local hub and, under the name
//! `direct`, to the "platform" (a second nginx-rtmp). onair relays the hub's
//! stream to the platform under other names (one destination per variant),
//! and a bare FFmpeg runs onair's exact command line as the reference for
//! what onair itself adds. One ffprobe per stream on the platform prints
//! every video packet with a CRC of its payload as it arrives; each line is
//! stamped with this process's monotonic clock. A packet's added latency is
//! its arrival on a relayed stream minus its arrival on `direct`, matched by
//! payload CRC (the relay copies the bitstream untouched). Every reader runs
//! the same program with the same settings, so its own delay cancels out.
//!
//! Run: `scripts/bench-relay-latency.sh [SECONDS]` (needs ffmpeg, nginx and
//! libnginx-mod-rtmp).

#[path = "../tests/common/net.rs"]
mod net;
#[path = "../tests/support/rtmp_hub.rs"]
mod rtmp_hub;

use net::free_port;

use anyhow::{Context, bail};
use onair::engine::{Command as EngineCommand, Engine, EngineOptions};
use rtmp_hub::{Feed, Nginx};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The relays compared with `direct`: (stream on the platform, what it is).
const VARIANTS: [(&str, &str); 4] = [
    ("copy", "onair, stable, audio copy"),
    ("lowlat", "onair, low-latency, audio copy"),
    ("aac", "onair, stable, audio aac (default)"),
    ("bare", "bare ffmpeg, onair's argv"),
];

/// Packets arriving in the first seconds are left out: readers and relays
/// flush what they buffered while probing the stream.
const WARM_UP: Duration = Duration::from_secs(6);

struct Arrival {
    at: Instant,
    hash: String,
}

/// One ffprobe printing each video packet of a stream as it arrives.
struct PacketLog {
    child: Child,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
}

impl PacketLog {
    fn start(url: &str) -> anyhow::Result<PacketLog> {
        // stdbuf: ffprobe prints through stdio, which would otherwise hold
        // lines back in a 4 KiB buffer when stdout is a pipe.
        let mut child = Command::new("stdbuf")
            .args(["-oL", "ffprobe", "-v", "error", "-rtmp_live", "live"])
            .args(["-select_streams", "v", "-show_packets"])
            .args(["-show_data_hash", "CRC32"])
            .args(["-show_entries", "packet=pts,size,data_hash"])
            .args(["-of", "csv=p=0", url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot run stdbuf/ffprobe")?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&arrivals);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let at = Instant::now();
                let Ok(line) = line else { break };
                if let Some(hash) = line.rsplit(',').next().filter(|h| h.starts_with("CRC32:")) {
                    if let Ok(mut a) = sink.lock() {
                        a.push(Arrival {
                            at,
                            hash: hash.to_string(),
                        });
                    }
                }
            }
        });
        Ok(PacketLog { child, arrivals })
    }

    fn since(&self, from: Instant) -> Vec<(Instant, String)> {
        self.arrivals
            .lock()
            .map(|a| {
                a.iter()
                    .filter(|x| x.at >= from)
                    .map(|x| (x.at, x.hash.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for PacketLog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Stats {
    n: usize,
    unmatched: usize,
    min: f64,
    median: f64,
    p90: f64,
    max: f64,
}

fn added_latency(direct: &[(Instant, String)], relayed: &[(Instant, String)]) -> Option<Stats> {
    let first: HashMap<&str, Instant> = direct
        .iter()
        .rev()
        .map(|(at, h)| (h.as_str(), *at))
        .collect();
    let mut ms: Vec<f64> = Vec::new();
    let mut unmatched = 0;
    for (at, hash) in relayed {
        match first.get(hash.as_str()) {
            Some(direct_at) => {
                let delta = if at >= direct_at {
                    (*at - *direct_at).as_secs_f64()
                } else {
                    -(*direct_at - *at).as_secs_f64()
                };
                ms.push(delta * 1000.0);
            }
            None => unmatched += 1,
        }
    }
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    Some(Stats {
        n: ms.len(),
        unmatched,
        min: ms[0],
        median: pick(0.5),
        p90: pick(0.9),
        max: ms[ms.len() - 1],
    })
}

fn config_text(hub: &Nginx, platform: &Nginx) -> String {
    let url = |name: &str| platform.url(name);
    format!(
        r#"[server]
hls_dir = "hls"

[[stream]]
name = "program"
input = "{input}"
audio = "copy"
outputs = [
  {{ name = "copy", url = "{copy}" }},
  {{ name = "lowlat", url = "{lowlat}", profile = "low-latency" }},
  {{ name = "aac", url = "{aac}", audio = "aac" }},
]
"#,
        input = hub.url("program"),
        copy = url("copy"),
        lowlat = url("lowlat"),
        aac = url("aac"),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    const USAGE: &str = "usage: relay_latency [SECONDS [WxH RATE]]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = match args.first() {
        Some(s) => s.parse().context(USAGE)?,
        None => 30,
    };
    let size = args.get(1).map_or("320x180", String::as_str);
    let rate: u32 = match args.get(2) {
        Some(r) => r.parse().context(USAGE)?,
        None => 15,
    };
    let dir = tempfile::tempdir()?;
    let hub = Nginx::start(dir.path(), "hub");
    let platform = Nginx::start(dir.path(), "platform");
    let feed = Feed::publish_picture(&[hub.url("program"), platform.url("direct")], size, rate);

    let path = dir.path().join("streams.toml");
    std::fs::write(&path, config_text(&hub, &platform))?;
    let config = onair::config::load_file(&path)?;
    let copy_spec = config
        .stream("program/copy")
        .context("program/copy in the config")?;
    let mut bare_argv = onair::ffmpeg::command(&config, copy_spec);
    if let Some(last) = bare_argv.last_mut() {
        *last = platform.url("bare");
    }
    let (engine, task) = Engine::start(config, EngineOptions { write_back: false })?;

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let snapshot = engine.snapshot();
        let running = snapshot
            .streams
            .iter()
            .filter(|s| s.state.label() == "running")
            .count();
        if running == 3 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the relays did not start within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The reference starts once the hub has the feed (it has no retries),
    // and the readers once it publishes (the platform refuses readers of a
    // stream nobody publishes).
    let mut bare = Command::new(&bare_argv[0])
        .args(&bare_argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot run ffmpeg")?;
    let progress = bare.stdout.take().context("piped stdout")?;
    let (publishing_tx, publishing) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(progress).lines().map_while(Result::ok) {
            let advanced = line
                .strip_prefix("out_time_us=")
                .and_then(|v| v.trim().parse::<i64>().ok())
                .is_some_and(|us| us > 0);
            if advanced {
                let _ = publishing_tx.send(());
            }
        }
    });
    publishing
        .recv_timeout(Duration::from_secs(20))
        .context("the reference ffmpeg relay did not start publishing within 20 s")?;

    let direct = PacketLog::start(&platform.url("direct"))?;
    let logs: Vec<PacketLog> = VARIANTS
        .iter()
        .map(|(name, _)| PacketLog::start(&platform.url(name)))
        .collect::<anyhow::Result<_>>()?;
    let from = Instant::now() + WARM_UP;
    eprintln!(
        "measuring for {seconds} s after a {} s warm-up...",
        WARM_UP.as_secs()
    );
    tokio::time::sleep(WARM_UP + Duration::from_secs(seconds)).await;
    let until = Instant::now();
    // Relayed packets are counted while the window is open; their direct
    // twins may have left a little before it opened or, in principle, after
    // it closed, so the direct side is read with a margin on both ends.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let direct_arrivals = direct.since(from - Duration::from_secs(2));
    println!(
        "added latency of a relay vs publishing straight to the platform \
         ({seconds} s, {size} {rate} fps H.264 + AAC, video packets matched by payload CRC)"
    );
    println!(
        "{:<38} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "path", "min ms", "median", "p90", "max", "packets"
    );
    let mut medians = HashMap::new();
    for ((name, what), log) in VARIANTS.iter().zip(&logs) {
        let relayed: Vec<_> = log
            .since(from)
            .into_iter()
            .filter(|(at, _)| *at <= until)
            .collect();
        if relayed.is_empty() {
            println!("{what:<38} received nothing");
            continue;
        }
        match added_latency(&direct_arrivals, &relayed) {
            Some(s) => {
                medians.insert(*name, s.median);
                println!(
                    "{what:<38} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>7}{}",
                    s.min,
                    s.median,
                    s.p90,
                    s.max,
                    s.n,
                    if s.unmatched > 0 {
                        format!(" ({} unmatched)", s.unmatched)
                    } else {
                        String::new()
                    }
                );
            }
            None => println!("{what:<38} no packet matched the direct stream"),
        }
    }
    if let (Some(onair), Some(bare)) = (medians.get("copy"), medians.get("bare")) {
        println!(
            "onair relay / bare ffmpeg relay (median): {:.2} ({:+.1} ms)",
            onair / bare.max(0.001),
            onair - bare
        );
    }
    let snapshot = engine.snapshot();
    for s in &snapshot.streams {
        if let (Some(cpu), Some(rss)) = (s.cpu_percent, s.rss_bytes) {
            println!(
                "{:<16} cpu {cpu:>5.1} % of a core, rss {:>5.1} MB",
                s.name,
                rss as f64 / 1e6
            );
        }
    }

    engine.send(EngineCommand::Shutdown);
    task.wait().await;
    if bare.try_wait()?.is_some() {
        eprintln!("note: the reference ffmpeg relay ended during the measurement");
    }
    let _ = bare.kill();
    let _ = bare.wait();
    drop(feed);
    Ok(())
}
