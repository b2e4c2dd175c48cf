//! Hot-reload latency: the time from the rename of a saved `streams.toml` to
//! the changed stream's new FFmpeg, over 20 edits, and the segments missing
//! from the untouched streams' playlists meanwhile (must be 0).
//!
//! Run with `cargo bench --bench reload` (or `scripts/bench-reload.sh`).

use onair::config;
use onair::engine::{Command, Engine, EngineOptions, Snapshot};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

const EDITS: usize = 20;
const LAVFI: &str =
    "lavfi:testsrc2=size=320x180:rate=15[out0];sine=frequency=440:sample_rate=48000[out1]";

fn stream(name: &str, profile: &str) -> String {
    format!("[[stream]]\nname = \"{name}\"\ninput = \"{LAVFI}\"\nprofile = \"{profile}\"\n\n")
}

fn pid(s: &Snapshot, name: &str) -> Option<u32> {
    s.stream(name).and_then(|x| x.pid)
}

fn running(s: &Snapshot, name: &str) -> bool {
    s.stream(name).is_some_and(|x| x.state.label() == "running")
}

/// Media sequence numbers of the segments a playlist lists right now.
fn listed_segments(dir: &Path) -> Vec<u64> {
    std::fs::read_to_string(dir.join("index.m3u8"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("seg-").and_then(|r| r.strip_suffix(".ts")))
        .filter_map(|n| n.parse().ok())
        .collect()
}

async fn wait(
    engine: &Engine,
    within: Duration,
    mut f: impl FnMut(&Snapshot) -> bool,
) -> Option<Instant> {
    let deadline = Instant::now() + within;
    let mut rx = engine.subscribe();
    loop {
        if f(&rx.borrow_and_update()) {
            return Some(Instant::now());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tokio::time::timeout(left, rx.changed()).await.is_err() {
            return None;
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("streams.toml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let head = format!("[server]\nlisten = \"127.0.0.1:{port}\"\n\n");
    let text = |profile: &str| {
        format!(
            "{head}{}{}{}",
            stream("calm1", "stable"),
            stream("calm2", "low-latency"),
            stream("edited", profile)
        )
    };
    std::fs::write(&path, text("stable")).expect("write");
    let config = config::load_file(&path).expect("config");
    let (engine, task) =
        Engine::start(config, EngineOptions { write_back: false }).expect("engine");
    let _watch = onair::reload::watch_config(&path, engine.clone()).expect("watch");
    wait(&engine, Duration::from_secs(20), |s| {
        ["calm1", "calm2", "edited"].iter().all(|n| running(s, n))
    })
    .await
    .expect("streams running");

    // Watch the untouched playlists the whole time, as a screen would.
    let hls = dir.path().join("hls");
    let watcher_hls = hls.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_flag = stop.clone();
    let collector = std::thread::spawn(move || {
        let mut seen: [BTreeSet<u64>; 2] = Default::default();
        while !stop_flag.load(std::sync::atomic::Ordering::Relaxed) {
            for (i, name) in ["calm1", "calm2"].iter().enumerate() {
                seen[i].extend(listed_segments(&watcher_hls.join(name)));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        seen
    });

    let calm_pids = {
        let s = engine.snapshot();
        (pid(&s, "calm1"), pid(&s, "calm2"))
    };
    let mut to_spawn = Vec::new();
    let mut to_running = Vec::new();
    for i in 0..EDITS {
        let profile = if i % 2 == 0 { "low-latency" } else { "stable" };
        let old = pid(&engine.snapshot(), "edited");
        let tmp = dir.path().join(".streams.toml.new");
        std::fs::write(&tmp, text(profile)).expect("write");
        let renamed = Instant::now();
        std::fs::rename(&tmp, &path).expect("rename");
        let spawned = wait(&engine, Duration::from_secs(10), |s| {
            pid(s, "edited").is_some_and(|p| Some(p) != old)
        })
        .await
        .expect("new ffmpeg");
        let up = wait(&engine, Duration::from_secs(10), |s| running(s, "edited"))
            .await
            .expect("running");
        if std::env::var_os("ONAIR_BENCH_DETAIL").is_some() {
            let renamed_ms = onair::engine::now_millis() - renamed.elapsed().as_millis() as u64;
            for e in engine
                .log_since(0)
                .iter()
                .filter(|e| e.at + 5 >= renamed_ms)
            {
                eprintln!(
                    "  +{:>4} ms {} {}",
                    e.at as i64 - renamed_ms as i64,
                    e.stream.as_deref().unwrap_or("-"),
                    e.text
                );
            }
            eprintln!("  seen spawned at +{} ms", (spawned - renamed).as_millis());
        }
        to_spawn.push((spawned - renamed).as_secs_f64() * 1000.0);
        to_running.push((up - renamed).as_secs_f64() * 1000.0);
        // Let it settle like an operator between two saves.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = collector.join().expect("collector");
    let s = engine.snapshot();
    let untouched = (pid(&s, "calm1"), pid(&s, "calm2")) == calm_pids;
    let missing: u64 = seen
        .iter()
        .map(|set| match (set.first(), set.last()) {
            (Some(a), Some(b)) => (b - a + 1) - set.len() as u64,
            _ => 0,
        })
        .sum();
    println!("edits: {EDITS}");
    println!(
        "rename -> new ffmpeg spawned: median {:.0} ms (min {:.0}, max {:.0})",
        median(to_spawn.clone()),
        to_spawn.iter().cloned().fold(f64::MAX, f64::min),
        to_spawn.iter().cloned().fold(0.0, f64::max)
    );
    println!(
        "rename -> new ffmpeg running (first progress): median {:.0} ms",
        median(to_running)
    );
    println!("untouched streams kept their PIDs: {untouched}");
    println!(
        "segments missing from untouched playlists: {missing} (of {} seen)",
        seen.iter().map(|s| s.len()).sum::<usize>()
    );
    engine.send(Command::Shutdown);
    task.wait().await;
}
