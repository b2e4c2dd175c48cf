//! What the audience gets, measured for real: FFmpeg sources with known
//! content (a tone at a known level, digital silence that ends, a black
//! picture, a looped still picture, a normal test card with a tone), and
//! the `on_alarm` program that hears about alarms and failures.

mod common;

use common::{TempConfig, config_text, free_port};
use onair::engine::{AlarmKind, Command, Engine, EngineOptions, Snapshot, StreamSnapshot};
use std::path::Path;
use std::time::{Duration, Instant};

/// A tone of amplitude 0.1 on both channels: peak -20 dBFS, RMS -23 dBFS.
const TONE: &str = "aevalsrc=0.1*sin(2*PI*1000*t)|0.1*sin(2*PI*1000*t):s=48000";
/// Frames per second of the synthetic pictures (media time = frames / FPS).
const FPS: f64 = 15.0;
/// Media seconds of digital silence before the tone starts on `quiet`.
const SILENCE_SECS: f64 = 12.0;

fn lavfi(video: &str, audio: &str) -> String {
    format!("lavfi:{video}[out0];{audio}[out1]")
}

/// Media time of a stream's output, from its frame count.
fn media_secs(stream: &StreamSnapshot) -> f64 {
    stream.frames.unwrap_or(0) as f64 / FPS
}

fn has(stream: &StreamSnapshot, kind: AlarmKind) -> bool {
    stream.alarms.iter().any(|a| a.kind == kind)
}

/// A still picture with a tone, 4 s of H.264 with a key frame every
/// second, for a looped file input (copied: only key frames are decoded).
fn still_clip(dir: &Path) -> std::path::PathBuf {
    let png = dir.join("still.png");
    let clip = dir.join("still.ts");
    let run = |args: &[&str]| {
        let status = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .status()
            .expect("ffmpeg runs");
        assert!(status.success(), "ffmpeg {args:?}");
    };
    run(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=15",
        "-frames:v",
        "1",
        &png.display().to_string(),
    ]);
    run(&[
        "-loop",
        "1",
        "-framerate",
        "15",
        "-i",
        &png.display().to_string(),
        "-f",
        "lavfi",
        "-i",
        TONE,
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "15",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-f",
        "mpegts",
        &clip.display().to_string(),
    ]);
    clip
}

/// What the long test has seen so far.
#[derive(Debug, Default)]
struct Seen {
    tone_levels_checked: bool,
    tone_alarm: Option<String>,
    quiet_raised_at: Option<f64>,
    quiet_cleared_at: Option<f64>,
    dark_black: bool,
    dark_frozen: bool,
    still_frozen: bool,
    still_black: bool,
}

impl Seen {
    fn take(&mut self, snapshot: &Snapshot) {
        let stream = |name: &str| {
            snapshot
                .stream(name)
                .unwrap_or_else(|| panic!("{name} is in the snapshot"))
        };
        let tone = stream("tone");
        if let Some(alarm) = tone.alarms.first() {
            self.tone_alarm.get_or_insert(format!(
                "{}: {} at {:.1} s",
                alarm.kind,
                alarm.detail,
                media_secs(tone)
            ));
        }
        if let Some(levels) = tone.audio.as_ref().filter(|_| media_secs(tone) > 2.0) {
            assert_eq!(levels.channels.len(), 2, "stereo: {levels:?}");
            for channel in &levels.channels {
                assert!(
                    (channel.peak_dbfs + 20.0).abs() <= 2.0,
                    "peak of a -20 dBFS tone: {levels:?}"
                );
                assert!(
                    (channel.rms_dbfs + 23.0).abs() <= 2.0,
                    "RMS of a -20 dBFS tone: {levels:?}"
                );
            }
            self.tone_levels_checked = true;
        }
        let quiet = stream("quiet");
        let silent = has(quiet, AlarmKind::Silent);
        if silent && self.quiet_raised_at.is_none() {
            self.quiet_raised_at = Some(media_secs(quiet));
        }
        if !silent && self.quiet_raised_at.is_some() && self.quiet_cleared_at.is_none() {
            self.quiet_cleared_at = Some(media_secs(quiet));
        }
        let dark = stream("dark");
        self.dark_black |= has(dark, AlarmKind::Black);
        self.dark_frozen |= has(dark, AlarmKind::Frozen);
        let still = stream("still");
        self.still_frozen |= has(still, AlarmKind::Frozen);
        self.still_black |= has(still, AlarmKind::Black);
    }

