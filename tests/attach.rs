//! One engine, any number of consoles: real engine processes, real unix
//! sockets, real terminals (tmux), real FFmpeg.
//!
//! The stories: consoles attach to a running engine without touching a
//! stream and see each other's keys; `onair` starts the engine in the
//! background and leaving a console leaves the streams on air; a second
//! engine, another user or another version is refused with a reason; a
//! killed engine takes its FFmpeg with it and the next `onair` takes over
//! its socket; `status` and `stop` serve scripts.

mod attach_support;
mod common;

use attach_support::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// An engine started by the test; stopped (SIGTERM, then SIGKILL) and
/// reaped when dropped.
struct Headless(Child);

impl Drop for Headless {
    fn drop(&mut self) {
        signal(self.0.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `onair --headless CONFIG` in `runtime`, its stderr beside the config.
fn headless(runtime: &Runtime, config: &Path) -> Headless {
    let log = std::fs::File::create(config.with_extension("stderr")).expect("stderr file");
    Headless(
        runtime
            .onair()
            .arg("--headless")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn the engine"),
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A screen's lines joined, so that a message wrapped by the terminal
/// reads whole.
fn unwrapped(screen: &str) -> String {
    screen
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("")
}

fn console(runtime: &Runtime, config: &Path) -> String {
    runtime.console_line(&format!("'{}'", config.display()))
}

#[test]
fn two_consoles_share_one_engine_see_each_others_keys_and_touch_no_ffmpeg_by_attaching() {
    let runtime = Runtime::new();
    let (_dir, dir) = test_dir();
    let streams = ["cam1", "cam2"];
    let config = write_config(&dir, &[("cam1", "low-latency"), ("cam2", "low-latency")]);
    let hls = dir.join("hls");
    let _engine = headless(&runtime, &config);
    let before = wait_for_pids(&hls, &streams, "both streams", START, |p| p.len() == 2);

    let tmux = Tmux::new(&dir);
    tmux.open("producer", 120, 30, &console(&runtime, &config));
    tmux.open("technician", 120, 30, &console(&runtime, &config));
    for name in ["producer", "technician"] {
        tmux.wait_for_screen(name, "both streams running, two consoles", |s| {
            streams
                .iter()
                .all(|n| row(s, n).is_some_and(|r| r.contains("running")))
                && s.contains("2 consoles")
        });
    }
    assert_eq!(
        wait_for_pids(&hls, &streams, "both streams", STEP, |p| p.len() == 2),
        before,
        "attaching a console started, stopped or restarted an FFmpeg"
    );

    // A key in one console shows in the other.
    tmux.keys("producer", &["p"]);
    tmux.wait_for_screen("technician", "cam1 switched by the other console", |s| {
        row(s, "cam1").is_some_and(|r| r.contains("stable") && r.contains("running"))
    });
    let switched = wait_for_pids(&hls, &streams, "cam1 restarted", STEP, |p| {
        p.get("cam1").is_some_and(|pid| *pid != before["cam1"])
    });
    assert_eq!(
        switched.get("cam2"),
        Some(&before["cam2"]),
        "cam2 untouched"
    );

    // The producer's SSH connection drops: the other console counts one,
    // no stream notices, and a new console attaches.
    tmux.kill_session("producer");
    tmux.wait_for_screen("technician", "one console left", |s| {
        s.contains("1 console ")
    });
    tmux.open("producer-again", 120, 30, &console(&runtime, &config));
    tmux.wait_for_screen("producer-again", "the dashboard again", |s| {
        row(s, "cam1").is_some_and(|r| r.contains("stable")) && s.contains("2 consoles")
    });
    assert_eq!(
        wait_for_pids(&hls, &streams, "both streams", STEP, |p| p.len() == 2),
        switched,
        "a dropped or a new console touched an FFmpeg"
    );

    // One console stops everything: the other is told who did, and ends.
    tmux.keys("producer-again", &["q"]);
    tmux.wait_for_screen("producer-again", "the leaving question", |s| {
        s.contains("Leave onair?") && s.contains("(the other")
    });
    tmux.keys("producer-again", &["s"]);
    let screen = tmux.wait_for_screen("technician", "the technician's console to end", |s| {
        s.contains("onair exited with status")
    });
    let screen = unwrapped(&screen);
    assert!(screen.contains("onair exited with status 0"), "{screen}");
    assert!(
        screen
            .contains("the engine stopped: every stream is off the air (stopped by a console (pid"),
        "{screen}"
    );
    assert!(ffmpeg_pids(&hls, &streams).is_empty());
}

/// The session id of a process (field 6 of /proc/PID/stat).
fn session_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    stat.rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(3))
        .and_then(|sid| sid.parse().ok())
        .expect("session id")
}

#[test]
fn onair_starts_the_engine_in_the_background_q_d_leaves_it_on_air_and_q_s_stops_it() {
    let runtime = Runtime::new();
    let (_dir, dir) = test_dir();
    let streams = ["cam1", "cam2"];
    let config = write_config(&dir, &[("cam1", "low-latency"), ("cam2", "stable")]);
    let hls = dir.join("hls");
    let tmux = Tmux::new(&dir);
    tmux.open("first", 120, 30, &console(&runtime, &config));
    let pids = wait_for_pids(&hls, &streams, "both streams", START, |p| p.len() == 2);
    tmux.wait_for_screen("first", "both running", |s| {
        streams
            .iter()
            .all(|n| row(s, n).is_some_and(|r| r.contains("running")))
    });
    let engine = runtime.engine_pid();
    assert_eq!(
        session_of(engine),
        engine,
        "the engine leads a session of its own, away from the terminal's hang-up"
    );
    assert!(
        dir.join("logs/engine.log").exists(),
        "the engine's output goes to logs/engine.log"
    );

    tmux.keys("first", &["q"]);
    tmux.wait_for_screen("first", "the leaving question", |s| {
        s.contains("Leave onair?") && s.contains("detach: 2 live streams keep running")
    });
    tmux.keys("first", &["d"]);
    let screen = tmux.wait_for_screen("first", "the console to exit", |s| {
        s.contains("onair exited with status")
    });
    let screen = unwrapped(&screen);
    assert!(screen.contains("onair exited with status 0"), "{screen}");
    assert!(
        screen.contains("detached; every stream keeps running"),
        "{screen}"
    );
    assert!(screen.contains(&format!("Attach again with `onair {}`", config.display())));
    assert_eq!(
        wait_for_pids(&hls, &streams, "both streams", STEP, |p| p.len() == 2),
        pids,
        "detaching touched an FFmpeg"
    );
    assert!(alive(engine));

    tmux.open("second", 120, 30, &console(&runtime, &config));
    tmux.wait_for_screen("second", "the same streams", |s| {
        streams
            .iter()
            .all(|n| row(s, n).is_some_and(|r| r.contains("running")))
    });
    assert_eq!(
        runtime.engine_pids(),
        vec![engine],
        "it attached, it started nothing"
    );
    assert_eq!(
        wait_for_pids(&hls, &streams, "both streams", STEP, |p| p.len() == 2),
        pids
    );
    tmux.keys("second", &["q"]);
    tmux.wait_for_screen("second", "the leaving question", |s| {
        s.contains("2 streams will stop")
    });
    tmux.keys("second", &["s"]);
    let screen = tmux.wait_for_screen("second", "the console to exit", |s| {
        s.contains("onair exited with status")
    });
    assert!(screen.contains("onair exited with status 0"), "{screen}");
    assert!(
        ffmpeg_pids(&hls, &streams).is_empty(),
        "an FFmpeg outlived q s"
    );
    assert!(!alive(engine), "the engine outlived q s");
    assert!(
        runtime.socket_files().is_empty(),
        "the socket was left behind"
    );
}

#[test]
fn a_second_engine_for_the_same_config_is_refused_before_it_touches_anything() {
    let runtime = Runtime::new();
    let (_dir, dir) = test_dir();
    let config = write_config(&dir, &[("cam1", "stable")]);
    let hls = dir.join("hls");
    let mut first = headless(&runtime, &config);
    let pids = wait_for_pids(&hls, &["cam1"], "the stream", START, |p| p.len() == 1);
    let playlist = hls.join("cam1/index.m3u8");
    let deadline = Instant::now() + START;
    while !playlist.exists() {
        assert!(Instant::now() < deadline, "no playlist");
        std::thread::sleep(POLL);
    }
    let engine = runtime.engine_pid();
    assert_eq!(engine, first.0.id());
    // A file a starting stream would clear away with its old segments.
    let witness = hls.join("cam1/witness.ts");
    std::fs::write(&witness, b"kept").expect("witness");

    let second = runtime
        .onair()
        .arg("--headless")
        .arg(&config)
        .output()
        .expect("run a second engine");
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let said = text(&second);
    assert!(
        said.contains(&format!(
            "an engine already runs for {} (pid {engine})",
            config.display()
        )),
        "{said}"
    );
    assert!(
        witness.exists(),
        "the second engine cleaned the running stream's directory"
    );
    let playlist = std::fs::read_to_string(&playlist).expect("playlist");
    assert!(
        !playlist.contains("#EXT-X-ENDLIST"),
        "the live playlist was ended"
    );
    assert_eq!(
        wait_for_pids(&hls, &["cam1"], "the stream", STEP, |p| p.len() == 1),
        pids
    );
    assert!(
        first.0.try_wait().expect("try_wait").is_none(),
        "the first engine ended"
    );
    assert_eq!(runtime.engine_pids(), vec![engine]);
}

/// The onair binary where user `nobody` can run it.
fn binary_for_nobody(scratch: &Path) -> PathBuf {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_onair"));
    let reachable = Command::new("runuser")
        .args(["-u", "nobody", "--", "test", "-x"])
        .arg(&binary)
        .status()
        .is_ok_and(|s| s.success());
    if reachable {
        return binary;
    }
    let copy = scratch.join("onair");
    std::fs::copy(&binary, &copy).expect("copy onair");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    copy
}

/// `onair ARGS` as user `nobody`, with the same runtime directory.
fn as_nobody(binary: &Path, runtime: &Runtime, args: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", "nobody", "--", "env"])
        .arg(format!("ONAIR_RUNTIME_DIR={}", runtime.sockets().display()))
        .arg(binary)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runuser")
}

#[test]
fn another_user_can_neither_attach_nor_read_the_status_nor_stop_the_engine() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: switching to user nobody needs root (CI runs as root)");
        return;
    }
    let runtime = Runtime::new();
    let (_dir, dir) = test_dir();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let config = write_config(&dir, &[("cam1", "low-latency")]);
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let hls = dir.join("hls");
    let _engine = headless(&runtime, &config);
    let pids = wait_for_pids(&hls, &["cam1"], "the stream", START, |p| p.len() == 1);
    let engine = runtime.engine_pid();
    let binary = binary_for_nobody(&dir);
    let shown = config.display().to_string();

    // The directory keeps them out.
    for args in [vec!["status", &shown], vec!["stop", &shown], vec![&shown]] {
        let out = as_nobody(&binary, &runtime, &args);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {said}");
        assert!(
            said.contains("permission denied")
                && said.contains("only that user (or root) may attach"),
            "{args:?}: {said}"
        );
    }

    // With the directory and socket opened up by mistake, the engine
    // itself refuses them, and says why on their side.
    let sockets = runtime.sockets();
    for path in [runtime.path(), sockets.as_path()] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o711)).expect("chmod");
    }
    for socket in runtime.socket_files() {
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    }
    for args in [vec!["status", &shown], vec!["stop", &shown], vec![&shown]] {
        let out = as_nobody(&binary, &runtime, &args);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {said}");
        assert!(
            said.contains("the engine refused: this engine belongs to root (uid 0); nobody (uid 65534) may not attach"),
            "{args:?}: {said}"
        );
    }

    assert!(alive(engine), "another user stopped the engine");
    assert_eq!(
        wait_for_pids(&hls, &["cam1"], "the stream", STEP, |p| p.len() == 1),
        pids
    );
    // Its own user still reads it.
    wait_for_status(&runtime, &config, 0);
}

