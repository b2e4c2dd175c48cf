//! Short, fixed-width renderings of numbers and times for the console.
//!
//! Table cells are narrow and an operator reads them at a glance, so every
//! value has one compact spelling. All functions are pure: the clock and the
//! time zone are arguments, which keeps the snapshot tests stable.

use crate::engine::UnixMillis;

/// A wall-clock time as `HH:MM:SS`, shifted by the local UTC offset.
pub fn clock(at: UnixMillis, utc_offset_secs: i32) -> String {
    let secs = (at / 1000) as i64 + i64::from(utc_offset_secs);
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        of_day / 3600,
        (of_day / 60) % 60,
        of_day % 60
    )
}

/// A span of time in at most two units: `59s`, `12m03s`, `3h04m`, `2d03h`.
pub fn duration(millis: u64) -> String {
    let secs = millis / 1000;
    let (d, h, m, s) = (
        secs / 86_400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Seconds left until `at`, rounded up, never negative: `4s`.
pub fn countdown(at: UnixMillis, now: UnixMillis) -> String {
    let left = at.saturating_sub(now);
    format!("{}s", left.div_ceil(1000))
}

/// A size in bytes with binary units: `812K`, `45.2M`, `1.21G`.
pub fn bytes(value: u64) -> String {
    const K: f64 = 1024.0;
    let v = value as f64;
    if v < K * K {
        format!("{:.0}K", v / K)
    } else if v < K * K * K {
        let m = v / (K * K);
        if m < 100.0 {
            format!("{m:.1}M")
        } else {
            format!("{m:.0}M")
        }
    } else {
        format!("{:.2}G", v / (K * K * K))
    }
}

/// A bitrate given in kbit/s: `850k`, `2.50M`.
pub fn bitrate(kbps: f64) -> String {
    if kbps < 1000.0 {
        format!("{kbps:.0}k")
    } else {
        format!("{:.2}M", kbps / 1000.0)
    }
}

/// A CPU share: one decimal below 100 %, none above.
pub fn percent(value: f32) -> String {
    if value < 99.95 {
        format!("{value:.1}%")
    } else {
        format!("{value:.0}%")
    }
}

/// Frames per second: one decimal below 100.
pub fn fps(value: f64) -> String {
    if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// FFmpeg's speed relative to real time: `1.00x`.
pub fn speed(value: f64) -> String {
    format!("{value:.2}x")
}

/// The eight heights of a sparkline bar.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Scale of a sparkline never goes below this many percent, so that a
/// stream idling between 0.5 % and 1 % does not look like it is thrashing.
const SPARK_MIN_SCALE: f32 = 10.0;

/// A text sparkline of `width` cells covering the `window` milliseconds
/// before `now`. Each cell shows the highest sample of its slice of time.
/// A slice without samples repeats the previous cell (samples arrive about
/// once a second, slices can be shorter); a slice holding only `None`
/// (no process then) is blank, as is the time before the first sample.
/// Samples are `(time, value)`, oldest first.
pub fn sparkline(
    samples: &[(UnixMillis, Option<f32>)],
    now: UnixMillis,
    window: u64,
    width: usize,
) -> String {
    /// One cell's slice of time: its highest value, and whether its
    /// newest sample says the process was gone.
    #[derive(Clone, Copy, Default)]
    struct Slot {
        seen: bool,
        peak: Option<f32>,
        ends_in_gap: bool,
    }
    if width == 0 {
        return String::new();
    }
    let start = now.saturating_sub(window);
    let mut slots = vec![Slot::default(); width];
    for &(at, value) in samples {
        if at < start || at > now {
            continue;
        }
        let offset = at - start;
        let index = ((offset as u128 * width as u128) / (window.max(1) as u128 + 1)) as usize;
        let slot = &mut slots[index.min(width - 1)];
        slot.seen = true;
        slot.ends_in_gap = value.is_none();
        if let Some(v) = value {
            slot.peak = Some(slot.peak.map_or(v, |p: f32| p.max(v)));
        }
    }
    let scale = slots
        .iter()
        .filter_map(|slot| slot.peak)
        .fold(SPARK_MIN_SCALE, f32::max);
    let bar = |v: f32| {
        let level = ((v.max(0.0) / scale) * BARS.len() as f32).ceil() as usize;
        BARS[level.clamp(1, BARS.len()) - 1]
    };
    let mut carried: Option<f32> = None;
    slots
        .into_iter()
        .map(|slot| {
            let shown = if slot.seen { slot.peak } else { carried };
            if slot.seen {
                carried = if slot.ends_in_gap { None } else { slot.peak };
            }
            shown.map_or(' ', bar)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_applies_the_offset_and_wraps_at_midnight() {
        let at = (23 * 3600 + 59 * 60 + 30) * 1000;
        assert_eq!(clock(at, 0), "23:59:30");
        assert_eq!(clock(at, 3600), "00:59:30");
        assert_eq!(clock(30_000, -3600), "23:00:30");
    }

    #[test]
    fn durations_use_two_units_at_most() {
        assert_eq!(duration(59_999), "59s");
        assert_eq!(duration(12 * 60_000 + 3_000), "12m03s");
        assert_eq!(duration(3 * 3_600_000 + 4 * 60_000 + 59_000), "3h04m");
        assert_eq!(duration(2 * 86_400_000 + 3 * 3_600_000), "2d03h");
    }

    #[test]
    fn countdown_rounds_up_and_stops_at_zero() {
        assert_eq!(countdown(10_001, 6_000), "5s");
        assert_eq!(countdown(10_000, 6_000), "4s");
        assert_eq!(countdown(5_000, 6_000), "0s");
    }

    #[test]
    fn sizes_and_rates_stay_short() {
        assert_eq!(bytes(800 * 1024), "800K");
        assert_eq!(bytes(45 * 1024 * 1024 + 200 * 1024), "45.2M");
        assert_eq!(bytes(300 * 1024 * 1024), "300M");
        assert_eq!(bytes(1300 * 1024 * 1024), "1.27G");
        assert_eq!(bitrate(850.4), "850k");
        assert_eq!(bitrate(2500.0), "2.50M");
        assert_eq!(percent(12.34), "12.3%");
        assert_eq!(percent(180.4), "180%");
    }

    #[test]
    fn sparkline_is_blank_before_the_first_sample_and_scales_to_the_peak() {
        let now = 60_000;
        let samples = [
            (30_000, Some(10.0)),
            (45_000, Some(40.0)),
            (59_000, Some(20.0)),
        ];
        let line = sparkline(&samples, now, 60_000, 4);
        assert_eq!(line.chars().count(), 4);
        assert_eq!(line, " ▂█▄");
    }

    #[test]
    fn sparkline_ignores_samples_outside_the_window() {
        let samples = [(1_000, Some(90.0)), (100_000, Some(5.0))];
        assert_eq!(sparkline(&samples, 100_000, 60_000, 3), "  ▄");
    }

    #[test]
    fn sparkline_goes_blank_when_the_process_is_gone() {
        let samples = [(0, Some(10.0)), (20_000, None)];
        assert_eq!(sparkline(&samples, 60_000, 60_000, 3), "█  ");
    }
}
