//! `/wall` in a real browser: headless chromium shows a tile per stream
//! with a thumbnail that keeps being refreshed (JPEGs, no video decoding),
//! and an alarm appears on its tile within 2 s of the engine raising it.

#[path = "support/chromium.rs"]
mod chromium;

use chromium::{Onair, open_browser};
use fantoccini::Client;
use onair::engine::AlarmKind;
use serde_json::Value;
use std::time::{Duration, Instant};

/// What the page shows, tile by tile.
const TILES: &str = r#"
return Array.from(document.querySelectorAll('.tile')).map(function (tile) {
  const img = tile.querySelector('.picture img');
  return {
    stream: tile.dataset.stream,
    state: tile.querySelector('.state').textContent,
    shown: !img.hidden && img.complete && img.naturalWidth > 0,
    width: img.naturalWidth,
    thumbnail_at: Number(img.dataset.thumbnailAt || 0),
    flags: Array.from(tile.querySelectorAll('.flag')).map(function (f) {
      return { alarm: f.dataset.alarm, text: f.textContent, delay_ms: Number(f.dataset.delayMs) };
    }),
    meters: tile.querySelectorAll('.meter').length,
    now: Date.now(),
  };
});
"#;

async fn tiles(client: &Client) -> Vec<Value> {
    let value = client
        .execute(TILES, vec![])
        .await
        .unwrap_or_else(|e| panic!("cannot read the wall: {e}"));
    value.as_array().cloned().unwrap_or_default()
}

fn tile<'a>(tiles: &'a [Value], stream: &str) -> Option<&'a Value> {
    tiles.iter().find(|t| t["stream"] == stream)
}

/// Polls the page until `check` holds, or fails with the last tiles seen.
async fn wait_wall(
    client: &Client,
    within: Duration,
    what: &str,
    mut check: impl FnMut(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let tiles = tiles(client).await;
        if check(&tiles) {
            return tiles;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}; the wall shows: {tiles:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_shows_every_stream_with_a_fresh_picture_and_its_alarms() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let onair = Onair::start(&format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [[stream]]\nname = \"live\"\n\
         input = \"lavfi:testsrc2=size=320x180:rate=15[out0];sine=frequency=440:sample_rate=48000[out1]\"\n\n\
         [[stream]]\nname = \"dark\"\ninput = \"lavfi:color=black:size=320x180:rate=15\"\n\
         audio = \"none\"\nblack_after = 4\n"
    ))
    .await;
    let (_driver, client) = open_browser().await;
    client
        .goto(&onair.url("/wall"))
        .await
        .unwrap_or_else(|e| panic!("cannot open /wall: {e}"));

    // A tile per stream, each with its picture; the live one with a meter.
    let first = wait_wall(&client, Duration::from_secs(30), "both pictures", |tiles| {
        tiles.len() == 2 && tiles.iter().all(|t| t["shown"] == true)
    })
    .await;
    let live = tile(&first, "live").expect("a live tile");
    assert_eq!(live["width"], 320, "{live}");
    // The picture keeps being refreshed, and each one is fresh.
    let before = live["thumbnail_at"].as_u64().expect("thumbnail time");
    let later = wait_wall(
        &client,
        Duration::from_secs(15),
        "a newer picture",
        |tiles| {
            tile(tiles, "live").is_some_and(|t| {
                t["shown"] == true && t["thumbnail_at"].as_u64().is_some_and(|at| at > before)
            })
        },
    )
    .await;
    let live = tile(&later, "live").expect("live");
    let age = live["now"].as_u64().unwrap_or(0) - live["thumbnail_at"].as_u64().unwrap_or(0);
    assert!(
        age < 10_000,
        "a thumbnail {age} ms old is not fresh: {live}"
    );
    assert!(live["meters"].as_u64().unwrap_or(0) >= 1, "{live}");
    assert_eq!(live["flags"], Value::Array(vec![]), "{live}");

    // The black picture's alarm: raised by the engine, shown on its tile.
    wait_for_black(&onair).await;
    let shown = wait_wall(
        &client,
        Duration::from_secs(10),
        "the BLACK flag",
        |tiles| {
            tile(tiles, "dark")
                .is_some_and(|t| t["flags"].as_array().is_some_and(|f| !f.is_empty()))
        },
    )
    .await;
    let dark = tile(&shown, "dark").expect("dark");
    let flag = &dark["flags"][0];
    assert_eq!(flag["alarm"], "black", "{dark}");
    assert!(
        flag["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("BLACK ")),
        "{dark}"
    );
    let delay = flag["delay_ms"].as_i64().expect("delay");
    assert!(
        delay <= 2_000,
        "the flag appeared {delay} ms after the engine published it"
    );
    eprintln!("the BLACK flag appeared {delay} ms after the engine published it");

    // The thumbnail itself, as the page fetches it.
    let response = ureq::get(&onair.url("/wall/thumbnail/live"))
        .call()
        .expect("thumbnail");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/jpeg")
    );
    let body = response.into_body().read_to_vec().expect("body");
    assert_eq!(&body[..2], &[0xFF, 0xD8], "a JPEG");
    // The same in the metrics and the API.
    let metrics = ureq::get(&onair.url("/metrics"))
        .call()
        .expect("metrics")
        .into_body()
        .read_to_string()
        .expect("text");
    assert!(
        metrics.contains("onair_stream_alarm{stream=\"dark\",alarm=\"black\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("onair_stream_alarm{stream=\"live\",alarm=\"silent\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("onair_stream_audio_peak_dbfs{stream=\"live\",channel=\"1\"}"),
        "{metrics}"
    );
    let api: Value = serde_json::from_str(
        &ureq::get(&onair.url("/api/streams"))
            .call()
            .expect("api")
            .into_body()
            .read_to_string()
            .expect("text"),
    )
    .expect("json");
    let streams = api["streams"].as_array().expect("streams");
    let dark = streams.iter().find(|s| s["name"] == "dark").expect("dark");
    assert_eq!(dark["alarms"][0]["kind"], "black", "{dark}");
    let live = streams.iter().find(|s| s["name"] == "live").expect("live");
    assert!(
        live["audio"]["channels"][0]["peak_dbfs"].is_number(),
        "{live}"
    );
    let _ = client.close().await;
    onair.stop().await;
}

/// Waits until the engine raises `black` on `dark`.
async fn wait_for_black(onair: &Onair) -> onair::engine::Alarm {
    let mut snapshots = onair.engine.subscribe();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = snapshots.borrow_and_update().stream("dark").and_then(|s| {
            s.alarms
                .iter()
                .find(|a| a.kind == AlarmKind::Black)
                .cloned()
        });
        if let Some(alarm) = found {
            return alarm;
        }
        assert!(Instant::now() < deadline, "no black alarm within 30 s");
        let _ = tokio::time::timeout(Duration::from_secs(1), snapshots.changed()).await;
    }
}