#[test]
fn kill_9_of_the_engine_leaves_no_ffmpeg_and_the_next_onair_replaces_its_socket() {
    let runtime = Runtime::new();
    let (_dir, dir) = test_dir();
    let streams = ["cam1", "cam2"];
    let config = write_config(&dir, &[("cam1", "low-latency"), ("cam2", "stable")]);
    let hls = dir.join("hls");
    let mut engine = headless(&runtime, &config);
    let pids = wait_for_pids(&hls, &streams, "both streams", START, |p| p.len() == 2);
    let [socket] = &runtime.socket_files()[..] else {
        panic!("one socket expected: {:?}", runtime.socket_files());
    };
    let old_birth = std::fs::metadata(socket)
        .and_then(|m| m.modified())
        .expect("socket");

    signal(engine.0.id(), libc::SIGKILL);
    let _ = engine.0.wait();
    for pid in pids.values() {
        wait_gone(*pid, "an FFmpeg of the killed engine");
    }
    assert!(socket.exists(), "a killed engine cannot remove its socket");
    let status = runtime
        .onair()
        .arg("status")
        .arg(&config)
        .output()
        .expect("status");
    assert_eq!(status.status.code(), Some(2), "{}", text(&status));
    assert!(
        text(&status).contains("no engine runs"),
        "{}",
        text(&status)
    );

    let tmux = Tmux::new(&dir);
    tmux.open("console", 120, 30, &console(&runtime, &config));
    let again = wait_for_pids(&hls, &streams, "both streams again", START, |p| {
        p.len() == 2
    });
    tmux.wait_for_screen("console", "both running again", |s| {
        streams
            .iter()
            .all(|n| row(s, n).is_some_and(|r| r.contains("running")))
    });
    assert!(
        again
            .values()
            .all(|pid| !pids.values().any(|old| old == pid))
    );
    let new_birth = std::fs::metadata(socket)
        .and_then(|m| m.modified())
        .expect("socket");
    assert!(new_birth > old_birth, "the stale socket was not replaced");
    assert_ne!(runtime.engine_pid(), engine.0.id());
    let log: String = std::fs::read_dir(dir.join("logs"))
        .expect("logs")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(log.contains("replaced the stale control socket"), "{log}");
}

