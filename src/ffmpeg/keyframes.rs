//! The source's keyframe interval, measured on the MPEG-TS a stream writes.
//!
//! When the video is copied, every keyframe in the output is one of the
//! camera's, and FFmpeg's TS muxer marks it with the adaptation field's
//! `random_access_indicator`. [`KeyframeScanner`] finds those keyframes (on
//! the video PID named by the PMT) in any run of TS bytes, and
//! [`IntervalMeter`] turns their times into an interval. Both are pure, so
//! they read HLS segments today and can read a live TS pipe as well.

/// MPEG-TS packet size.
const PACKET: usize = 188;
/// The 33-bit PTS wraps around after this many 90 kHz ticks.
const PTS_WRAP: u64 = 1 << 33;
/// Keyframes closer than this (90 kHz ticks, 0.1 s) are not a real interval.
const MIN_GAP: u64 = 9_000;
/// Intervals kept for the estimate.
const KEPT: usize = 8;

/// Finds video keyframes in MPEG-TS bytes fed in chunks of any size.
#[derive(Debug, Default)]
pub struct KeyframeScanner {
    partial: Vec<u8>,
    pmt_pid: Option<u16>,
    video_pid: Option<u16>,
}

impl KeyframeScanner {
    /// A scanner that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the PTS (90 kHz) of every video keyframe that
    /// starts in them, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u64> {
        let mut found = Vec::new();
        let mut data = std::mem::take(&mut self.partial);
        data.extend_from_slice(bytes);
        let mut at = 0;
        while at + PACKET <= data.len() {
            if data[at] != 0x47 {
                // Lost sync: look for the next sync byte.
                at += 1;
                continue;
            }
            if let Some(pts) = self.packet(&data[at..at + PACKET]) {
                found.push(pts);
            }
            at += PACKET;
        }
        self.partial = data[at..].to_vec();
        found
    }

    fn packet(&mut self, p: &[u8]) -> Option<u64> {
        let unit_start = p[1] & 0x40 != 0;
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        let control = (p[3] >> 4) & 0x3;
        let has_payload = control & 0x1 != 0;
        let (random_access, payload_at) = if control & 0x2 != 0 {
            let length = usize::from(p[4]);
            let flags = if length > 0 { p[5] } else { 0 };
            (flags & 0x40 != 0, 5 + length)
        } else {
            (false, 4)
        };
        if !has_payload || payload_at >= PACKET {
            return None;
        }
        let payload = &p[payload_at..];
        if pid == 0 && unit_start {
            self.pmt_pid = parse_pat(payload);
        } else if Some(pid) == self.pmt_pid && unit_start {
            self.video_pid = parse_pmt(payload);
        } else if Some(pid) == self.video_pid && unit_start && random_access {
            return pes_pts(payload);
        }
        None
    }
}

/// The PMT PID of the first program of a PAT section.
fn parse_pat(payload: &[u8]) -> Option<u16> {
    let section = &payload[1 + usize::from(*payload.first()?)..];
    let length = ((usize::from(*section.get(1)?) & 0x0f) << 8) | usize::from(*section.get(2)?);
    let programs = section.get(8..(3 + length).checked_sub(4)?)?;
    programs.chunks_exact(4).find_map(|entry| {
        let number = u16::from_be_bytes([entry[0], entry[1]]);
        (number != 0).then(|| (u16::from(entry[2] & 0x1f) << 8) | u16::from(entry[3]))
    })
}

/// The PID of the first video stream of a PMT section.
fn parse_pmt(payload: &[u8]) -> Option<u16> {
    let section = &payload[1 + usize::from(*payload.first()?)..];
    let length = ((usize::from(*section.get(1)?) & 0x0f) << 8) | usize::from(*section.get(2)?);
    let end = (3 + length).checked_sub(4)?.min(section.len());
    let info_length =
        ((usize::from(*section.get(10)?) & 0x0f) << 8) | usize::from(*section.get(11)?);
    let mut at = 12 + info_length;
    while at + 5 <= end {
        let stream_type = section[at];
        let pid = (u16::from(section[at + 1] & 0x1f) << 8) | u16::from(section[at + 2]);
        let es_info = ((usize::from(section[at + 3]) & 0x0f) << 8) | usize::from(section[at + 4]);
        // MPEG-1/2 video, MPEG-4 part 2, H.264, H.265.
        if matches!(stream_type, 0x01 | 0x02 | 0x10 | 0x1b | 0x24) {
            return Some(pid);
        }
        at += 5 + es_info;
    }
    None
}

