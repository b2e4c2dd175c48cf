//! The show goes on: when a stream's source dies, its outputs carry the
//! slate and stay connected, and live comes back by itself. Real FFmpeg,
//! real nginx-rtmp as the venue's hub and as the platform, a real headless
//! Chromium screen.
//!
//! Needs ffmpeg, nginx with Debian's libnginx-mod-rtmp, chromium and
//! chromium-driver; a test fails with what to install when they are missing.

#[path = "support/chromium.rs"]
mod chromium;
mod common;
#[path = "support/rtmp_hub.rs"]
mod rtmp_hub;

use chromium::{Onair, open_browser};
use common::*;
use fantoccini::Client;
use onair::engine::{Command, Engine, EngineOptions, Snapshot, StreamState};
use rtmp_hub::{Feed, Nginx, Viewer, probe};
use std::path::Path;
use std::time::{Duration, Instant};

/// The outage of the long test: the issue's 20 s.
const OUTAGE: Duration = Duration::from_secs(20);

fn state(s: &Snapshot, name: &str) -> &'static str {
    s.stream(name).map_or("", |r| r.state.label())
}

fn on_air(s: &Snapshot, name: &str) -> String {
    s.stream(name)
        .and_then(|r| r.fallback.as_ref())
        .map(|f| f.on_air.clone())
        .unwrap_or_default()
}

/// The PID of a row's output FFmpeg (the process its outputs hang on).
fn output_pid(s: &Snapshot, name: &str) -> Option<u32> {
    s.stream(name)?
        .processes
        .iter()
        .find(|p| p.role == onair::engine::ProcessRole::Output)
        .and_then(|p| p.pid)
}

/// The PID of a stream's ingest FFmpeg (the one reading the source).
fn ingest_pid(s: &Snapshot, name: &str) -> Option<u32> {
    s.stream(name)?
        .processes
        .iter()
        .find(|p| p.role == onair::engine::ProcessRole::Ingest)
        .and_then(|p| p.pid)
}

/// The highest segment number in a stream's playlist.
fn last_segment(dir: &Path) -> Option<u64> {
    let playlist = std::fs::read_to_string(dir.join("index.m3u8")).ok()?;
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("seg-")?.strip_suffix(".ts")?.parse().ok())
        .max()
}