/// `onair status CONFIG` in `runtime`.
fn status(runtime: &Runtime, config: &Path) -> Output {
    runtime
        .onair()
        .arg("status")
        .arg(config)
        .output()
        .expect("status")
}

/// Polls `onair status` until it exits with `code`.
fn wait_for_status(runtime: &Runtime, config: &Path, code: i32) -> String {
    let deadline = Instant::now() + START;
    loop {
        let out = status(runtime, config);
        if out.status.code() == Some(code) {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "status never exited {code}; last: {:?}\n{}",
            out.status,
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn status_tells_scripts_how_the_streams_are_and_stop_waits_for_the_last_ffmpeg() {
    let runtime = Runtime::new();
    let (_dir, dir) = test_dir();
    let config = dir.join("streams.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\n\n\
             [[stream]]\nname = \"good\"\ninput = \"lavfi:testsrc2=size=320x180:rate=15\"\naudio = \"none\"\n\n\
             [[stream]]\nname = \"spare\"\ninput = \"rtmp://127.0.0.1:9/live/nothing\"\nenabled = false\n\n\
             [[stream]]\nname = \"push\"\ninput = \"lavfi:testsrc2=size=320x180:rate=15\"\n\
             output = \"rtmp://127.0.0.1:9/live/SECRETKEY\"\nenabled = false\n",
            common::free_port()
        ),
    )
    .expect("write config");
    let out = status(&runtime, &config);
    assert_eq!(out.status.code(), Some(2), "no engine yet: {}", text(&out));

    let _engine = headless(&runtime, &config);
    let lines = wait_for_status(&runtime, &config, 0);
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 3, "one line per stream: {lines:?}");
    assert!(
        lines[0].starts_with("good ") && lines[0].contains(" running "),
        "{lines:?}"
    );
    assert!(
        lines[0].contains("stable") && lines[0].contains("restarts 0"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("spare ") && lines[1].contains(" stopped "),
        "{lines:?}"
    );
    assert!(
        !lines.concat().contains("SECRETKEY"),
        "a key in status: {lines:?}"
    );

    // An enabled stream that cannot run makes the status say so.
    let place =
        onair::control::Place::new(config.canonicalize().expect("canonical"), runtime.sockets());
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio.block_on(async {
        let mut session = onair::control::Session::connect(&place, onair::control::Role::Control)
            .await
            .expect("attach");
        session
            .send(&onair::control::Request::Command {
                command: onair::engine::Command::Start {
                    stream: "spare".into(),
                },
            })
            .await
            .expect("send");
    });
    let lines = wait_for_status(&runtime, &config, 1);
    assert!(
        lines
            .lines()
            .any(|l| l.starts_with("spare ") && !l.contains(" running ")),
        "{lines}"
    );

    // An FFmpeg that does not answer `q` makes the stop take seconds; stop
    // returns only once it is gone.
    let pids: BTreeMap<String, u32> =
        wait_for_pids(&dir.join("hls"), &["good"], "good", STEP, |p| p.len() == 1);
    let good = pids["good"];
    signal(good, libc::SIGSTOP);
    let engine = runtime.engine_pid();
    let stop = runtime
        .onair()
        .arg("stop")
        .arg(&config)
        .output()
        .expect("stop");
    assert_eq!(stop.status.code(), Some(0), "{}", text(&stop));
    assert!(text(&stop).contains("the engine stopped; no FFmpeg is left"));
    assert!(!alive(good), "stop returned before the last FFmpeg ended");
    assert!(!alive(engine), "stop returned before the engine ended");
    assert!(runtime.socket_files().is_empty());
    let again = runtime
        .onair()
        .arg("stop")
        .arg(&config)
        .output()
        .expect("stop");
    assert_eq!(
        again.status.code(),
        Some(0),
        "stopping nothing is fine: {}",
        text(&again)
    );
    assert!(text(&again).contains("nothing to stop"));
}

#[test]
fn a_console_that_cannot_start_the_engine_says_why_and_exits_1() {
    let runtime = Runtime::new();
    let (_dir, dir) = test_dir();
    let tmux = Tmux::new(&dir);

    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "[server]\nlisten = \"nowhere\"\n").expect("write");
    tmux.open("broken", 160, 20, &console(&runtime, &broken));
    let screen = tmux.wait_for_screen("broken", "the console to give up", |s| {
        s.contains("onair exited with status")
    });
    let screen = unwrapped(&screen);
    assert!(screen.contains("onair exited with status 1"), "{screen}");
    assert!(
        screen.contains(&format!("{}:2:10:", broken.display())),
        "{screen}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let (_dir2, dir2) = test_dir();
    let busy = write_config(&dir2, &[("cam1", "low-latency")]);
    let text = std::fs::read_to_string(&busy).expect("read");
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("listen") {
                format!("listen = \"127.0.0.1:{port}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&busy, text).expect("write");
    tmux.open("busy", 160, 20, &console(&runtime, &busy));
    let screen = tmux.wait_for_screen("busy", "the console to give up", |s| {
        s.contains("onair exited with status")
    });
    let screen = unwrapped(&screen);
    assert!(screen.contains("onair exited with status 1"), "{screen}");
    assert!(
        screen.contains(&format!("port {port} is in use")),
        "{screen}"
    );
    assert!(runtime.engine_pids().is_empty(), "an engine stayed behind");
    assert!(
        ffmpeg_pids(&dir2.join("hls"), &["cam1"]).is_empty(),
        "an FFmpeg stayed behind"
    );
    drop(taken);
}

#[test]
fn a_client_of_another_version_is_told_what_to_do() {
    use std::io::{Read, Write};
    let runtime = Runtime::new();
    let (_dir, dir) = test_dir();
    let config = write_config(&dir, &[("cam1", "low-latency")]);
    let place =
        onair::control::Place::new(config.canonicalize().expect("canonical"), runtime.sockets());
    place.prepare().expect("socket dir");
    // An engine of another onair version, as far as the socket can tell.
    let listener = std::os::unix::net::UnixListener::bind(&place.socket).expect("bind");
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let hello = serde_json::to_vec(&onair::control::EngineHello {
            onair: "0.0.1-old".into(),
            protocol: 0,
            pid: 4242,
            config: "/etc/onair/streams.toml".into(),
            refused: None,
        })
        .expect("json");
        stream
            .write_all(&(hello.len() as u32).to_be_bytes())
            .expect("write");
        stream.write_all(&hello).expect("write");
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        rest
    });
    let out = status(&runtime, &config);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("runs onair 0.0.1-old") && said.contains("kill -TERM 4242"),
        "{said}"
    );
    let sent = server.join().expect("fake engine");
    assert!(
        sent.is_empty(),
        "the client went on talking after the refusal"
    );
}