    fn done(&self, tone_media: f64) -> bool {
        tone_media >= 60.0
            && self.tone_levels_checked
            && self.quiet_cleared_at.is_some()
            && self.dark_black
            && self.still_frozen
    }
}

/// One engine, four sources with known content, watched for 60 s of the
/// normal stream's media time (the longest test; it runs beside the others).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_follow_what_each_source_shows_and_a_normal_stream_raises_none_in_60_s() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = still_clip(dir.path());
    let card = "testsrc2=size=320x180:rate=15";
    let silence_then_tone = format!(
        "anullsrc=r=48000:cl=stereo:d={SILENCE_SECS}[silence];{TONE}[tone];[silence][tone]concat=n=2:v=0:a=1"
    );
    let streams = format!(
        "[[stream]]\nname = \"tone\"\ninput = \"{}\"\n\n\
         [[stream]]\nname = \"quiet\"\ninput = \"{}\"\nprofile = \"low-latency\"\n\n\
         [[stream]]\nname = \"dark\"\ninput = \"{}\"\n\n\
         [[stream]]\nname = \"still\"\ninput = \"{}\"\nloop = true\n",
        lavfi(card, TONE),
        lavfi(card, &silence_then_tone),
        lavfi("color=black:size=320x180:rate=15", TONE),
        clip.display()
    );
    let config = TempConfig::new(&config_text(&streams));
    let (engine, task) =
        Engine::start(config.load(), EngineOptions { write_back: false }).expect("engine starts");

    let mut seen = Seen::default();
    let mut snapshots = engine.subscribe();
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        if snapshot.seq > 0 {
            seen.take(&snapshot);
            let tone_media = snapshot.stream("tone").map_or(0.0, media_secs);
            if seen.done(tone_media) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "after 150 s, the tone stream is at {tone_media:.1} s of media; seen {seen:#?}\n{}",
                common::describe(&snapshot)
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), snapshots.changed()).await;
    }
    // Alarms only inform: whatever restarted did so for a stall of a
    // loaded machine, never for what the picture or the sound showed.
    let last = engine.snapshot();
    engine.send(Command::Shutdown);
    task.wait().await;
    for stream in &last.streams {
        assert_eq!(
            stream.restarts, stream.stalls,
            "{} restarted without stalling: {:?}",
            stream.name, stream.last_error
        );
    }

    assert_eq!(seen.tone_alarm, None, "a normal stream raised an alarm");
    let raised = seen.quiet_raised_at.expect("silent was raised");
    assert!(
        raised <= 7.0,
        "silent was raised {raised:.1} s into the silence (at most 7)"
    );
    let cleared = seen.quiet_cleared_at.expect("silent was cleared");
    assert!(
        cleared <= SILENCE_SECS + 2.0,
        "silent cleared at {cleared:.1} s, sound came back at {SILENCE_SECS} s"
    );
    assert!(
        !seen.dark_frozen,
        "a black picture raises black, not frozen too"
    );
    assert!(!seen.still_black, "a still test card is not black");
}

