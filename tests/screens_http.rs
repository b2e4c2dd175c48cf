//! What screens get over HTTP, against a real server and real files: live
//! playlists from memory and blocking playlist reload (the test writes
//! playlists the way FFmpeg does, a temp file renamed over `index.m3u8`),
//! onair's clock, and a new `screen_delay` reaching open screens.

#[path = "support/chromium.rs"]
mod chromium;
mod common;

use chromium::Onair;
use common::LAVFI;
use onair::engine::Command;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// onair with one stream that is switched off: the test is its FFmpeg.
async fn start() -> Onair {
    let onair = Onair::start(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n\
         [[stream]]\nname = \"cam\"\ninput = \"lavfi:testsrc2\"\nenabled = false\n",
    )
    .await;
    std::fs::create_dir_all(cam_dir(&onair)).expect("stream dir");
    onair
}

/// Where the stream's playlist and segments go.
fn cam_dir(onair: &Onair) -> PathBuf {
    onair.dir.path().join("hls").join("cam")
}

/// A live playlist of segments `first..=last`, 1 s each.
fn playlist(first: u64, last: u64, ended: bool) -> String {
    let mut text = format!(
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:{first}\n"
    );
    for n in first..=last {
        text += &format!("#EXTINF:1.000000,\nseg-{n}.ts\n");
    }
    if ended {
        text += "#EXT-X-ENDLIST\n";
    }
    text
}

/// Replaces the playlist as FFmpeg does: a temp file, then a rename.
fn publish(dir: &Path, text: &str) {
    let tmp = dir.join("index.m3u8.tmp");
    std::fs::write(&tmp, text).expect("write the temp playlist");
    std::fs::rename(&tmp, dir.join("index.m3u8")).expect("rename the playlist");
}

/// (status, body) of a GET, off the async workers.
async fn get(url: String) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let mut response = agent
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    })
    .await
    .expect("request ran")
}

