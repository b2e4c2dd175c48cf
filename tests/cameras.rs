//! Real IP cameras: GStreamer's RTSP server (Debian's
//! `gir1.2-gst-rtsp-server-1.0`) sending H.264 or H.265 with AAC, read by
//! onair's FFmpeg, played by a real headless chromium. What the source
//! sends, what onair does with it, what the screens say they show, and what
//! the operator reads when a camera refuses, hides or goes away.

#[path = "support/chromium.rs"]
mod chromium;
mod common;
#[path = "support/rtsp_camera.rs"]
mod rtsp_camera;

use chromium::{Onair, open_browser};
use common::wait_for;
use onair::engine::{Engine, ScreenState, Snapshot, StreamSnapshot};
use rtsp_camera::{Auth, Camera, Codec, Settings};
use std::time::{Duration, Instant};

/// One chromium at a time: two browsers and their decoders at once would
/// starve a 2-core machine.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn stream<'a>(snapshot: &'a Snapshot, name: &str) -> &'a StreamSnapshot {
    common::stream(snapshot, name)
}

fn running(snapshot: &Snapshot, name: &str) -> bool {
    snapshot
        .stream(name)
        .is_some_and(|s| s.state.label() == "running")
}

/// Waits until the screen page `screen` reports `state`.
async fn wait_screen(engine: &Engine, screen: &str, state: ScreenState, within: Duration) {
    wait_for(
        engine,
        within,
        &format!("screen {screen} {}", state.label()),
        |s| {
            s.screen_reports
                .iter()
                .any(|r| r.screen.as_deref() == Some(screen) && r.state == state)
        },
    )
    .await;
}