/// An `on_alarm` script that records what it is told, and how runs overlap.
fn recorder(dir: &Path, pause_secs: f64) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("page-me");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             echo \"begin $(date +%s%N) $ONAIR_STREAM|$ONAIR_EVENT|$ONAIR_DETAIL\" >> \"$0.log\"\n\
             cat >> \"$0.json\"\n\
             sleep {pause_secs}\n\
             echo \"end $(date +%s%N) $ONAIR_STREAM|$ONAIR_EVENT\" >> \"$0.log\"\n"
        ),
    )
    .expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alarm_program_hears_failures_and_each_alarm_start_and_end_one_run_at_a_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = recorder(dir.path(), 0.5);
    // Black for the first 6 s of media, then a moving test card.
    let flash = "testsrc2=size=320x180:rate=15,drawbox=c=black:t=fill:enable='lt(t,6)'";
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\non_alarm = [\"{}\"]\n\n\
         [[stream]]\nname = \"flash\"\ninput = \"lavfi:{flash}\"\naudio = \"none\"\nblack_after = 1\n\n\
         [[stream]]\nname = \"broken\"\ninput = \"lavfi:testsrc2\"\ninput_args = [\"-no_such_option\", \"1\"]\n",
        free_port(),
        script.display()
    );
    let config = TempConfig::new(&text);
    let (engine, task) =
        Engine::start(config.load(), EngineOptions { write_back: false }).expect("engine starts");
    let log = dir.path().join("page-me.log");
    common::wait_until(
        Duration::from_secs(40),
        "black's start and end, heard",
        || {
            let log = lines(&log);
            log.iter()
                .any(|l| l.starts_with("end ") && l.contains("flash|black_end"))
                && log
                    .iter()
                    .any(|l| l.starts_with("end ") && l.contains("broken|failed"))
        },
    )
    .await;
    engine.send(Command::Shutdown);
    task.wait().await;

    let log = lines(&log);
    let begins: Vec<&String> = log.iter().filter(|l| l.starts_with("begin ")).collect();
    let said = |event: &str| {
        begins
            .iter()
            .find(|l| l.contains(&format!("|{event}|")))
            .unwrap_or_else(|| panic!("no `{event}` in {log:#?}"))
            .split_once(' ')
            .and_then(|(_, rest)| rest.split_once(' '))
            .map(|(_, what)| what.to_string())
            .unwrap_or_default()
    };
    assert_eq!(said("black"), "flash|black|picture black for 1 s");
    assert!(
        said("black_end").starts_with("flash|black_end|the picture is back after "),
        "{log:#?}"
    );
    assert!(
        said("failed").contains("broken|failed|") && said("failed").contains("no_such_option"),
        "{log:#?}"
    );
    // The same on stdin, as JSON.
    let json = std::fs::read_to_string(dir.path().join("page-me.json")).expect("json");
    let events: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(events.iter().any(|e| e["stream"] == "flash"
        && e["event"] == "black"
        && e["detail"] == "picture black for 1 s"));
    // One run at a time per stream: each run of `flash` ends before the next begins.
    let mut running = false;
    for line in log.iter().filter(|l| l.contains(" flash|")) {
        let begins = line.starts_with("begin ");
        assert_ne!(begins, running, "runs overlap: {log:#?}");
        running = begins;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_alarm_program_is_killed_after_ten_seconds() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("hang");
    std::fs::write(&script, "#!/bin/sh\necho $$ > \"$0.pid\"\nexec sleep 600\n").expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\non_alarm = [\"{}\"]\n\n\
         [[stream]]\nname = \"dark\"\ninput = \"lavfi:color=black:size=320x180:rate=15\"\naudio = \"none\"\nblack_after = 1\n",
        free_port(),
        script.display()
    );
    let config = TempConfig::new(&text);
    let (engine, task) =
        Engine::start(config.load(), EngineOptions { write_back: false }).expect("engine starts");
    let pid_file = dir.path().join("hang.pid");
    common::wait_until(Duration::from_secs(30), "the program to start", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|p| !p.trim().is_empty())
    })
    .await;
    let started = Instant::now();
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    let alive = || Path::new(&format!("/proc/{pid}")).exists();
    common::wait_until(
        Duration::from_secs(25),
        "the hanging program to be killed",
        || !alive(),
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "killed after {:?}, before its 10 s were up",
        started.elapsed()
    );
    // The stream itself never noticed.
    let snapshot = engine.snapshot();
    let dark = snapshot.stream("dark").expect("dark");
    assert!(has(dark, AlarmKind::Black), "{dark:?}");
    assert_eq!(dark.restarts, 0);
    engine.send(Command::Shutdown);
    task.wait().await;
}
