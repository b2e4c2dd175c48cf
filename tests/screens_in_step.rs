//! Screens in step: three real browsers play one stream, one of them on a
//! "TV" whose clock is three seconds ahead, and all three show the same
//! frame: the spread of (onair's clock − PROGRAM-DATE-TIME on screen)
//! between them stays within 50 ms, also after the stream switches profile.
//!
//! The true clock is read in each page (a script added before the page's
//! own keeps it), so every figure is taken atomically inside its browser.
//! Needs Debian's `chromium` and `chromium-driver`.

#[path = "support/chromium.rs"]
mod chromium;
mod common;
#[path = "support/screens_proxy.rs"]
mod screens_proxy;

use chromium::{Driver, Onair, clock_shift_script, open_browser_with, wait_player};
use common::LAVFI;
use fantoccini::Client;
use onair::config::Profile;
use onair::engine::Command;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The largest spread between screens the room tolerates, seconds.
const IN_STEP: f64 = 0.050;

/// Three screens on one page, the last one with its clock `shift_ms` off.
async fn open_room(url: &str, shifts: &[i64]) -> Vec<(Driver, Client)> {
    let mut screens = Vec::new();
    for shift in shifts {
        let (driver, client) = open_browser_with(Some(&clock_shift_script(*shift))).await;
        client.goto(url).await.expect("open the screen");
        screens.push((driver, client));
    }
    screens
}

/// Every screen's state, read at about the same time.
async fn read_room(screens: &[(Driver, Client)]) -> Vec<Value> {
    futures_util::future::join_all(
        screens
            .iter()
            .map(|(_, client)| chromium::player_state(client)),
    )
    .await
}

/// Waits until every screen satisfies `check`.
async fn wait_room(
    screens: &[(Driver, Client)],
    within: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool + Copy,
) {
    for (i, (_, client)) in screens.iter().enumerate() {
        wait_player(client, within, &format!("screen {i}: {what}"), check).await;
    }
}

/// max − min of each screen's true latency in one reading of the room.
fn spread(states: &[Value]) -> Option<f64> {
    let latencies: Vec<f64> = states
        .iter()
        .map(|s| s["trueLatency"].as_f64())
        .collect::<Option<_>>()?;
    let max = latencies.iter().cloned().fold(f64::MIN, f64::max);
    let min = latencies.iter().cloned().fold(f64::MAX, f64::min);
    Some(max - min)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = ((values.len() - 1) as f64 * p).round() as usize;
    values[index]
}

/// True when every screen has reached the room's target (its steering has
/// done its work: a screen still catching up may pass others by chance).
fn settled(states: &[Value]) -> bool {
    states.iter().all(
        |s| match (s["trueLatency"].as_f64(), s["targetDelay"].as_f64()) {
            (Some(latency), Some(target)) => (latency - target).abs() < 0.03,
            _ => false,
        },
    )
}