/// What ffprobe finds on the platform, as `codec=...` lines.
fn platform_streams(url: &str, when: &str) -> String {
    let found = probe(url, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{when}: the platform has no program: {e}"));
    assert!(
        found.contains("codec_name=h264") && found.contains("width=320|height=180"),
        "{when}: no 320x180 H.264 on the platform: {found}"
    );
    assert!(found.contains("codec_name=aac"), "{when}: no AAC: {found}");
    found
}

/// Publish sessions nginx counted for `name`.
fn publishes(nginx: &Nginx, name: &str) -> usize {
    nginx
        .error_log()
        .matches(&format!("publish: name='{name}'"))
        .count()
}

/// The player's state (`window.onair.state`), the video's time and
/// paused flag, and a fatal error if any.
async fn player(client: &Client) -> serde_json::Value {
    const SCRIPT: &str = r#"
        const o = window.onair || {};
        const v = document.getElementById('onair-video');
        return { state: o.state || null, time: v ? v.currentTime : null,
                 paused: v ? v.paused : null, fatal: o.lastFatal || null };
    "#;
    client
        .execute(SCRIPT, vec![])
        .await
        .unwrap_or_else(|e| panic!("cannot read the player's state: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_source_is_covered_by_the_slate_and_no_output_ever_drops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hub = Nginx::start(dir.path(), "hub");
    let platform = Nginx::start(dir.path(), "platform");
    let feed = Feed::publish(&hub.url("program"));
    // Copy mode all through: the source's H.264 and AAC are never re-encoded.
    let onair = Onair::start(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nstall_timeout = 4\n\n\
         [[stream]]\nname = \"screen\"\ninput = \"{hub}\"\nprofile = \"low-latency\"\nvideo = \"copy\"\naudio = \"copy\"\n\n\
         [[stream]]\nname = \"program\"\ninput = \"{hub}\"\nvideo = \"copy\"\naudio = \"copy\"\noutput = \"{platform}\"\n\n\
         [[screen]]\nname = \"foyer\"\nstream = \"screen\"\n",
        hub = hub.url("program"),
        platform = platform.url("show"),
    ))
    .await;
    let engine = &onair.engine;
    let before = wait_for(engine, Duration::from_secs(40), "both on the air", |s| {
        ["screen", "program"]
            .iter()
            .all(|n| state(s, n) == "running" && on_air(s, n) == "live")
    })
    .await;
    let outputs = [
        output_pid(&before, "screen").expect("screen's output"),
        output_pid(&before, "program").expect("program's output"),
    ];
    // The slate may already have stood in while the source was being opened.
    let fallbacks = |s: &Snapshot, name: &str| {
        s.stream(name)
            .and_then(|r| r.fallback.as_ref())
            .map_or(0, |f| f.fallbacks)
    };
    let fallbacks_before = [fallbacks(&before, "screen"), fallbacks(&before, "program")];
    let show = platform.url("show");
    let probed_before = platform_streams(&show, "before the outage");

    let (_driver, browser) = open_browser().await;
    browser
        .goto(&onair.url("/screen/foyer"))
        .await
        .expect("open the screen");
    wait_player(&browser, "the screen plays", |p| {
        p["state"] == "playing" && p["time"].as_f64().unwrap_or(0.0) > 0.5
    })
    .await;
    let mut viewer = Viewer::watch(&show);
    assert!(
        viewer.wait_flowing(Duration::from_secs(15)),
        "a viewer of the platform gets the show"
    );

    // The encoder dies for 20 s.
    let start_time = player(&browser).await["time"].as_f64().unwrap_or(0.0);
    drop(feed);
    let died = Instant::now();
    let lost = wait_for(engine, Duration::from_secs(20), "the slate on both", |s| {
        ["screen", "program"]
            .iter()
            .all(|n| state(s, n) == "fallback" && on_air(s, n) == "slate")
    })
    .await;
    eprintln!(
        "slate on the air {:?} after the encoder died",
        died.elapsed()
    );
    let StreamState::Fallback { forced, .. } = &lost.stream("program").expect("row").state else {
        unreachable!("waited for fallback")
    };
    assert!(!forced);
    // Its reason is the source's own error, once the ingest has said it.
    let said = wait_for(engine, Duration::from_secs(10), "the source's error", |s| {
        matches!(
            &s.stream("program").map(|r| &r.state),
            Some(StreamState::Fallback { reason, .. })
                if reason.starts_with("source: ") && reason.contains("No such stream")
        )
    })
    .await;
    assert_eq!(state(&said, "program"), "fallback");

    // The operator's HTTP views say it too.
    let metrics = onair.get_text("/metrics").await;
    assert!(
        metrics.contains("onair_stream_state{stream=\"program\",state=\"fallback\"} 1")
            && metrics.contains(&format!(
                "onair_stream_fallbacks_total{{stream=\"program\"}} {}",
                fallbacks_before[1] + 1
            ))
            && metrics.contains("onair_stream_slate_seconds{stream=\"program\"} "),
        "{metrics}"
    );
    let api: serde_json::Value =
        serde_json::from_str(&onair.get_text("/api/streams").await).expect("JSON");
    let row = api["streams"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "program"))
        .unwrap_or_else(|| panic!("no program row: {api}"));
    assert_eq!(row["state"], "fallback", "{row}");
    assert_eq!(row["forced"], false, "{row}");
    assert_eq!(row["fallback"]["on_air"], "slate", "{row}");
    let roles: Vec<&str> = row["processes"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["role"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        roles.contains(&"ingest") && roles.contains(&"output"),
        "{row}"
    );

    let hls = onair.dir.path().join("hls").join("screen");
    let mut segments = vec![(died.elapsed(), last_segment(&hls))];
    let mut probed_during = None;
    while died.elapsed() < OUTAGE {
        tokio::time::sleep(Duration::from_secs(1)).await;
        segments.push((died.elapsed(), last_segment(&hls)));
        if probed_during.is_none() && died.elapsed() > Duration::from_secs(6) {
            probed_during = Some(platform_streams(&show, "during the outage"));
        }
    }
    let seen = player(&browser).await;
    // The playlist gained segments all along: no 6 s without a new one.
    let mut last_new = (Duration::ZERO, segments[0].1);
    for (at, number) in &segments {
        if number > &last_new.1 {
            last_new = (*at, *number);
        }
        assert!(
            *at - last_new.0 < Duration::from_secs(6),
            "no new segment for 6 s during the outage: {segments:?}"
        );
    }
    // The screen kept playing the slate: its picture moved on through the
    // outage (a loaded machine may make the browser itself stall for a
    // moment, which the player reports as lost until it plays again).
    let played = seen["time"].as_f64().unwrap_or(0.0) - start_time;
    assert!(
        played > 10.0 && seen["fatal"].is_null(),
        "the screen stopped during the outage ({played:.1} s played): {seen}"
    );
    let (gap, at) = viewer.longest_gap_since(died);
    assert!(
        gap < Duration::from_secs(10),
        "the platform's viewer got nothing for {gap:?} from +{at:?}"
    );

    // The encoder is back: live returns by itself, on the same outputs.
    let _feed = Feed::publish(&hub.url("program"));
    let back = Instant::now();
    let after = wait_for(engine, Duration::from_secs(30), "live on both again", |s| {
        ["screen", "program"]
            .iter()
            .all(|n| state(s, n) == "running" && on_air(s, n) == "live")
    })
    .await;
    eprintln!("live again {:?} after the encoder returned", back.elapsed());
    let probed_after = platform_streams(&show, "after the outage");
    assert_eq!(
        [
            output_pid(&after, "screen").expect("pid"),
            output_pid(&after, "program").expect("pid")
        ],
        outputs,
        "an output FFmpeg was restarted"
    );
    for (name, before) in ["screen", "program"].into_iter().zip(fallbacks_before) {
        let f = after
            .stream(name)
            .and_then(|r| r.fallback.clone())
            .expect("fallback");
        let log: Vec<String> = engine
            .log_since(0)
            .iter()
            .filter(|e| e.stream.as_deref() == Some(name))
            .map(|e| e.text.clone())
            .collect();
        assert_eq!(
            f.fallbacks,
            before + 1,
            "{name}: one fallback for the outage: {f:?}\n{log:#?}"
        );
        assert!(f.slate_seconds_total > 5.0, "{name}: {f:?}");
        // The operator's log tells the story.
        assert!(
            log.iter()
                .any(|l| l.starts_with("fallback: slate on the air, the outputs stay up ("))
                && log
                    .iter()
                    .any(|l| l.starts_with("live again on a keyframe after ")),
            "{name}: {log:#?}"
        );
    }
    assert_eq!(
        publishes(&platform, "show"),
        1,
        "one publish session from start to end"
    );
    assert!(viewer.is_connected(), "the platform's viewer was dropped");
    eprintln!("platform before: {probed_before}during: {probed_during:?}\nafter: {probed_after}");
    let player = wait_player(&browser, "the screen plays live", |p| {
        p["state"] == "playing"
    })
    .await;
    assert!(player["fatal"].is_null(), "{player}");
    onair.stop().await;
}

async fn wait_player(
    browser: &Client,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let seen = player(browser).await;
        if check(&seen) {
            return seen;
        }
        if Instant::now() > deadline {
            let all = chromium::player_state(browser).await;
            panic!("{what}: {seen}\nthe player: {all}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The mean colour of the first picture of the newest segment.
fn newest_picture_colour(dir: &Path) -> Option<[u8; 3]> {
    let segment = format!("seg-{}.ts", last_segment(dir)?);
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(dir.join(segment))
        .args(["-frames:v", "1", "-vf", "scale=1:1:flags=area,format=rgb24"])
        .args(["-f", "rawvideo", "-"])
        .output()
        .ok()?;
    out.stdout.get(..3).map(|c| [c[0], c[1], c[2]])
}

/// The built-in card is dark blue; the test pattern is not.
fn is_card([r, g, b]: [u8; 3]) -> bool {
    r < 60 && g < 70 && b > r.saturating_add(25)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bumper_or_a_frozen_source_puts_the_slate_on_and_live_comes_back() {
    let config = TempConfig::new(&config_text(&lavfi_stream("cam", "low-latency", true)));
    let (engine, task) =
        Engine::start(config.load(), EngineOptions { write_back: false }).expect("engine starts");
    let live = wait_for(
        &engine,
        Duration::from_secs(40),
        "live, with a slate ready",
        |s| {
            state(s, "cam") == "running"
                && s.stream("cam")
                    .and_then(|r| r.fallback.as_ref())
                    .is_some_and(|f| f.clip.contains("loop"))
        },
    )
    .await;
    let output = output_pid(&live, "cam");
    let dir = config.hls("cam");
    let colour = newest_picture_colour(&dir).expect("a live segment");
    assert!(!is_card(colour), "live looks like the card: {colour:?}");

    engine.send(Command::Bumper {
        stream: "cam".into(),
        on: true,
    });
    let held = wait_for(&engine, Duration::from_secs(10), "the slate by hand", |s| {
        matches!(
            s.stream("cam").map(|r| &r.state),
            Some(StreamState::Fallback { forced: true, .. })
        )
    })
    .await;
    assert_eq!(
        held.stream("cam")
            .and_then(|r| r.fallback.as_ref())
            .map(|f| f.fallbacks),
        Some(0)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while !newest_picture_colour(&dir).is_some_and(is_card) {
        assert!(
            Instant::now() < deadline,
            "the card never reached the segments"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    engine.send(Command::Bumper {
        stream: "cam".into(),
        on: false,
    });
    let back = wait_for(&engine, Duration::from_secs(10), "live again", |s| {
        state(s, "cam") == "running" && on_air(s, "cam") == "live"
    })
    .await;
    assert_eq!(output_pid(&back, "cam"), output, "the output was restarted");
    let deadline = Instant::now() + Duration::from_secs(15);
    while newest_picture_colour(&dir).is_none_or(is_card) {
        assert!(
            Instant::now() < deadline,
            "live never came back to the segments"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // A source that freezes (its ingest stops making progress) is lost too:
    // the slate stands in until the watchdog's new ingest delivers.
    let ingest = ingest_pid(&back, "cam").expect("the ingest's pid");
    kill(ingest, libc::SIGSTOP);
    let frozen = wait_for(
        &engine,
        Duration::from_secs(20),
        "the slate for a frozen source",
        |s| state(s, "cam") == "fallback" && on_air(s, "cam") == "slate",
    )
    .await;
    assert!(
        matches!(
            frozen.stream("cam").map(|r| &r.state),
            Some(StreamState::Fallback { forced: false, .. })
        ),
        "{:?}",
        frozen.stream("cam")
    );
    let again = wait_for(
        &engine,
        Duration::from_secs(40),
        "live from a new ingest",
        |s| {
            state(s, "cam") == "running"
                && on_air(s, "cam") == "live"
                && ingest_pid(s, "cam").is_some_and(|p| p != ingest)
        },
    )
    .await;
    assert_eq!(
        output_pid(&again, "cam"),
        output,
        "the output was restarted"
    );
    assert!(!alive(ingest), "the frozen ingest was not killed");
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_fallback_the_outputs_stop_with_the_source() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hub = Nginx::start(dir.path(), "hub");
    let platform = Nginx::start(dir.path(), "platform");
    let feed = Feed::publish(&hub.url("program"));
    let config = TempConfig::new(&config_text(&format!(
        "[[stream]]\nname = \"program\"\ninput = \"{}\"\naudio = \"copy\"\noutput = \"{}\"\nfallback = false\n",
        hub.url("program"),
        platform.url("show"),
    )));
    let (engine, task) =
        Engine::start(config.load(), EngineOptions { write_back: false }).expect("engine starts");
    let running = wait_for(&engine, Duration::from_secs(30), "running", |s| {
        state(s, "program") == "running"
    })
    .await;
    let row = running.stream("program").expect("row");
    assert_eq!(row.processes.len(), 1, "one FFmpeg from source to platform");
    assert!(row.fallback.is_none());
    let mut viewer = Viewer::watch(&platform.url("show"));
    assert!(viewer.wait_flowing(Duration::from_secs(15)));

    drop(feed);
    wait_for(
        &engine,
        Duration::from_secs(20),
        "retrying, not on a slate",
        |s| state(s, "program") == "retrying",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while viewer.is_connected() {
        assert!(
            Instant::now() < deadline,
            "the platform kept the show without a source"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.send(Command::Bumper {
        stream: "program".into(),
        on: true,
    });
    let refused = wait_for(
        &engine,
        Duration::from_secs(5),
        "the bumper refused",
        |_| {
            engine
                .log_since(0)
                .iter()
                .any(|e| e.text.contains("the bumper needs `fallback = true`"))
        },
    )
    .await;
    assert_ne!(state(&refused, "program"), "fallback");
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[test]
fn a_slate_that_is_not_a_file_is_refused_at_its_place() {
    let config = TempConfig::new(
        "[server]\nslate = \"missing.png\"\n\n[[stream]]\nname = \"cam\"\ninput = \"rtmp://127.0.0.1/live/cam\"\nslate = \"nowhere.mp4\"\n",
    );
    let error = onair::config::load_file(&config.path)
        .expect_err("missing slates are refused")
        .to_string();
    let path = config.path.display();
    assert!(
        error.contains(&format!("{path}:2:9: slate `missing.png` is not a file")),
        "{error}"
    );
    assert!(
        error.contains(&format!("{path}:7:9: slate `nowhere.mp4` is not a file")),
        "{error}"
    );

    std::fs::write(config.dir.path().join("break.png"), b"png").expect("write");
    std::fs::write(
        &config.path,
        "[server]\nslate = \"break.png\"\n\n[[stream]]\nname = \"cam\"\ninput = \"rtmp://127.0.0.1/live/cam\"\n\n[[stream]]\nname = \"off\"\ninput = \"rtmp://127.0.0.1/live/off\"\nfallback = false\n",
    )
    .expect("write");
    let loaded = onair::config::load_file(&config.path).expect("valid");
    assert_eq!(
        loaded.streams[0].slate,
        Some(config.dir.path().join("break.png"))
    );
    assert!(loaded.streams[0].fallback);
    assert!(!loaded.streams[1].fallback);
}

/// Writes a one-colour picture or video file with FFmpeg.
fn colour_file(path: &Path, colour: &str, video: bool) {
    let mut ffmpeg = std::process::Command::new("ffmpeg");
    ffmpeg.args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]);
    if video {
        ffmpeg.args(["-i", &format!("color=c={colour}:s=160x90:r=10:d=1")]);
        ffmpeg.args(["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    } else {
        ffmpeg.args(["-i", &format!("color=c={colour}:s=160x90")]);
        ffmpeg.args(["-frames:v", "1"]);
    }
    let status = ffmpeg.arg(path).status().expect("run ffmpeg");
    assert!(status.success(), "cannot write {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_or_a_video_file_is_the_slate_when_configured() {
    let config = TempConfig::new("");
    colour_file(&config.dir.path().join("red.png"), "red", false);
    colour_file(&config.dir.path().join("green.mp4"), "green", true);
    std::fs::write(
        &config.path,
        config_text(&format!(
            "{}slate = \"red.png\"\n\n{}slate = \"green.mp4\"\n",
            lavfi_stream("picture", "low-latency", true),
            lavfi_stream("video", "low-latency", true)
        )),
    )
    .expect("write config");
    let (engine, task) =
        Engine::start(config.load(), EngineOptions { write_back: false }).expect("engine starts");
    wait_for(
        &engine,
        Duration::from_secs(60),
        "live, with both slates ready",
        |s| {
            ["picture", "video"].iter().all(|n| {
                state(s, n) == "running"
                    && s.stream(n)
                        .and_then(|r| r.fallback.as_ref())
                        .is_some_and(|f| f.clip.contains("loop"))
            })
        },
    )
    .await;
    for stream in ["picture", "video"] {
        engine.send(Command::Bumper {
            stream: stream.into(),
            on: true,
        });
    }
    let red = |[r, g, b]: [u8; 3]| r > 180 && g < 60 && b < 60;
    let green = |[r, g, b]: [u8; 3]| g > 90 && r < 60 && b < 60;
    for (stream, looks_right) in [
        ("picture", &red as &dyn Fn([u8; 3]) -> bool),
        ("video", &green),
    ] {
        let dir = config.hls(stream);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let colour = newest_picture_colour(&dir);
            if colour.is_some_and(looks_right) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{stream}: its slate never reached the segments (last colour {colour:?})"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    engine.send(Command::Shutdown);
    task.wait().await;
}