/// Waits until the served playlist lists segment `n`.
async fn wait_served(onair: &Onair, n: u64) -> String {
    let url = onair.url("/hls/cam/index.m3u8");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(url.clone()).await;
        if status == 200 && body.contains(&format!("seg-{n}.ts")) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "the served playlist never listed seg-{n}.ts: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_playlist_is_served_at_once_with_blocking_reload_offered() {
    let onair = start().await;
    publish(&cam_dir(&onair), &playlist(1, 3, false));
    let first = wait_served(&onair, 3).await;
    assert!(
        first.contains("#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n"),
        "{first}"
    );
    for n in 4..=6 {
        publish(&cam_dir(&onair), &playlist(n - 2, n, false));
        wait_served(&onair, n).await;
    }
    // Written in place rather than renamed: seen once the writer closes it.
    std::fs::write(cam_dir(&onair).join("index.m3u8"), playlist(5, 7, true)).expect("write");
    let ended = wait_served(&onair, 7).await;
    assert!(ended.ends_with("#EXT-X-ENDLIST\n"), "{ended}");
    assert!(
        !ended.contains("SERVER-CONTROL"),
        "an ended playlist offers no blocking"
    );

    // hls_dir itself removed and made again: what is served follows.
    let root = cam_dir(&onair).parent().expect("hls_dir").to_path_buf();
    std::fs::remove_dir_all(&root).expect("remove hls_dir");
    std::fs::create_dir_all(cam_dir(&onair)).expect("make hls_dir again");
    publish(&cam_dir(&onair), &playlist(20, 22, false));
    let again = wait_served(&onair, 22).await;
    assert!(!again.contains("seg-7.ts"), "{again}");
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_request_is_answered_when_its_segment_appears() {
    let onair = start().await;
    publish(&cam_dir(&onair), &playlist(10, 12, false));
    wait_served(&onair, 12).await;

    // Already there: at once.
    let (status, body) = get(onair.url("/hls/cam/index.m3u8?_HLS_msn=11")).await;
    assert_eq!(status, 200);
    assert!(body.contains("seg-12.ts"));

    // The next one: held until FFmpeg writes it.
    let waiting = tokio::spawn(get(onair.url("/hls/cam/index.m3u8?_HLS_msn=13")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "answered before segment 13 existed");
    publish(&cam_dir(&onair), &playlist(11, 13, false));
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("answered once segment 13 exists")
        .expect("request ran");
    assert_eq!(status, 200);
    assert!(body.contains("seg-13.ts"), "{body}");

    // Far ahead is a mistake; a malformed directive too.
    let (status, _) = get(onair.url("/hls/cam/index.m3u8?_HLS_msn=16")).await;
    assert_eq!(status, 400, "more than two segments ahead");
    let (status, _) = get(onair.url("/hls/cam/index.m3u8?_HLS_msn=x")).await;
    assert_eq!(status, 400);
    let (status, _) = get(onair.url("/hls/cam/index.m3u8?_HLS_part=0")).await;
    assert_eq!(status, 400, "a part without a segment number");

    // A stream that stops producing: 503 after three target durations.
    let started = Instant::now();
    let (status, _) = get(onair.url("/hls/cam/index.m3u8?_HLS_msn=14")).await;
    assert_eq!(status, 503);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "held for 3 × 1 s"
    );

    // A playlist that goes away releases whoever waits for it.
    let waiting = tokio::spawn(get(onair.url("/hls/cam/index.m3u8?_HLS_msn=14")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::remove_file(cam_dir(&onair).join("index.m3u8")).expect("remove");
    let (status, _) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("released when the playlist went away")
        .expect("request ran");
    assert_eq!(status, 404);
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_endpoint_gives_onairs_clock_and_requests_are_counted_per_stream() {
    let onair = start().await;
    let before = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    let (status, body) = get(onair.url("/time")).await;
    let after = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    assert_eq!(status, 200);
    let millis: f64 = body.trim().parse().expect("milliseconds");
    assert!(
        before.as_secs_f64() * 1000.0 - 1.0 <= millis
            && millis <= after.as_secs_f64() * 1000.0 + 1.0,
        "{millis} is not between {before:?} and {after:?}"
    );

    publish(&cam_dir(&onair), &playlist(1, 2, false));
    std::fs::write(cam_dir(&onair).join("seg-2.ts"), vec![0x47u8; 1880]).expect("segment");
    wait_served(&onair, 2).await;
    for _ in 0..3 {
        let (status, _) = get(onair.url("/hls/cam/seg-2.ts")).await;
        assert_eq!(status, 200);
    }
    let (status, _) = get(onair.url("/hls/nothere/seg-1.ts")).await;
    assert_eq!(status, 404);
    let (_, metrics) = get(onair.url("/metrics")).await;
    assert!(
        metrics.contains("onair_hls_requests_total{stream=\"cam\",kind=\"segment\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("onair_hls_requests_total{stream=\"cam\",kind=\"playlist\"} "),
        "{metrics}"
    );
    assert!(
        !metrics.contains("nothere"),
        "a missing stream is not counted"
    );
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_screen_delay_reaches_open_screens_without_restarting_the_stream() {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n\
         [[stream]]\nname = \"cam\"\ninput = \"{LAVFI}\"\nprofile = \"low-latency\"\n"
    );
    let onair = Onair::start(&text).await;
    let (engine, server) = (&onair.engine, &onair.server);
    let running = common::wait_for(engine, Duration::from_secs(20), "cam running", |s| {
        common::is_running(s, "cam")
    })
    .await;
    let pid = common::running_pid(&running, "cam");

    // An open screen's event stream, line by line.
    let url = format!("http://{}/events?stream=cam", server.local_addr());
    let (lines, views) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let Ok(response) = agent.get(&url).call() else {
            return;
        };
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        for line in reader.lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data: ") {
                if lines.send(data.to_string()).is_err() {
                    return;
                }
            }
        }
    });
    let delay_seen = |want: f64| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let view = views
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no view with screen_delay {want} within 15 s"));
            let view: serde_json::Value = serde_json::from_str(&view).expect("JSON");
            if view["stream"]["screen_delay"].as_f64() == Some(want) {
                return;
            }
        }
    };
    tokio::task::block_in_place(|| delay_seen(0.9));

    let edited = text.replace(
        "[[stream]]",
        "[profile.low-latency]\nscreen_delay = 1.2\n\n[[stream]]",
    );
    std::fs::write(onair.dir.path().join("streams.toml"), edited).expect("rewrite streams.toml");
    engine.send(Command::Reload);
    tokio::task::block_in_place(|| delay_seen(1.2));
    assert_eq!(
        common::running_pid(&engine.snapshot(), "cam"),
        pid,
        "a new screen delay restarts nothing"
    );
    onair.stop().await;
}