/// The PTS of a PES packet that starts in this payload.
fn pes_pts(payload: &[u8]) -> Option<u64> {
    if payload.len() < 14 || payload[..3] != [0, 0, 1] || payload[7] & 0x80 == 0 {
        return None;
    }
    let b = &payload[9..14];
    Some(
        (u64::from(b[0] & 0x0e) << 29)
            | (u64::from(b[1]) << 22)
            | (u64::from(b[2] & 0xfe) << 14)
            | (u64::from(b[3]) << 7)
            | (u64::from(b[4]) >> 1),
    )
}

/// Turns keyframe times into the source's keyframe interval: the median of
/// the last few gaps, so one late or missing keyframe does not swing it.
#[derive(Debug, Default, Clone)]
pub struct IntervalMeter {
    last: Option<u64>,
    gaps: Vec<u64>,
}

impl IntervalMeter {
    /// A meter that has seen no keyframe.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a keyframe's PTS (90 kHz). A jump of more than a minute
    /// (or backwards) is a new timeline: it starts the measurement over.
    /// Keyframes less than a tenth of a second after the previous one are
    /// the same picture: a camera that sends its parameter sets as packets
    /// of their own gets them marked as keyframes a tick apart, and FFmpeg
    /// squeezes a clock that jumped back (an RTSP camera's, once its first
    /// RTCP report arrives) into such ticks.
    pub fn keyframe(&mut self, pts: u64) {
        if let Some(last) = self.last {
            let gap = (pts + PTS_WRAP - last) % PTS_WRAP;
            if gap < MIN_GAP {
                return;
            }
            if gap > 60 * 90_000 {
                self.gaps.clear();
            } else {
                self.gaps.push(gap);
                if self.gaps.len() > KEPT {
                    self.gaps.remove(0);
                }
            }
        }
        self.last = Some(pts);
    }

    /// Seconds between keyframes, rounded to a tenth, once three gaps were
    /// seen (the median of three outvotes a first gap cut short by where
    /// reading began, or a keyframe the source added on a scene change).
    pub fn interval(&self) -> Option<f64> {
        if self.gaps.len() < 3 {
            return None;
        }
        let mut sorted = self.gaps.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2] as f64 / 90_000.0;
        Some((median * 10.0).round() / 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One TS packet: header, optional adaptation field, payload, stuffing.
    fn packet(pid: u16, unit_start: bool, random_access: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x47,
            (if unit_start { 0x40 } else { 0 }) | ((pid >> 8) as u8 & 0x1f),
            pid as u8,
            0,
        ];
        let room = PACKET - 4 - payload.len();
        if room > 0 || random_access {
            p[3] = 0x30;
            let length = room - 1;
            p.push(length as u8);
            if length > 0 {
                p.push(if random_access { 0x40 } else { 0 });
                p.extend(std::iter::repeat_n(0xff, length - 1));
            }
        } else {
            p[3] = 0x10;
        }
        p.extend_from_slice(payload);
        assert_eq!(p.len(), PACKET);
        p
    }

    fn pat(pmt_pid: u16) -> Vec<u8> {
        let mut s = vec![0u8, 0x00, 0xb0, 13, 0, 1, 0xc1, 0, 0];
        s.extend([0, 1, 0xe0 | (pmt_pid >> 8) as u8, pmt_pid as u8]);
        s.extend([0, 0, 0, 0]); // CRC, not checked
        packet(0, true, false, &s)
    }

    fn pmt(pmt_pid: u16, streams: &[(u8, u16)]) -> Vec<u8> {
        let length = 9 + 5 * streams.len() + 4;
        let mut s = vec![
            0u8,
            0x02,
            0xb0,
            length as u8,
            0,
            1,
            0xc1,
            0,
            0,
            0xe1,
            0x00,
            0xf0,
            0,
        ];
        for (kind, pid) in streams {
            s.extend([*kind, 0xe0 | (pid >> 8) as u8, *pid as u8, 0xf0, 0]);
        }
        s.extend([0, 0, 0, 0]);
        packet(pmt_pid, true, false, &s)
    }

