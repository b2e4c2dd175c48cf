//! The splicer's switches, on synthetic FFmpeg-like feeds.
use super::*;
use crate::relay::packet::tests::{continuation, pes_packet};
use crate::relay::psi::tests::{pat, pmt};

const VIDEO: u16 = 0x100;
const AUDIO: u16 = 0x101;
/// 25 fps.
const FRAME: i64 = 3600;

/// A synthetic FFmpeg-like feed: tables, then one video frame (two
/// packets, a keyframe every `gop` frames, PCR on keyframes) and one
/// audio frame per tick.
struct FakeFeed {
    clock: i64,
    frame: u64,
    gop: u64,
    audio: bool,
    cc: [u8; 3],
}

impl FakeFeed {
    fn new(clock: i64, gop: u64) -> FakeFeed {
        FakeFeed {
            clock,
            frame: 0,
            gop,
            audio: true,
            cc: [0; 3],
        }
    }

    fn next_cc(&mut self, i: usize) -> u8 {
        let c = self.cc[i];
        self.cc[i] = (c + 1) & 15;
        c
    }

    /// The packets of one frame period.
    fn tick(&mut self) -> Vec<[u8; PACKET_SIZE]> {
        let mut v = Vec::new();
        if self.frame % self.gop == 0 {
            v.push(pat(0));
            v.push(pmt(0, 0, self.audio));
        }
        let key = self.frame % self.gop == 0;
        let cc = self.next_cc(0);
        v.push(pes_packet(
            VIDEO,
            cc,
            self.clock + FRAME,
            Some(self.clock),
            key.then_some(self.clock - 100),
            key,
        ));
        let cc = self.next_cc(1);
        v.push(continuation(VIDEO, cc));
        if self.audio {
            let cc = self.next_cc(2);
            v.push(pes_packet(AUDIO, cc, self.clock, None, None, false));
        }
        self.clock += FRAME;
        self.frame += 1;
        v
    }
}

/// (pid, counter, dts-or-pts, keyframe) of every output packet.
fn read(out: &[u8]) -> Vec<(u16, u8, Option<i64>, bool)> {
    out.chunks_exact(PACKET_SIZE)
        .map(|p| {
            (
                packet::pid(p),
                packet::continuity(p),
                packet::pes_timestamps(p).and_then(|(pts, dts)| dts.or(pts)),
                packet::random_access(p),
            )
        })
        .collect()
}

fn run(
    s: &mut Splicer,
    feed: Feed,
    f: &mut FakeFeed,
    ticks: usize,
    out: &mut Vec<u8>,
) -> Vec<Feed> {
    let mut switches = Vec::new();
    for _ in 0..ticks {
        for p in f.tick() {
            switches.extend(s.push(feed, &p, out));
        }
    }
    switches
}

fn video_times(out: &[u8]) -> Vec<i64> {
    read(out)
        .into_iter()
        .filter(|(pid, _, ts, _)| *pid == VIDEO && ts.is_some())
        .map(|(_, _, ts, _)| ts.unwrap_or_default())
        .collect()
}

/// Every PID's counter goes up by one per payload packet, with no gap.
fn assert_counters_continuous(out: &[u8]) {
    let mut last: Vec<(u16, u8)> = Vec::new();
    for p in out.chunks_exact(PACKET_SIZE) {
        let (pid, cc) = (packet::pid(p), packet::continuity(p));
        match last.iter_mut().find(|(x, _)| *x == pid) {
            Some((_, previous)) => {
                assert_eq!(cc, (*previous + 1) & 15, "pid {pid:#x}");
                *previous = cc;
            }
            None => last.push((pid, cc)),
        }
    }
}

#[test]
fn the_first_feed_starts_on_a_keyframe_with_its_own_clock() {
    let mut s = Splicer::new();
    let mut live = FakeFeed::new(900_000, 10);
    let mut out = Vec::new();
    // Joining mid-GOP: nothing until the next keyframe.
    live.frame = 3;
    let switches = run(&mut s, Feed::Live, &mut live, 10, &mut out);
    assert_eq!(switches, vec![Feed::Live]);
    let packets = read(&out);
    assert_eq!(packets[0].0, PAT_PID, "tables come first");
    assert_eq!(packets[1].0, 0x1000);
    assert!(packets[2].3, "then a keyframe");
    assert_eq!(packets[2].2, Some(900_000 + 7 * FRAME), "clock untouched");
    assert_counters_continuous(&out);
    assert_eq!(s.tables().len(), 2);
}

