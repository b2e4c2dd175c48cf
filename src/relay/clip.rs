//! A slate clip: a few seconds of transport stream, encoded once to match
//! the live feed, played on a loop in real time while the slate is on the
//! air.
//!
//! Encoding a still card live costs a fifth to two fifths of a core per
//! stream (720p to 1080p at 30 fps with libx264); replaying an encoded clip
//! costs next to nothing, so a venue-wide outage that takes every source
//! down at once does not also take the machine down. Each loop continues
//! the previous one's clock, so the feed the splicer sees never jumps.

use super::packet::{self, PACKET_SIZE, SYNC_BYTE, TICKS_PER_SECOND};
use super::psi;
use std::time::Duration;
use tokio::time::Instant;

/// Packets are handed out this much ahead of their time, so a late timer
/// never starves an output.
const LEAD_TICKS: i64 = TICKS_PER_SECOND / 10;

/// Why a clip cannot be played.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipError {
    /// The encoder produced nothing usable.
    #[error("the slate clip holds no timed packets ({0} bytes)")]
    Empty(usize),
    /// The encoder produced a clip without a keyframe to start on.
    #[error("the slate clip has no keyframe")]
    NoKeyframe,
}

/// An encoded slate, ready to loop.
#[derive(Debug, Clone)]
pub struct Clip {
    packets: Vec<u8>,
    /// When each packet is due, in ticks from the clip's start.
    due: Vec<i64>,
    /// One loop's length in ticks.
    duration: i64,
}

impl Clip {
    /// Reads an encoded transport stream (as FFmpeg wrote it).
    pub fn parse(ts: &[u8]) -> Result<Clip, ClipError> {
        let packets: Vec<&[u8]> = ts
            .chunks_exact(PACKET_SIZE)
            .filter(|p| p[0] == SYNC_BYTE)
            .collect();
        let mut first: Option<i64> = None;
        let mut video_dts: Vec<i64> = Vec::new();
        let mut keyframe = false;
        let mut due = Vec::with_capacity(packets.len());
        let mut current = 0i64;
        let mut pmt_pid = None;
        let mut video_pid = None;
        for p in &packets {
            let pid = packet::pid(p);
            if pid == packet::PAT_PID {
                pmt_pid = pmt_pid.or(psi::pat_pmt_pid(p));
            } else if Some(pid) == pmt_pid && video_pid.is_none() {
                video_pid = psi::parse_pmt(p).and_then(|pmt| pmt.video_pid());
            }
            if let Some(ts) = packet::pes_timestamps(p).and_then(|(pts, dts)| dts.or(pts)) {
                let start = *first.get_or_insert(ts);
                let at = packet::ticks_between(start, ts);
                current = current.max(at);
                if packet::random_access(p) {
                    keyframe = true;
                }
                if Some(pid) == video_pid {
                    video_dts.push(at);
                }
            }
            due.push(current);
        }
        if first.is_none() {
            return Err(ClipError::Empty(ts.len()));
        }
        if !keyframe {
            return Err(ClipError::NoKeyframe);
        }
        // One loop lasts from the first frame to one frame after the last.
        video_dts.sort_unstable();
        video_dts.dedup();
        let frame = video_dts
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|d| *d > 0)
            .min()
            .unwrap_or(TICKS_PER_SECOND / 25);
        let duration = video_dts.last().copied().unwrap_or(current) + frame;
        Ok(Clip {
            packets: packets.concat(),
            due,
            duration: duration.max(frame),
        })
    }

    /// One loop's length.
    pub fn duration(&self) -> Duration {
        Duration::from_micros((self.duration * 1_000_000 / TICKS_PER_SECOND) as u64)
    }

    /// The clip's size in bytes.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// True for a clip with no packet.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
}

/// Plays a clip on a loop from the moment it was started.
#[derive(Debug)]
pub struct ClipPlayer {
    started: Instant,
    next: usize,
    loops: i64,
}

impl ClipPlayer {
    /// Starts playing at `now`.
    pub fn start(now: Instant) -> ClipPlayer {
        ClipPlayer {
            started: now,
            next: 0,
            loops: 0,
        }
    }