    fn pes(pts: u64) -> Vec<u8> {
        vec![
            0,
            0,
            1,
            0xe0,
            0,
            0,
            0x80,
            0x80,
            5,
            0x21 | ((pts >> 29) as u8 & 0x0e),
            (pts >> 22) as u8,
            0x01 | ((pts >> 14) as u8 & 0xfe),
            (pts >> 7) as u8,
            0x01 | ((pts << 1) as u8),
        ]
    }

    #[test]
    fn keyframes_are_found_on_the_video_pid_only() {
        let mut ts = pat(0x1000);
        ts.extend(pmt(0x1000, &[(0x0f, 0x101), (0x24, 0x100)]));
        ts.extend(packet(0x100, true, true, &pes(90_000)));
        ts.extend(packet(0x101, true, true, &pes(90_100))); // audio: every packet is "key"
        ts.extend(packet(0x100, true, false, &pes(93_600))); // a P frame
        ts.extend(packet(0x100, true, true, &pes(270_000)));
        let mut scanner = KeyframeScanner::new();
        assert_eq!(scanner.feed(&ts), vec![90_000, 270_000]);
    }

    #[test]
    fn chunks_of_any_size_give_the_same_keyframes() {
        let mut ts = pat(0x1000);
        ts.extend(pmt(0x1000, &[(0x1b, 0x100)]));
        for i in 0..5u64 {
            ts.extend(packet(0x100, true, true, &pes(i * 180_000)));
            ts.extend(packet(0x100, false, false, &[0u8; 184]));
        }
        let mut scanner = KeyframeScanner::new();
        let mut found = Vec::new();
        for chunk in ts.chunks(100) {
            found.extend(scanner.feed(chunk));
        }
        assert_eq!(found, vec![0, 180_000, 360_000, 540_000, 720_000]);
    }

    #[test]
    fn the_interval_is_the_median_gap_once_two_were_seen() {
        let mut meter = IntervalMeter::new();
        meter.keyframe(1_000);
        meter.keyframe(1_000 + 108_000);
        meter.keyframe(1_000 + 108_000 + 180_000);
        assert_eq!(meter.interval(), None, "a first gap may be cut short");
        meter.keyframe(1_000 + 108_000 + 360_000);
        assert_eq!(meter.interval(), Some(2.0));
        // One late keyframe does not move the median.
        meter.keyframe(1_000 + 108_000 + 360_000 + 270_000);
        meter.keyframe(1_000 + 108_000 + 360_000 + 270_000 + 180_000);
        assert_eq!(meter.interval(), Some(2.0));
    }

    #[test]
    fn a_wrapping_clock_is_followed_and_a_new_timeline_starts_over() {
        let mut meter = IntervalMeter::new();
        meter.keyframe(PTS_WRAP - 135_000);
        meter.keyframe(PTS_WRAP - 45_000);
        meter.keyframe(45_000);
        meter.keyframe(135_000);
        assert_eq!(meter.interval(), Some(1.0));
        meter.keyframe(135_000 + 90 * 90_000);
        assert_eq!(meter.interval(), None, "a jump is a restarted source");
    }

    #[test]
    fn keyframes_a_tick_apart_are_one_picture() {
        let mut meter = IntervalMeter::new();
        for pts in [
            846_298, 846_299, 936_298, 936_299, 1_026_298, 1_026_299, 1_116_298,
        ] {
            meter.keyframe(pts);
        }
        assert_eq!(meter.interval(), Some(1.0));
    }

    #[test]
    fn garbage_before_the_first_sync_byte_is_skipped() {
        let mut ts = vec![0x00, 0x12, 0x34];
        ts.extend(pat(0x1000));
        ts.extend(pmt(0x1000, &[(0x1b, 0x100)]));
        ts.extend(packet(0x100, true, true, &pes(42)));
        assert_eq!(KeyframeScanner::new().feed(&ts), vec![42]);
    }
}