/// A config whose streams read `url`: `(name, extra lines)`, plus screens
/// named after them.
fn config(streams: &[(&str, &str, &str)]) -> String {
    let mut text = String::from("[server]\nlisten = \"127.0.0.1:0\"\nstall_timeout = 6\n\n");
    for (name, url, extra) in streams {
        text.push_str(&format!(
            "[[stream]]\nname = \"{name}\"\ninput = \"{url}\"\n{extra}\n\n[[screen]]\nname = \"{name}\"\nstream = \"{name}\"\n\n"
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h264_camera_plays_on_screens_copied_and_encoded_on_both_profiles() {
    // Keyframes every 0.5 s: copied as they are even on low latency.
    let camera = Camera::start(Settings {
        keyframe: 0.5,
        ..Settings::default()
    });
    let url = camera.url();
    let onair = Onair::start(&config(&[
        ("copy_ll", &url, "profile = \"low-latency\""),
        ("copy_stable", &url, "profile = \"stable\""),
        (
            "h264_ll",
            &url,
            "profile = \"low-latency\"\nvideo = \"h264\"",
        ),
        (
            "h264_stable",
            &url,
            "profile = \"stable\"\nvideo = \"h264\"",
        ),
    ]))
    .await;
    let names = ["copy_ll", "copy_stable", "h264_ll", "h264_stable"];
    let snapshot = wait_for(
        &onair.engine,
        Duration::from_secs(40),
        "every stream running",
        |s| {
            names
                .iter()
                .all(|n| running(s, n) && stream(s, n).source.is_some())
        },
    )
    .await;

    // onair knows what the camera sends, and says what it does with it.
    for name in names {
        let s = stream(&snapshot, name);
        let source = s.source.as_ref().expect("source");
        let video = source.video.as_ref().expect("video");
        assert_eq!(
            (video.codec.as_str(), video.width, video.height, video.fps),
            ("h264", 320, 180, Some(15.0)),
            "{name}"
        );
        let audio = source.audio.as_ref().expect("audio");
        assert_eq!(
            (audio.codec.as_str(), audio.sample_rate, audio.channels),
            ("aac", Some(48_000), Some(2)),
            "{name}"
        );
        let expected = if name.starts_with("copy") {
            "copy"
        } else {
            "h264"
        };
        assert_eq!(s.handling, expected, "{name}");
        assert!(s.warnings.is_empty(), "{name}: {:?}", s.warnings);
        let history = onair
            .engine
            .details(name)
            .map(|d| d.history)
            .unwrap_or_default();
        assert!(
            history
                .iter()
                .any(|c| c.text.starts_with("source: h264 320×180 15 fps")),
            "{name}: {history:?}"
        );
    }
    // The camera's keyframe interval, measured on what the copy writes.
    let measured = wait_for(
        &onair.engine,
        Duration::from_secs(30),
        "the keyframe interval",
        |s| {
            stream(s, "copy_ll")
                .source
                .as_ref()
                .and_then(|x| x.keyframe_interval)
                .is_some()
        },
    )
    .await;
    let interval = stream(&measured, "copy_ll")
        .source
        .as_ref()
        .and_then(|x| x.keyframe_interval)
        .expect("interval");
    assert!(
        (interval - 0.5).abs() <= 0.2,
        "keyframes every {interval} s"
    );
    assert_eq!(
        stream(&measured, "copy_ll").handling,
        "copy",
        "0.5 s keyframes suit low latency"
    );

    // Every one plays on a real screen.
    let _browser = BROWSER.lock().await;
    let (driver, client) = open_browser().await;
    for name in names {
        client
            .goto(&onair.url(&format!("/screen/{name}")))
            .await
            .expect("open the screen");
        wait_screen(
            &onair.engine,
            name,
            ScreenState::Playing,
            Duration::from_secs(30),
        )
        .await;
    }
    let snapshot = onair.engine.snapshot();
    for report in snapshot
        .screen_reports
        .iter()
        .filter(|r| r.state == ScreenState::Playing)
    {
        assert_eq!(
            (report.width, report.height),
            (Some(320), Some(180)),
            "{report:?}"
        );
    }
    let _ = client.close().await;
    drop(driver);
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h265_camera_plays_with_auto_and_explicit_copy_warns_and_its_screen_says_it_cannot_play()
{
    let camera = Camera::start(Settings {
        codec: Codec::H265,
        ..Settings::default()
    });
    let url = camera.url();
    let onair = Onair::start(&config(&[
        ("auto", &url, ""),
        ("copy", &url, "video = \"copy\""),
    ]))
    .await;
    let snapshot = wait_for(
        &onair.engine,
        Duration::from_secs(40),
        "both running with their source known",
        |s| {
            ["auto", "copy"].iter().all(|n| {
                running(s, n) && stream(s, n).source.is_some() && !stream(s, n).handling.is_empty()
            }) && stream(s, "auto").handling == "h264 from hevc"
        },
    )
    .await;
    let auto = stream(&snapshot, "auto");
    assert!(auto.warnings.is_empty(), "{:?}", auto.warnings);
    assert!(auto.command.contains("libx264"), "{}", auto.command);
    let copy = stream(&snapshot, "copy");
    let warning = "screens cannot play H.265: use video = \"auto\" or \"h264\"";
    assert_eq!(copy.handling, "copy");
    assert_eq!(copy.warnings, vec![warning.to_string()]);

    // The warning, as the API and the console show it.
    let api = onair.get_text("/api/streams").await;
    assert!(
        api.contains(
            r#""warnings":["screens cannot play H.265: use video = \"auto\" or \"h264\""]"#
        ),
        "{api}"
    );
    let console = console_text(&snapshot, "copy");
    assert!(console.contains("running !"), "{console}");
    assert!(
        console.contains(&format!("warning: {warning}")),
        "{console}"
    );

    let _browser = BROWSER.lock().await;
    let (driver, client) = open_browser().await;
    client
        .goto(&onair.url("/screen/auto"))
        .await
        .expect("open the screen");
    wait_screen(
        &onair.engine,
        "auto",
        ScreenState::Playing,
        Duration::from_secs(30),
    )
    .await;

    // The screen of the H.265 copy says it cannot play, within 10 s.
    client
        .goto(&onair.url("/screen/copy"))
        .await
        .expect("open the screen");
    let opened = Instant::now();
    wait_screen(
        &onair.engine,
        "copy",
        ScreenState::Lost,
        Duration::from_secs(10),
    )
    .await;
    eprintln!(
        "the H.265 screen reported lost {:?} after opening",
        opened.elapsed()
    );
    let snapshot = onair.engine.snapshot();
    let report = snapshot
        .screen_reports
        .iter()
        .find(|r| r.screen.as_deref() == Some("copy"))
        .expect("report");
    assert!(report.error.is_some(), "{report:?}");
    // And the operator is told, with the hint.
    wait_for(
        &onair.engine,
        Duration::from_secs(20),
        "a log line about the dark screen",
        |_| {
            onair.engine.log_since(0).iter().any(|e| {
                e.level == "error"
                    && e.text
                        .starts_with("screen copy (127.0.0.1) cannot play copy")
            })
        },
    )
    .await;
    let line = onair
        .engine
        .log_since(0)
        .into_iter()
        .find(|e| {
            e.text
                .starts_with("screen copy (127.0.0.1) cannot play copy")
        })
        .expect("line");
    assert!(line.text.ends_with(warning), "{}", line.text);
    let _ = client.close().await;
    drop(driver);
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_latency_encodes_a_camera_whose_keyframes_are_too_far_apart_and_copy_says_why() {
    let camera = Camera::start(Settings {
        keyframe: 2.0,
        ..Settings::default()
    });
    let url = camera.url();
    let onair = Onair::start(&config(&[
        ("ll_auto", &url, "profile = \"low-latency\""),
        (
            "ll_copy",
            &url,
            "profile = \"low-latency\"\nvideo = \"copy\"",
        ),
        ("stable_auto", &url, "profile = \"stable\""),
    ]))
    .await;
    let keyframes = |s: &Snapshot, name: &str| {
        stream(s, name)
            .source
            .as_ref()
            .and_then(|x| x.keyframe_interval)
    };
    let snapshot = wait_for(
        &onair.engine,
        Duration::from_secs(40),
        "the keyframes measured and acted on",
        |s| {
            running(s, "ll_auto")
                && stream(s, "ll_auto").handling == "h264"
                && !stream(s, "ll_copy").warnings.is_empty()
                && keyframes(s, "stable_auto").is_some()
        },
    )
    .await;
    for name in ["ll_auto", "ll_copy", "stable_auto"] {
        let k = keyframes(&snapshot, name).expect("measured");
        assert!((k - 2.0).abs() <= 0.2, "{name}: keyframes every {k} s");
    }
    assert!(stream(&snapshot, "ll_auto").command.contains("libx264"));
    assert!(stream(&snapshot, "ll_auto").warnings.is_empty());
    let warning = &stream(&snapshot, "ll_copy").warnings[0];
    assert!(
        warning.starts_with(
            "the source's keyframes are 2 s apart, more than the low-latency hls_time of 0.5 s"
        ),
        "{warning}"
    );
    assert_eq!(stream(&snapshot, "ll_copy").handling, "copy");
    assert_eq!(
        stream(&snapshot, "stable_auto").handling,
        "copy",
        "stable copies"
    );
    assert!(stream(&snapshot, "stable_auto").warnings.is_empty());
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_passwords_and_paths_right_or_wrong_each_say_what_to_do_and_never_show_the_password()
{
    const RIGHT: &str = "Corr3ctHorse";
    const WRONG: &str = "Wr0ngStaple";
    let auth = |basic: bool| {
        let (user, password) = ("viewer".to_string(), RIGHT.to_string());
        Settings {
            auth: if basic {
                Auth::Basic { user, password }
            } else {
                Auth::Digest { user, password }
            },
            audio: false,
            ..Settings::default()
        }
    };
    let basic = Camera::start(auth(true));
    let digest = Camera::start(auth(false));
    // A camera whose network drops every packet: its listen queue is full.
    let hung = common::free_port();
    let backlog = socket_with_full_backlog(hung);
    let refused = common::free_port();
    let onair = Onair::start(&config(&[
        ("basic_ok", &basic.url_with("viewer", RIGHT), ""),
        ("basic_bad", &basic.url_with("viewer", WRONG), ""),
        ("digest_ok", &digest.url_with("viewer", RIGHT), ""),
        ("digest_bad", &digest.url_with("viewer", WRONG), ""),
        (
            "wrong_path",
            &format!("rtsp://viewer:{RIGHT}@127.0.0.1:{}/nope", basic.port()),
            "",
        ),
        ("no_answer", &format!("rtsp://127.0.0.1:{hung}/cam"), ""),
        ("refused", &format!("rtsp://127.0.0.1:{refused}/cam"), ""),
    ]))
    .await;
    // Each keeps being retried: the slate stands in (`fallback`) meanwhile.
    let hint = |s: &Snapshot, name: &str, words: &str| {
        let s = stream(s, name);
        matches!(s.state.label(), "retrying" | "fallback")
            && s.last_error.as_deref().is_some_and(|e| e.contains(words))
    };
    let snapshot = wait_for(
        &onair.engine,
        Duration::from_secs(40),
        "every camera's outcome",
        |s| {
            running(s, "basic_ok")
                && running(s, "digest_ok")
                && hint(s, "basic_bad", "refused the user name or password")
                && hint(s, "digest_bad", "refused the user name or password")
                && hint(s, "wrong_path", "no stream at that path")
                && hint(s, "no_answer", "does not answer")
                && hint(s, "refused", "nothing is listening")
        },
    )
    .await;
    for name in ["basic_bad", "digest_bad"] {
        let error = stream(&snapshot, name)
            .last_error
            .clone()
            .unwrap_or_default();
        assert!(error.contains("401 Unauthorized"), "{name}: {error}");
        assert!(error.contains("rtsp://****@127.0.0.1"), "{name}: {error}");
    }
    // Keeps trying, with backoff.
    wait_for(
        &onair.engine,
        Duration::from_secs(20),
        "a second attempt",
        |s| stream(s, "basic_bad").restarts >= 2,
    )
    .await;

    // Neither password appears anywhere the operator or the LAN can look.
    let snapshot = onair.engine.snapshot();
    let everything = [
        serde_json::to_string(&*snapshot).expect("json"),
        onair.get_text("/api/streams").await,
        onair.get_text("/metrics").await,
        console_text(&snapshot, "basic_bad"),
        console_text(&snapshot, "digest_ok"),
    ];
    for (i, text) in everything.iter().enumerate() {
        for password in [RIGHT, WRONG] {
            assert!(!text.contains(password), "password in view {i}: {text}");
        }
    }
    drop(backlog);
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_down_for_15_s_is_played_again_by_itself() {
    let mut camera = Camera::start(Settings::default());
    let onair = Onair::start(&config(&[(
        "cam",
        &camera.url(),
        "profile = \"low-latency\"",
    )]))
    .await;
    let before = wait_for(&onair.engine, Duration::from_secs(30), "cam running", |s| {
        running(s, "cam")
    })
    .await;
    // The FFmpeg that reads the camera (the stream's output FFmpeg stays up
    // through the outage, on the slate).
    let source_pid = |s: &Snapshot| {
        stream(s, "cam")
            .processes
            .iter()
            .find(|p| p.role == onair::engine::ProcessRole::Ingest)
            .and_then(|p| p.pid)
    };
    let pid = source_pid(&before);
    assert!(pid.is_some(), "the camera is read by an ingest");
    let output = stream(&before, "cam").pid;

    camera.switch_off();
    let down = wait_for(
        &onair.engine,
        Duration::from_secs(20),
        "cam on the slate",
        |s| stream(s, "cam").state.label() == "fallback",
    )
    .await;
    eprintln!("down: {:?}", stream(&down, "cam").last_error);
    // The camera stays off for 15 s (the scenario, not a timing bound).
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(!running(&onair.engine.snapshot(), "cam"));
    let refusing = stream(&onair.engine.snapshot(), "cam")
        .last_error
        .clone()
        .unwrap_or_default();
    assert!(refusing.contains("nothing is listening"), "{refusing}");

    camera.switch_on();
    let back = wait_for(
        &onair.engine,
        Duration::from_secs(45),
        "cam running again",
        |s| running(s, "cam") && source_pid(s).is_some_and(|p| Some(p) != pid),
    )
    .await;
    assert!(stream(&back, "cam").restarts >= 1);
    assert_eq!(
        stream(&back, "cam").pid,
        output,
        "the output never stopped: {:#?}",
        onair.engine.details("cam").map(|d| d.history)
    );
    let dir = onair.dir.path().join("hls").join("cam");
    common::wait_until(Duration::from_secs(20), "a playable playlist again", || {
        common::playlist_is_live(&dir)
    })
    .await;
    onair.stop().await;
}

// ---------------------------------------------------------------- helpers

/// The console as the operator sees it (160×48), `selected` chosen.
fn console_text(snapshot: &Snapshot, selected: &str) -> String {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use onair::tui::{app::App, view};
    let mut app = App::new();
    app.observe(snapshot);
    for _ in 0..snapshot.streams.len() {
        if app.selected() == Some(selected) {
            break;
        }
        app.handle_key(
            KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
            snapshot,
            snapshot.taken_at,
        );
    }
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 48)).expect("terminal");
    let server = onair::server::ServerStats::default();
    let scene = view::Scene {
        snapshot,
        server: &server,
        app: &app,
        now: snapshot.taken_at,
        utc_offset_secs: 0,
    };
    terminal
        .draw(|frame| {
            view::draw(frame, &scene);
        })
        .expect("draw");
    terminal.backend().to_string()
}

/// A listening socket whose queue is full, so new connections hang as
/// with a camera on a network that drops packets.
fn socket_with_full_backlog(port: u16) -> (std::net::TcpListener, Vec<std::net::TcpStream>) {
    use std::os::fd::FromRawFd;
    // SAFETY: a plain socket(2)/bind(2)/listen(2) with a backlog of 0; the fd
    // is owned by the TcpListener built from it.
    let listener = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        let bound = libc::bind(
            fd,
            &addr as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(bound, 0, "bind 127.0.0.1:{port}");
        assert_eq!(libc::listen(fd, 0), 0, "listen");
        std::net::TcpListener::from_raw_fd(fd)
    };
    // Fill the queue (a backlog of 0 still takes one or two).
    let mut held = Vec::new();
    for _ in 0..3 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], port).into(),
            Duration::from_millis(200),
        ) {
            held.push(s);
        }
    }
    (listener, held)
}