#[test]
fn the_slate_continues_the_clock_one_frame_after_live_and_back() {
    let mut s = Splicer::new();
    let mut live = FakeFeed::new(1_000_000, 10);
    let mut slate = FakeFeed::new(126_000, 5);
    let mut out = Vec::new();
    run(&mut s, Feed::Live, &mut live, 20, &mut out);
    let last_live = *video_times(&out).last().expect("live frames");

    // The source dies; the slate starts mid-GOP and is switched in on its keyframe.
    s.want(Feed::Slate);
    slate.frame = 2;
    let switches = run(&mut s, Feed::Slate, &mut slate, 12, &mut out);
    assert_eq!(switches, vec![Feed::Slate]);
    assert_eq!(s.active(), Some(Feed::Slate));

    // Live is back (a new process, a new clock): switched on its first keyframe.
    s.reset(Feed::Live);
    s.want(Feed::Live);
    let mut live = FakeFeed::new(50_000, 10);
    live.frame = 6;
    let switches = run(&mut s, Feed::Live, &mut live, 30, &mut out);
    assert_eq!(switches, vec![Feed::Live]);

    let times = video_times(&out);
    for pair in times.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            FRAME,
            "one frame apart all along: {times:?}"
        );
    }
    assert!(times.contains(&(last_live + FRAME)));
    assert_counters_continuous(&out);
}

#[test]
fn audio_that_would_go_back_in_time_after_a_switch_is_dropped_whole() {
    let mut s = Splicer::new();
    let mut live = FakeFeed::new(0, 5);
    let mut out = Vec::new();
    run(&mut s, Feed::Live, &mut live, 5, &mut out);
    // An audio PES far ahead of the video on the output clock...
    let ahead = pes_packet(AUDIO, 9, 10 * FRAME, None, None, false);
    s.push(Feed::Live, &ahead, &mut out);
    // ...then the slate comes in: its audio lands before that one.
    s.want(Feed::Slate);
    let mut slate = FakeFeed::new(0, 5);
    let mut slate_out = Vec::new();
    run(&mut s, Feed::Slate, &mut slate, 3, &mut slate_out);
    let audio: Vec<i64> = read(&slate_out)
        .into_iter()
        .filter(|(pid, _, ts, _)| *pid == AUDIO && ts.is_some())
        .filter_map(|(_, _, ts, _)| ts)
        .collect();
    assert!(audio.is_empty(), "{audio:?}");
    // The continuation of a dropped PES is dropped too.
    let tail = continuation(AUDIO, 0);
    let before = slate_out.len();
    s.push(Feed::Slate, &tail, &mut slate_out);
    assert_eq!(slate_out.len(), before);
    let mut all = out;
    all.extend(slate_out);
    assert_counters_continuous(&all);
}

#[test]
fn a_pmt_that_changes_at_a_switch_gets_a_new_version() {
    let mut s = Splicer::new();
    let mut live = FakeFeed::new(0, 5);
    let mut out = Vec::new();
    run(&mut s, Feed::Live, &mut live, 5, &mut out);
    s.want(Feed::Slate);
    let mut slate = FakeFeed::new(0, 5);
    slate.audio = false;
    let mut slate_out = Vec::new();
    run(&mut s, Feed::Slate, &mut slate, 5, &mut slate_out);
    let versions: Vec<u8> = slate_out
        .chunks_exact(PACKET_SIZE)
        .filter_map(psi::parse_pmt)
        .map(|p| p.version)
        .collect();
    assert!(!versions.is_empty());
    assert!(versions.iter().all(|v| *v == 1), "{versions:?}");
    // Same content again: the version stays.
    s.want(Feed::Live);
    let mut back = Vec::new();
    run(&mut s, Feed::Live, &mut live, 5, &mut back);
    let versions: Vec<u8> = back
        .chunks_exact(PACKET_SIZE)
        .filter_map(psi::parse_pmt)
        .map(|p| p.version)
        .collect();
    assert!(versions.iter().all(|v| *v == 2), "{versions:?}");
}

#[test]
fn a_feed_whose_own_clock_jumps_is_reanchored() {
    let mut s = Splicer::new();
    let mut live = FakeFeed::new(500_000, 5);
    let mut out = Vec::new();
    run(&mut s, Feed::Live, &mut live, 5, &mut out);
    live.clock = 7; // the source's clock restarts
    run(&mut s, Feed::Live, &mut live, 5, &mut out);
    let times = video_times(&out);
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], FRAME, "{times:?}");
    }
}

#[test]
fn a_slate_is_not_switched_in_unless_wanted() {
    let mut s = Splicer::new();
    let mut live = FakeFeed::new(0, 5);
    let mut slate = FakeFeed::new(0, 5);
    let mut out = Vec::new();
    run(&mut s, Feed::Live, &mut live, 3, &mut out);
    let before = out.len();
    assert!(run(&mut s, Feed::Slate, &mut slate, 10, &mut out).is_empty());
    assert_eq!(out.len(), before);
    assert_eq!(s.active(), Some(Feed::Live));
}

#[test]
fn timestamps_cross_the_33_bit_wrap_without_a_drop() {
    let mut s = Splicer::new();
    let mut live = FakeFeed::new(TIMESTAMP_MODULO - 5 * FRAME, 5);
    let mut out = Vec::new();
    run(&mut s, Feed::Live, &mut live, 10, &mut out);
    assert_eq!(video_times(&out).len(), 10);
}