/// Waits (up to `within`) until the room has settled in step, then checks
/// that it stays so over ten more readings; returns their median spread.
async fn assert_in_step(screens: &[(Driver, Client)], within: Duration, when: &str) -> f64 {
    let deadline = Instant::now() + within;
    let mut last = Vec::new();
    loop {
        let states = read_room(screens).await;
        let in_step = spread(&states).is_some_and(|s| s <= IN_STEP);
        if in_step && settled(&states) {
            break;
        }
        if Instant::now() >= deadline {
            // Not every screen at the target (a loaded machine), but the
            // room must be in step all the same.
            assert!(
                in_step,
                "{when}: the screens are not in step after {within:?}: {:#}",
                Value::from(states)
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for _ in 0..10 {
        let states = read_room(screens).await;
        if let Some(spread) = spread(&states) {
            last.push(spread);
        }
        eprintln!(
            "{when}: latencies {:?} spread {:?}",
            states
                .iter()
                .map(|s| s["trueLatency"].as_f64())
                .collect::<Vec<_>>(),
            spread(&states)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(last.len() >= 8, "{when}: too few readings with a picture");
    let typical = median(&mut last);
    assert!(
        typical <= IN_STEP,
        "{when}: the screens drifted apart again: spreads {last:?}"
    );
    typical
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_screens_one_with_its_clock_three_seconds_ahead_show_the_same_frame_across_a_profile_switch()
 {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nstall_timeout = 4\n\n\
         [[stream]]\nname = \"cam\"\ninput = \"{LAVFI}\"\nprofile = \"low-latency\"\n"
    );
    let onair = Onair::start(&text).await;
    let screens = open_room(&onair.url("/watch/cam"), &[0, 0, 3000]).await;

    wait_room(&screens, Duration::from_secs(60), "playing", |s| {
        s["state"] == "playing" && s["trueLatency"].is_number()
    })
    .await;
    // The TV three seconds ahead measured onair's clock three seconds behind its own.
    let shifted = chromium::player_state(&screens[2].1).await;
    let offset = shifted["clockOffset"].as_f64().unwrap_or(f64::NAN);
    assert!(
        (offset + 3000.0).abs() < 100.0,
        "the shifted screen's clock offset is {offset} ms, not about -3000: {shifted:#}"
    );
    let low_latency = assert_in_step(&screens, Duration::from_secs(20), "low-latency").await;

    onair.engine.send(Command::SetProfile {
        stream: "cam".into(),
        profile: Profile::Stable,
    });
    // targetDelay changes once a screen plays the new FFmpeg's playlist.
    wait_room(
        &screens,
        Duration::from_secs(60),
        "playing on stable",
        |s| s["targetDelay"] == 6.0 && s["state"] == "playing" && s["trueLatency"].is_number(),
    )
    .await;
    let stable = assert_in_step(&screens, Duration::from_secs(20), "stable").await;
    eprintln!(
        "spread between screens: low-latency {:.1} ms, stable {:.1} ms",
        low_latency * 1000.0,
        stable * 1000.0
    );
    for (_, client) in &screens {
        let _ = client.clone().close().await;
    }
    drop(screens);
    onair.stop().await;
}

/// One line per screen: what its steering saw and did.
fn brief(states: &[Value]) -> String {
    let ms = |v: &Value| {
        v.as_f64()
            .map_or("-".to_string(), |x| format!("{:.0}", x * 1000.0))
    };
    states
        .iter()
        .map(|s| {
            format!(
                "[latency {} error {} ms rate {} jumps {} stalls {} ahead {} ready {} dropped {}]",
                ms(&s["trueLatency"]),
                s["steeringError"]
                    .as_f64()
                    .map_or("-".into(), |e| format!("{e:.0}")),
                s["rate"],
                s["jumps"],
                s["stalls"],
                ms(&s["ahead"]),
                s["readyState"],
                s["droppedFrames"],
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Glass-to-glass per profile with three screens: a benchmark, not a test
/// (run by `scripts/bench-latency.sh`). `ONAIR_LATENCY_SECONDS` (default 300)
/// is how long each profile is measured after 20 s of settling;
/// `ONAIR_LATENCY_PROFILES` picks profiles; `ONAIR_LATENCY_VIA=proxy` plays
/// through `assets/nginx-screens.conf`; `ONAIR_LL_SCREEN_DELAY`,
/// `ONAIR_LL_HLS_TIME` try other low-latency settings; `ONAIR_LATENCY_TRACE`
/// prints every reading of the room whose spread is over 50 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints figures, run by scripts/bench-latency.sh"]
async fn glass_to_glass_per_profile() {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let seconds: u64 = env("ONAIR_LATENCY_SECONDS")
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let mut low_latency = String::new();
    if let Some(time) = env("ONAIR_LL_HLS_TIME") {
        low_latency += &format!("hls_time = {time}\ngop_seconds = {time}\n");
    }
    if let Some(delay) = env("ONAIR_LL_SCREEN_DELAY") {
        low_latency += &format!("screen_delay = {delay}\n");
    }
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[profile.low-latency]\n{low_latency}\n\
         [[stream]]\nname = \"fast\"\ninput = \"{LAVFI}\"\nprofile = \"low-latency\"\n\n\
         [[stream]]\nname = \"safe\"\ninput = \"{LAVFI}\"\nprofile = \"stable\"\n"
    );
    let onair = Onair::start(&text).await;
    let via_proxy = env("ONAIR_LATENCY_VIA").as_deref() == Some("proxy");
    let proxy = via_proxy.then(|| screens_proxy::screens_proxy(onair.server.local_addr()));
    let base = match &proxy {
        Some((_, nginx)) => format!("http://127.0.0.1:{}", nginx.port),
        None => onair.url(""),
    };
    let only = env("ONAIR_LATENCY_PROFILES").unwrap_or_default();
    let trace = env("ONAIR_LATENCY_TRACE").is_some();
    for (stream, profile) in [("fast", "low-latency"), ("safe", "stable")] {
        if !only.is_empty() && !only.split(',').any(|p| p.trim() == profile) {
            continue;
        }
        let screens = open_room(&format!("{base}/watch/{stream}"), &[0, 0, 3000]).await;
        wait_room(&screens, Duration::from_secs(90), "playing", |s| {
            s["state"] == "playing" && s["trueLatency"].is_number()
        })
        .await;
        tokio::time::sleep(Duration::from_secs(20)).await;
        let before: Vec<u64> = read_room(&screens)
            .await
            .iter()
            .map(|s| s["stalls"].as_u64().unwrap_or(0))
            .collect();
        let (mut latencies, mut spreads, mut missing) = (Vec::new(), Vec::new(), 0);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(seconds) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let states = read_room(&screens).await;
            for state in &states {
                match state["trueLatency"].as_f64() {
                    Some(latency) => latencies.push(latency),
                    None => missing += 1,
                }
            }
            let this = spread(&states);
            if trace && this.is_some_and(|s| s > IN_STEP) {
                println!(
                    "over {:.0} ms at {:.0} s: {}",
                    IN_STEP * 1000.0,
                    started.elapsed().as_secs_f64(),
                    brief(&states)
                );
            }
            spreads.extend(this);
        }
        let after = read_room(&screens).await;
        let stalls: u64 = after
            .iter()
            .zip(&before)
            .map(|(s, b)| s["stalls"].as_u64().unwrap_or(0).saturating_sub(*b))
            .sum();
        let slates: u64 = after
            .iter()
            .map(|s| s["slateCount"].as_u64().unwrap_or(0))
            .sum();
        let target = after[0]["targetDelay"].as_f64().unwrap_or(f64::NAN);
        println!(
            "latency {profile:<11} target {target:.2} s: glass-to-glass median {:.3} s, p95 {:.3} s \
             ({} readings of 3 screens over {seconds} s{}); stalls {stalls}, slates {slates}, \
             readings without a picture {missing}; spread between screens median {:.1} ms, p95 {:.1} ms",
            median(&mut latencies),
            percentile(&mut latencies, 0.95),
            latencies.len(),
            if via_proxy { ", through the proxy" } else { "" },
            median(&mut spreads) * 1000.0,
            percentile(&mut spreads, 0.95) * 1000.0,
        );
        for (_, client) in &screens {
            let _ = client.clone().close().await;
        }
    }
    drop(proxy);
    onair.stop().await;
}
