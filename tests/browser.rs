//! A real browser on a real screen: headless chromium, driven over WebDriver
//! by chromedriver, plays a screen that onair serves from a live FFmpeg,
//! through the screens proxy (`assets/nginx-screens.conf`) a venue puts in
//! front of onair for many screens.
//!
//! Needs Debian's `chromium`, `chromium-driver` and nginx; without them the
//! test fails and says so (CI installs them), it never passes silently.

#[path = "support/chromium.rs"]
mod chromium;
mod common;
#[path = "support/screens_proxy.rs"]
mod screens_proxy;

use chromium::{Onair, open_browser, time_of, wait_advancing, wait_player};
use common::{LAVFI, wait_for};
use onair::engine::Command;
use screens_proxy::screens_proxy;
use serde_json::Value;
use std::time::{Duration, Instant};

// -------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screen_behind_the_proxy_plays_with_overlays_heals_after_ffmpeg_is_killed_and_follows_a_profile_switch()
 {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nstall_timeout = 4\n\n\
         [[stream]]\nname = \"cam\"\ninput = \"{LAVFI}\"\nprofile = \"low-latency\"\n\n\
         [[screen]]\nname = \"foyer\"\nstream = \"cam\"\n\
         banner = {{ text = \"Welcome to the test match\", position = \"bottom\" }}\n\
         ticker = {{ text = \"Next: the second half\", position = \"top\" }}\n\
         logo = {{ image = \"onair-logo.svg\", position = \"top-right\" }}\n\
         clock = {{ format = \"24h:ss\", position = \"top-left\" }}\n"
    );
    let onair = Onair::start(&text).await;
    let (_proxy_dir, proxy) = screens_proxy(onair.server.local_addr());
    let (driver, client) = open_browser().await;
    client
        .goto(&format!("http://127.0.0.1:{}/screen/foyer", proxy.port))
        .await
        .expect("open the screen through the proxy");

    // It plays: time advances, nothing fatal, the overlays are there.
    wait_player(
        &client,
        Duration::from_secs(40),
        "the screen to play",
        |s| s["state"] == "playing" && time_of(s) > 0.5,
    )
    .await;
    // Advancing by 1.5 s of media time is the check (wait_advancing fails otherwise).
    let advanced =
        wait_advancing(&client, Duration::from_secs(20), 1.5, "playback to advance").await;
    assert_eq!(
        advanced["lastFatal"],
        Value::Null,
        "a fatal hls.js error while playing: {advanced:#}"
    );
    assert_eq!(advanced["slateShown"], false);
    assert_eq!(advanced["slateVisible"], false);
    assert_eq!(advanced["profile"], "low-latency");
    assert_eq!(
        advanced["targetDelay"], 0.9,
        "the low-latency profile's screen delay is the target"
    );
    assert_eq!(advanced["banner"], "Welcome to the test match");
    assert_eq!(advanced["ticker"], "Next: the second half");
    assert_eq!(advanced["logo"], "/assets/onair-logo.svg");
    let clock = advanced["clock"].as_str().unwrap_or_default();
    assert!(
        clock.len() == 8 && clock.as_bytes()[2] == b':' && clock.as_bytes()[5] == b':',
        "clock shows {clock:?}"
    );
    let slates_before = advanced["slateCount"].as_u64().unwrap_or(0);
    eprintln!("playing: {advanced}");

    // The stream's FFmpeg dies: the slate comes up over the last frame.
    let snapshot = onair.engine.snapshot();
    let pid = common::running_pid(&snapshot, "cam").expect("cam has a pid");
    common::kill(pid, libc::SIGKILL);
    let killed_at = Instant::now();
    let lost = wait_player(
        &client,
        Duration::from_secs(20),
        "the slate after the kill",
        |s| s["slateVisible"] == true && s["slateCount"].as_u64().unwrap_or(0) > slates_before,
    )
    .await;
    eprintln!("slate {:?} after the kill: {lost}", killed_at.elapsed());

    // The engine brings it back; the screen resumes on its own.
    wait_for(
        &onair.engine,
        Duration::from_secs(30),
        "cam running again",
        |s| common::running_pid(s, "cam").is_some_and(|p| p != pid),
    )
    .await;
    let resumed = wait_player(
        &client,
        Duration::from_secs(40),
        "playback to resume",
        |s| s["state"] == "playing" && s["slateVisible"] == false,
    )
    .await;
    eprintln!(
        "resumed {:?} after the kill: {resumed}",
        killed_at.elapsed()
    );
    let after = wait_advancing(
        &client,
        Duration::from_secs(20),
        1.5,
        "playback to advance after the restart",
    )
    .await;
    assert_eq!(after["slateShown"], false);
    assert_eq!(
        after["banner"], "Welcome to the test match",
        "overlays survive the restart"
    );

    // The operator switches the stream to the stable profile: the open
    // screen follows through /events, with the stable player settings.
    onair.engine.send(Command::SetProfile {
        stream: "cam".into(),
        profile: onair::config::Profile::Stable,
    });
    wait_player(
        &client,
        Duration::from_secs(40),
        "the switch to stable",
        |s| s["profile"] == "stable" && s["targetDelay"] == 6.0 && s["state"] == "playing",
    )
    .await;
    let stable = wait_advancing(
        &client,
        Duration::from_secs(30),
        1.5,
        "playback on the stable profile",
    )
    .await;
    assert_eq!(stable["slateVisible"], false);

    let _ = client.close().await;
    drop(driver);
    drop(proxy);
    onair.stop().await;
}
