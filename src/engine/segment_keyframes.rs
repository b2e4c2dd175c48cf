//! The camera's keyframe interval, read from the HLS segments a copying
//! FFmpeg writes, at a cost that does not grow with the length of a run.
//!
//! Each segment is read once, as it appears: the next segment's name is
//! known (`seg-N.ts` follows `seg-N-1.ts`), so looking for it is one `open`,
//! and the directory is listed only to find where to start, or again when
//! the expected segment stays missing for a while. Once a full window of
//! keyframe gaps is measured the interval is known and stable: reading
//! pauses, and every [`RECHECK_EVERY`] a fresh window is measured from the
//! newest segment, so a camera reconfigured meanwhile is still noticed.

use crate::ffmpeg::keyframes::{IntervalMeter, KeyframeScanner};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the interval is trusted before a fresh measurement.
pub(crate) const RECHECK_EVERY: Duration = Duration::from_secs(60);
/// Segment files read per check, at most (a check runs about once a second).
const SEGMENTS_PER_CHECK: usize = 4;
/// Checks in a row that find no new segment before the directory is listed
/// again (a segment removed before it was read, a number skipped).
const RELIST_AFTER: u32 = 5;

/// Reads the keyframes of the segments an HLS output writes and measures
/// their interval.
#[derive(Debug)]
pub(crate) struct SegmentKeyframes {
    dir: PathBuf,
    /// The number of the next segment to read, once a listing found one.
    next: Option<u64>,
    /// Checks in a row that found no new segment.
    misses: u32,
    meter: IntervalMeter,
    /// While the interval is known: when to measure it again.
    resume_at: Option<Instant>,
}

impl SegmentKeyframes {
    /// Measures the segments written to `dir` from now on.
    pub(crate) fn new(dir: &Path) -> Self {
        SegmentKeyframes {
            dir: dir.to_path_buf(),
            next: None,
            misses: 0,
            meter: IntervalMeter::new(),
            resume_at: None,
        }
    }

    /// Reads the segments written since the last call (none while the
    /// interval is known and not due for a new measurement); returns the
    /// interval once measured.
    pub(crate) fn read_new(&mut self, now: Instant) -> Option<f64> {
        if let Some(at) = self.resume_at {
            if now < at {
                return None;
            }
            // A fresh window from the newest segment: the gap since the
            // last keyframe read is no keyframe interval.
            self.resume_at = None;
            self.next = None;
            self.meter = IntervalMeter::new();
        }
        if self.next.is_none() || self.misses >= RELIST_AFTER {
            self.misses = 0;
            self.next = self.first_unread().or(self.next);
        }
        let mut read = 0;
        while read < SEGMENTS_PER_CHECK {
            let Some(n) = self.next else { break };
            // Read whole (a segment is complete once it has its name) and
            // dropped at once: nothing of it stays in memory.
            match std::fs::read(self.dir.join(format!("seg-{n}.ts"))) {
                Ok(bytes) => {
                    // Each segment starts with its own PAT and PMT.
                    let mut scanner = KeyframeScanner::new();
                    for pts in scanner.feed(&bytes) {
                        self.meter.keyframe(pts);
                    }
                    read += 1;
                    self.next = Some(n + 1);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                // Unreadable: go on with the next one.
                Err(_) => self.next = Some(n + 1),
            }
        }
        self.misses = if read == 0 { self.misses + 1 } else { 0 };
        if self.meter.settled() {
            self.resume_at = Some(now + RECHECK_EVERY);
        }
        self.meter.interval()
    }

    /// Where to read from after a listing: the oldest segment not read yet
    /// when reading goes on, the newest one (complete: the muxer writes
    /// a temporary file and renames it) when it starts.
    fn first_unread(&self) -> Option<u64> {
        let numbers = std::fs::read_dir(&self.dir)
            .ok()?
            .flatten()
            .filter_map(|e| segment_number(&e.file_name().to_string_lossy()));
        match self.next {
            Some(next) => numbers.filter(|n| *n >= next).min(),
            None => numbers.max(),
        }
    }
}

/// `seg-1732900000.ts` → 1732900000.
fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?.strip_suffix(".ts")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffmpeg::keyframes::synthetic::synthetic_ts;

    /// A segment with keyframes `every` 90 kHz ticks, from `first`.
    fn segment(dir: &Path, n: u64, first: u64, every: u64, keyframes: u64) {
        let times: Vec<u64> = (0..keyframes).map(|i| first + i * every).collect();
        std::fs::write(dir.join(format!("seg-{n}.ts")), synthetic_ts(&times)).expect("write");
    }

    #[test]
    fn segment_names_are_numbers() {
        assert_eq!(segment_number("seg-1732900000.ts"), Some(1732900000));
        assert_eq!(segment_number("seg-1.ts.tmp"), None);
        assert_eq!(segment_number("index.m3u8"), None);
    }

    #[test]
    fn segments_are_read_once_then_reading_pauses_until_a_fresh_measurement() {
        let dir = tempfile::tempdir().expect("dir");
        let mut k = SegmentKeyframes::new(dir.path());
        let start = Instant::now();
        assert_eq!(k.read_new(start), None, "nothing written yet");

        // Keyframes every 0.5 s, two per one-second segment.
        segment(dir.path(), 100, 0, 45_000, 2);
        assert_eq!(k.read_new(start), None, "one gap is no interval");
        for n in 101..=102 {
            segment(dir.path(), n, (n - 100) * 90_000, 45_000, 2);
        }
        assert_eq!(k.read_new(start), Some(0.5));
        assert!(k.resume_at.is_none(), "a window of gaps is not full yet");
        for n in 103..=104 {
            segment(dir.path(), n, (n - 100) * 90_000, 45_000, 2);
        }
        assert_eq!(k.read_new(start), Some(0.5));
        assert_eq!(k.next, Some(105));
        assert_eq!(
            k.resume_at,
            Some(start + RECHECK_EVERY),
            "known: reading pauses"
        );

        // The camera now keys every 2 s: unseen until the next measurement.
        for n in 105..=110 {
            segment(dir.path(), n, n * 180_000, 180_000, 1);
        }
        let later = start + RECHECK_EVERY / 2;
        assert_eq!(k.read_new(later), None, "paused");
        assert_eq!(k.next, Some(105), "nothing was read");

        // The fresh measurement starts at the newest segment, with a meter
        // that does not count the pause as a gap.
        let due = start + RECHECK_EVERY;
        let mut measured = k.read_new(due);
        assert_eq!(k.next, Some(111));
        for n in 111..=114 {
            segment(dir.path(), n, n * 180_000, 180_000, 1);
            measured = k.read_new(due);
        }
        assert_eq!(measured, Some(2.0));
    }

    #[test]
    fn a_segment_removed_before_it_was_read_is_skipped_after_a_few_checks() {
        let dir = tempfile::tempdir().expect("dir");
        let mut k = SegmentKeyframes::new(dir.path());
        let now = Instant::now();
        segment(dir.path(), 7, 0, 90_000, 1);
        k.read_new(now);
        assert_eq!(k.next, Some(8));
        // seg-8 never shows up (removed first); seg-9 and seg-10 do.
        segment(dir.path(), 9, 2 * 90_000, 90_000, 1);
        segment(dir.path(), 10, 3 * 90_000, 90_000, 1);
        for _ in 0..RELIST_AFTER {
            k.read_new(now);
            assert_eq!(k.next, Some(8), "waits for the next segment first");
        }
        k.read_new(now);
        assert_eq!(k.next, Some(11), "listed again, read 9 and 10");
    }
}
