//! Every input kind and every output kind, on both profiles, run for real:
//! the argv onair builds must make a real FFmpeg produce a real output.

mod common;

use common::*;
use onair::engine::Command;
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Helper FFmpeg processes (sources and receivers), killed when the test
/// ends. A source is started again whenever it ends: a listening source
/// (SRT, RTMP `-listen 1`) serves one caller and then exits, and a caller
/// that onair restarted (a stall on a loaded machine, before the streams
/// settle) must find it listening again.
struct Peers {
    receivers: Vec<Child>,
    sources: Vec<std::thread::JoinHandle<()>>,
    running: Arc<Mutex<Vec<Child>>>,
    stop: Arc<AtomicBool>,
}

fn ffmpeg_peer(args: &[String]) -> Child {
    Process::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg runs")
}

impl Peers {
    fn new() -> Peers {
        Peers {
            receivers: Vec::new(),
            sources: Vec::new(),
            running: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    fn spawn(&mut self, args: &[&str]) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        self.receivers.push(ffmpeg_peer(&args));
    }

    /// A source that loops `file` in real time into `url` (`format` muxer,
    /// then any extra output options such as `-listen 1`), started again
    /// whenever it ends.
    fn feed(&mut self, file: &str, format: &str, extra: &[&str], url: &str) {
        let mut args: Vec<String> = [
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            file,
            "-c",
            "copy",
            "-f",
            format,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.extend(extra.iter().map(|a| a.to_string()));
        args.push(url.to_string());
        let (running, stop) = (Arc::clone(&self.running), Arc::clone(&self.stop));
        self.sources.push(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let pid = {
                    let mut running = running.lock().expect("peers");
                    // Checked under the lock that `drop` takes first: a
                    // source is never started after the test ended.
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let child = ffmpeg_peer(&args);
                    let pid = child.id();
                    running.push(child);
                    pid
                };
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    let mut running = running.lock().expect("peers");
                    let Some(at) = running.iter().position(|c| c.id() == pid) else {
                        return;
                    };
                    if !matches!(running[at].try_wait(), Ok(None)) {
                        // Reaped already; `wait` returns its status.
                        let _ = running.remove(at).wait();
                        break;
                    }
                }
            }
        }));
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            self.stop.store(true, Ordering::SeqCst);
            for child in running.iter_mut().chain(&mut self.receivers) {
                let _ = child.kill();
                let _ = child.wait();
            }
            running.clear();
        }
        for source in self.sources.drain(..) {
            let _ = source.join();
        }
    }
}

/// A 4 s H.264 + AAC file with a keyframe every 7 frames (0.47 s), so that
/// `auto` copies it on both profiles (low latency cuts 0.5 s segments).
fn make_source(path: &Path) {
    let status = Process::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "7",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-f", "mpegts"])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "could not make the source file");
}

/// What ffprobe sees in a file: the codec of its first video stream.
fn video_codec(path: &Path) -> Option<String> {
    let out = Process::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()?;
    // MPEG-TS lists the stream under its program too: the first line is enough.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free udp port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_input_and_output_kind_works_on_both_profiles() {
    let work = tempfile::tempdir().expect("dir");
    let source = work.path().join("source.ts");
    make_source(&source);
    let source = source.display().to_string();
    let mut peers = Peers::new();
    let mut streams = String::new();
    let mut hls_names = Vec::new();
    let mut pushed = Vec::new();

    for (tag, profile) in [("ll", "low-latency"), ("st", "stable")] {
        let mut add = |name: String, input: String, output: String, extra: &str| {
            streams.push_str(&format!(
                "[[stream]]\nname = \"{name}\"\ninput = \"{input}\"\noutput = \"{output}\"\nprofile = \"{profile}\"\n{extra}\n"
            ));
            name
        };
        hls_names.push(add(
            format!("lavfi-{tag}"),
            LAVFI.to_string(),
            "hls".into(),
            "",
        ));
        hls_names.push(add(
            format!("file-{tag}"),
            source.clone(),
            "hls".into(),
            "loop = true\n",
        ));

        let port = udp_port();
        peers.feed(
            &source,
            "mpegts",
            &[],
            &format!("udp://127.0.0.1:{port}?pkt_size=1316"),
        );
        hls_names.push(add(
            format!("udp-{tag}"),
            format!("udp://127.0.0.1:{port}"),
            "hls".into(),
            "",
        ));

        let port = free_port();
        peers.feed(
            &source,
            "mpegts",
            &[],
            &format!("srt://127.0.0.1:{port}?mode=listener"),
        );
        hls_names.push(add(
            format!("srt-{tag}"),
            format!("srt://127.0.0.1:{port}?mode=caller"),
            "hls".into(),
            "",
        ));

        let port = free_port();
        peers.feed(
            &source,
            "flv",
            &["-listen", "1"],
            &format!("rtmp://127.0.0.1:{port}/live/feed"),
        );
        hls_names.push(add(
            format!("rtmp-{tag}"),
            format!("rtmp://127.0.0.1:{port}/live/feed"),
            "hls".into(),
            "",
        ));

        let port = free_port();
        let received = work.path().join(format!("rtmp-out-{tag}.flv"));
        peers.spawn(&[
            "-listen",
            "1",
            "-i",
            &format!("rtmp://127.0.0.1:{port}/live/key"),
            "-c",
            "copy",
            "-f",
            "flv",
            &received.display().to_string(),
        ]);
        pushed.push((
            add(
                format!("push-rtmp-{tag}"),
                LAVFI.to_string(),
                format!("rtmp://127.0.0.1:{port}/live/key"),
                "",
            ),
            received,
        ));

        let port = free_port();
        let received = work.path().join(format!("srt-out-{tag}.ts"));
        peers.spawn(&[
            "-i",
            &format!("srt://127.0.0.1:{port}?mode=listener"),
            "-c",
            "copy",
            "-f",
            "mpegts",
            &received.display().to_string(),
        ]);
        pushed.push((
            add(
                format!("push-srt-{tag}"),
                source.clone(),
                format!("srt://127.0.0.1:{port}?mode=caller"),
                "loop = true\n",
            ),
            received,
        ));
    }

    let config = TempConfig::new(&config_text(&streams));
    let (engine, task) = start(&config);
    let all: Vec<String> = hls_names
        .iter()
        .chain(pushed.iter().map(|(n, _)| n))
        .cloned()
        .collect();
    // Peers and onair start together, so a first connection may be refused
    // and retried; from here on nothing may restart. A dozen FFmpeg starting
    // at once on a loaded 2-core machine can take a while: the bound is wide.
    let settled = wait_for(
        &engine,
        Duration::from_secs(90),
        "every stream running",
        |s| all.iter().all(|n| is_running(s, n)),
    )
    .await;
    for name in &hls_names {
        let dir = config.hls(name);
        wait_until(
            Duration::from_secs(40),
            &format!("a live playlist for {name}"),
            || playlist_is_live(&dir),
        )
        .await;
    }
    for (name, received) in &pushed {
        wait_until(
            Duration::from_secs(40),
            &format!("{name} to reach its receiver"),
            || std::fs::metadata(received).is_ok_and(|m| m.len() > 20_000),
        )
        .await;
        assert_eq!(
            video_codec(received).as_deref(),
            Some("h264"),
            "{name}: {}",
            received.display()
        );
    }
    let snapshot = engine.snapshot();
    for name in &all {
        assert_eq!(
            stream(&snapshot, name).restarts,
            stream(&settled, name).restarts,
            "{name} restarted: {:?}",
            stream(&snapshot, name).last_error
        );
    }
    engine.send(Command::Shutdown);
    task.wait().await;
}
