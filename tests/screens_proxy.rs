//! The screens proxy (`assets/nginx-screens.conf`) with a real nginx in
//! front of a real onair: fifty readers that behave like the product's
//! player (blocking playlist reload, then the newest segment) cost onair at
//! most one fetch per segment and at most about one playlist fetch per new
//! segment (two a second on the low-latency profile), as onair's own
//! metrics count them; and the proxy passes nothing but what screens need.

#[path = "support/chromium.rs"]
mod chromium;
mod common;
#[path = "support/screens_proxy.rs"]
mod screens_proxy;

use chromium::Onair;
use common::LAVFI;
use screens_proxy::screens_proxy;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const READERS: usize = 50;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn get_bytes(agent: &ureq::Agent, url: &str) -> (u16, Vec<u8>) {
    let mut response = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_vec()
        .unwrap_or_else(|e| panic!("GET {url} body: {e}"));
    (status, body)
}

fn get(agent: &ureq::Agent, url: &str) -> (u16, String) {
    let (status, body) = get_bytes(agent, url);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The media sequence number and name of the last segment of a playlist.
fn last_segment(playlist: &str) -> Option<(u64, String)> {
    let sequence: u64 = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))?
        .trim()
        .parse()
        .ok()?;
    let segments: Vec<&str> = playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let last = segments.last()?;
    Some((sequence + segments.len() as u64 - 1, last.to_string()))
}

/// One screen's traffic: the playlist, then for each new segment the next
/// playlist asked in advance (`_HLS_msn`) and the segment itself.
fn read_like_a_screen(base: &str, until: Instant, segments: &Mutex<HashSet<String>>) {
    let agent = agent();
    let (status, mut playlist) = get(&agent, &format!("{base}/hls/cam/index.m3u8"));
    assert_eq!(status, 200, "the playlist through the proxy");
    while Instant::now() < until {
        let (msn, name) = last_segment(&playlist).expect("a playlist with segments");
        let (status, body) = get_bytes(&agent, &format!("{base}/hls/cam/{name}"));
        assert_eq!(status, 200, "segment {name} through the proxy");
        assert!(!body.is_empty());
        segments.lock().expect("lock").insert(name);
        let next = format!("{base}/hls/cam/index.m3u8?_HLS_msn={}", msn + 1);
        let (status, body) = get(&agent, &next);
        assert_eq!(status, 200, "{next}");
        playlist = body;
    }
}

/// onair's own count of playlist and segment requests for `stream`.
fn origin_requests(onair: &str, stream: &str) -> (u64, u64) {
    let (_, metrics) = get(&agent(), &format!("{onair}/metrics"));
    let count = |kind: &str| {
        let series = format!("onair_hls_requests_total{{stream=\"{stream}\",kind=\"{kind}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (count("playlist"), count("segment"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_screens_behind_the_proxy_cost_onair_one_fetch_per_segment() {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n\
         [[stream]]\nname = \"cam\"\ninput = \"{LAVFI}\"\nprofile = \"low-latency\"\n"
    );
    let onair = Onair::start(&text).await;
    let (_dir, proxy) = screens_proxy(onair.server.local_addr());
    let origin = onair.url("");
    let base = format!("http://127.0.0.1:{}", proxy.port);
    let hls = onair.dir.path().join("hls").join("cam");
    common::wait_until(
        Duration::from_secs(30),
        "the stream's first segments",
        || common::playlist_is_live(&hls),
    )
    .await;

    let result = tokio::task::spawn_blocking(move || {
        let newest = || {
            let (_, playlist) = get(&agent(), &format!("{origin}/hls/cam/index.m3u8"));
            last_segment(&playlist).map_or(0, |(msn, _)| msn)
        };
        // Everyone starts at once, as screens do when a stream comes back.
        let (_, segments_before) = origin_requests(&origin, "cam");
        let segments = Arc::new(Mutex::new(HashSet::new()));
        let until = Instant::now() + Duration::from_secs(9);
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let (base, segments) = (base.clone(), Arc::clone(&segments));
                std::thread::spawn(move || read_like_a_screen(&base, until, &segments))
            })
            .collect();
        // Playlists in steady state: after everyone's first request.
        std::thread::sleep(Duration::from_secs(1));
        let (playlists_before, _) = origin_requests(&origin, "cam");
        let (msn_before, steady_from) = (newest(), Instant::now());
        for reader in readers {
            reader.join().expect("a reader failed");
        }
        let (playlists_after, segments_after) = origin_requests(&origin, "cam");
        let (msn_after, steady) = (newest(), steady_from.elapsed().as_secs_f64());
        let distinct = segments.lock().expect("lock").len() as u64;
        (
            playlists_after - playlists_before,
            msn_after - msn_before,
            steady,
            segments_after - segments_before,
            distinct,
        )
    })
    .await
    .expect("the readers ran");
    let (playlists, new_segments, seconds, segments, distinct) = result;
    eprintln!(
        "{READERS} readers through the proxy: onair answered {segments} segment requests for \
         {distinct} segments, and {playlists} playlist requests in {seconds:.1} s ({:.2}/s) \
         while {new_segments} segments appeared",
        playlists as f64 / seconds
    );
    assert!(distinct >= 8, "the readers saw only {distinct} segments");
    assert!(
        segments <= distinct,
        "{segments} origin fetches for {distinct} segments: more than one per segment"
    );
    // One playlist per new segment (two a second with 0.5 s segments); the
    // one in flight at either end of the window may count too.
    assert!(
        playlists <= new_segments + 1,
        "{playlists} origin playlist fetches while {new_segments} segments appeared"
    );
    drop(proxy);
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_passes_what_screens_need_and_nothing_of_the_operator() {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n\
         [[stream]]\nname = \"cam\"\ninput = \"{LAVFI}\"\nprofile = \"low-latency\"\nenabled = false\n\n\
         [[screen]]\nname = \"foyer\"\nstream = \"cam\"\n"
    );
    let onair = Onair::start(&text).await;
    let (_dir, proxy) = screens_proxy(onair.server.local_addr());
    let base = format!("http://127.0.0.1:{}", proxy.port);
    let statuses = tokio::task::spawn_blocking(move || {
        let agent = agent();
        [
            "/screen/foyer",
            "/watch/cam",
            "/assets/player.js",
            "/assets/clock.js",
            "/time",
            "/",
            "/api/streams",
            "/api/screens/foyer",
            "/metrics",
            "/events",
        ]
        .map(|path| (path, get(&agent, &format!("{base}{path}")).0))
    })
    .await
    .expect("requests ran");
    for (path, status) in statuses {
        let screens_need_it = !matches!(
            path,
            "/" | "/api/streams" | "/api/screens/foyer" | "/metrics" | "/events"
        );
        let expected = if screens_need_it { 200 } else { 404 };
        assert_eq!(status, expected, "{path} through the proxy");
    }
    drop(proxy);
    onair.stop().await;
}