    fn ticks_at(&self, now: Instant) -> i64 {
        let elapsed = now.saturating_duration_since(self.started);
        (elapsed.as_micros() as i64) * TICKS_PER_SECOND / 1_000_000
    }

    /// Appends every packet due by `now` to `out`, timestamps moved on by
    /// the loops already played.
    pub fn due(&mut self, clip: &Clip, now: Instant, out: &mut Vec<u8>) {
        let elapsed = self.ticks_at(now) + LEAD_TICKS;
        loop {
            if self.next == clip.due.len() {
                self.next = 0;
                self.loops += 1;
            }
            let at = self.loops * clip.duration + clip.due[self.next];
            if at > elapsed {
                return;
            }
            let start = out.len();
            let offset = self.next * PACKET_SIZE;
            out.extend_from_slice(&clip.packets[offset..offset + PACKET_SIZE]);
            let p = &mut out[start..];
            let shift = self.loops * clip.duration;
            if shift != 0 {
                packet::shift_pes_timestamps(p, shift);
                packet::shift_pcr(p, shift);
            }
            self.next += 1;
        }
    }

    /// When the next packet falls due.
    pub fn next_due(&self, clip: &Clip) -> Instant {
        let (loops, index) = if self.next == clip.due.len() {
            (self.loops + 1, 0)
        } else {
            (self.loops, self.next)
        };
        let at = loops * clip.duration + clip.due[index] - LEAD_TICKS;
        self.started + Duration::from_micros((at.max(0) * 1_000_000 / TICKS_PER_SECOND) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::packet::tests::{continuation, pes_packet};
    use crate::relay::psi::tests::{pat, pmt};

    /// A 1 s clip at 10 fps: tables, then a keyframe and nine frames.
    fn clip() -> Clip {
        let mut ts = Vec::new();
        ts.extend(pat(0));
        ts.extend(pmt(0, 0, false));
        for i in 0..10i64 {
            let dts = 126_000 + i * 9000;
            ts.extend(pes_packet(0x100, 0, dts, None, None, i == 0));
            ts.extend(continuation(0x100, 0));
        }
        Clip::parse(&ts).expect("clip")
    }

    fn timestamps(out: &[u8]) -> Vec<i64> {
        out.chunks_exact(PACKET_SIZE)
            .filter_map(|p| packet::pes_timestamps(p).and_then(|(pts, dts)| dts.or(pts)))
            .collect()
    }

    #[test]
    fn a_clip_lasts_from_its_first_frame_to_one_frame_after_its_last() {
        let c = clip();
        assert_eq!(c.duration(), Duration::from_secs(1));
        assert_eq!(c.len(), 22 * PACKET_SIZE);
    }

    #[test]
    fn packets_come_in_real_time_and_loops_continue_the_clock() {
        let c = clip();
        let t0 = Instant::now();
        let mut player = ClipPlayer::start(t0);
        let mut out = Vec::new();
        player.due(&c, t0, &mut out);
        // The tables and what falls within the lead at once, not the whole clip.
        assert_eq!(timestamps(&out), vec![126_000, 135_000]);
        out.clear();
        player.due(&c, t0 + Duration::from_millis(2450), &mut out);
        let times = timestamps(&out);
        assert_eq!(times.len(), 24, "{times:?}");
        for pair in times.windows(2) {
            assert_eq!(pair[1] - pair[0], 9000, "{times:?}");
        }
        assert!(player.next_due(&c) > t0 + Duration::from_millis(2450));
    }

    #[test]
    fn a_clip_without_timestamps_or_keyframe_is_refused() {
        let mut ts = Vec::new();
        ts.extend(pat(0));
        assert_eq!(
            Clip::parse(&ts).map(|_| ()),
            Err(ClipError::Empty(PACKET_SIZE))
        );
        ts.extend(pes_packet(0x100, 0, 10, None, None, false));
        assert_eq!(Clip::parse(&ts).map(|_| ()), Err(ClipError::NoKeyframe));
    }
}
