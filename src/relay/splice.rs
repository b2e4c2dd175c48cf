//! The switch between a stream's two feeds, live (the ingest) and the
//! slate, as one continuous transport stream for the outputs.
//!
//! Each feed is an MPEG-TS of its own, with its own clock and continuity
//! counters. The splicer forwards the active feed's packets and, at a
//! switch, computes one offset for the new feed so that its first keyframe
//! lands one frame after the last frame the outputs received. From then on
//! every PTS, DTS and PCR of that feed is moved by the offset, and every
//! continuity counter is renumbered per PID, so a reader (an output FFmpeg)
//! sees a single stream whose clock never jumps back.
//!
//! A switch only happens on a packet that starts a video keyframe (random
//! access indicator on the video PID): the outputs never get a picture
//! that cannot be decoded. Pure and synchronous: bytes in, bytes out.

use super::packet::{self, PACKET_SIZE, PAT_PID, TICKS_PER_SECOND, TIMESTAMP_MODULO};
use super::psi::{self, Pmt};

/// The PID of the Service Description Table, passed through with the feed.
const SDT_PID: u16 = 0x0011;
/// A feed's own clock moving by more than this between two packets of a
/// PID (or moving back) is a discontinuity of that feed: it is re-anchored.
const LARGEST_STEP: i64 = 5 * TICKS_PER_SECOND;
/// Frame duration assumed until two frames have been seen (30 fps).
const DEFAULT_FRAME: i64 = TICKS_PER_SECOND / 30;

/// One of the two feeds of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feed {
    /// The ingest: the stream's real source.
    Live,
    /// The slate that stands in while the source is down.
    Slate,
}

impl Feed {
    fn index(self) -> usize {
        match self {
            Feed::Live => 0,
            Feed::Slate => 1,
        }
    }

    /// The word for logs and the console.
    pub fn label(self) -> &'static str {
        match self {
            Feed::Live => "live",
            Feed::Slate => "slate",
        }
    }
}

/// What the splicer knows about one feed's own stream.
#[derive(Debug, Default, Clone)]
struct Input {
    pmt_pid: Option<u16>,
    pmt: Option<Pmt>,
    pat_packet: Option<[u8; PACKET_SIZE]>,
    pmt_packet: Option<[u8; PACKET_SIZE]>,
    /// Ticks added to this feed's timestamps.
    offset: i64,
    /// The last PTS/DTS seen per PID on this feed, in its own clock.
    last_in: Vec<(u16, i64)>,
}

impl Input {
    /// The PID whose keyframes a switch waits for: the first video stream,
    /// or the first stream of a program without video.
    fn switch_pid(&self) -> Option<u16> {
        let pmt = self.pmt.as_ref()?;
        pmt.video_pid()
            .or_else(|| pmt.streams.first().map(|s| s.pid))
    }
}

/// What the outputs have received on one PID.
#[derive(Debug, Clone, Copy)]
struct PidOut {
    pid: u16,
    /// The last continuity counter written.
    counter: u8,
    /// The last DTS (or PTS) written, unwrapped to 64 bits.
    last: Option<i64>,
    /// The typical distance between two PES of this PID.
    step: i64,
    /// The PES being received is dropped (it would go back in time).
    dropping: bool,
}

/// The switcher of one stream.
#[derive(Debug, Clone)]
pub struct Splicer {
    inputs: [Input; 2],
    active: Option<Feed>,
    wanted: Feed,
    pids: Vec<PidOut>,
    video_pid: Option<u16>,
    /// The PMT content last written and its version number.
    pmt_out: Option<(Vec<u8>, u8)>,
    /// The last PAT and PMT written, for an output that joins later.
    tables: Vec<[u8; PACKET_SIZE]>,
    /// The program's streams changed (another codec, a stream more or
    /// less) since [`Splicer::take_program_changed`] was last asked.
    program_changed: bool,
}

impl Default for Splicer {
    fn default() -> Self {
        Splicer::new()
    }
}

/// Extends a 33-bit timestamp to 64 bits next to a previous value.
fn unwrap(previous: Option<i64>, ts: i64) -> i64 {
    match previous {
        Some(p) => p + packet::ticks_between(p.rem_euclid(TIMESTAMP_MODULO), ts),
        None => ts,
    }
}

impl Splicer {
    /// A splicer waiting for the live feed.
    pub fn new() -> Splicer {
        Splicer {
            inputs: [Input::default(), Input::default()],
            active: None,
            wanted: Feed::Live,
            pids: Vec::new(),
            video_pid: None,
            pmt_out: None,
            tables: Vec::new(),
            program_changed: false,
        }
    }

    /// The feed the outputs receive now, if any.
    pub fn active(&self) -> Option<Feed> {
        self.active
    }

    /// The feed the outputs should receive; the switch happens at that
    /// feed's next keyframe.
    pub fn wanted(&self) -> Feed {
        self.wanted
    }

    /// Asks for a feed; see [`Splicer::wanted`].
    pub fn want(&mut self, feed: Feed) {
        self.wanted = feed;
    }

    /// Forgets what a feed sent: its process ended and a new one will start
    /// with a clock of its own. If it was on the outputs, nothing is until
    /// the wanted feed's next keyframe.
    pub fn reset(&mut self, feed: Feed) {
        self.inputs[feed.index()] = Input::default();
        if self.active == Some(feed) {
            self.active = None;
        }
    }

    /// The PAT and PMT last written: what an output that joins now needs
    /// before the next keyframe.
    pub fn tables(&self) -> &[[u8; PACKET_SIZE]] {
        &self.tables
    }

    /// True once after the program's streams changed: an output that copies
    /// cannot follow another codec, it must start again on the new one.
    pub fn take_program_changed(&mut self) -> bool {
        std::mem::take(&mut self.program_changed)
    }

    /// The video PID of the output stream (for finding keyframes in it).
    pub fn video_pid(&self) -> Option<u16> {
        self.video_pid
    }

    /// The video PID and PMT of what a feed sends, once known.
    pub fn feed_program(&self, feed: Feed) -> Option<&Pmt> {
        self.inputs[feed.index()].pmt.as_ref()
    }

    /// Takes one packet of `feed`; appends what the outputs get to `out`.
    /// Returns the feed switched to, when this packet made a switch.
    pub fn push(&mut self, feed: Feed, p: &[u8], out: &mut Vec<u8>) -> Option<Feed> {
        if p.len() != PACKET_SIZE || p[0] != packet::SYNC_BYTE {
            return None;
        }
        let pid = packet::pid(p);
        if pid == packet::NULL_PID {
            return None;
        }
        let input = &mut self.inputs[feed.index()];
        if pid == PAT_PID {
            if let Some(pmt_pid) = psi::pat_pmt_pid(p) {
                input.pmt_pid = Some(pmt_pid);
                input.pat_packet = p.try_into().ok();
            }
        } else if Some(pid) == input.pmt_pid {
            if let Some(pmt) = psi::parse_pmt(p) {
                input.pmt = Some(pmt);
                input.pmt_packet = p.try_into().ok();
            }
        }
        if self.active == Some(feed) {
            self.forward(feed, p, out);
            return None;
        }
        if self.wanted != feed || !self.is_switch_point(feed, p) {
            return None;
        }
        self.switch_to(feed, p, out);
        Some(feed)
    }

    fn is_switch_point(&self, feed: Feed, p: &[u8]) -> bool {
        let input = &self.inputs[feed.index()];
        if input.pat_packet.is_none() || input.pmt_packet.is_none() {
            return false;
        }
        let Some(switch_pid) = input.switch_pid() else {
            return false;
        };
        let has_video = input.pmt.as_ref().and_then(Pmt::video_pid).is_some();
        packet::pid(p) == switch_pid
            && packet::starts_unit(p)
            && (packet::random_access(p) || !has_video)
            && packet::pes_timestamps(p).is_some_and(|(pts, dts)| dts.or(pts).is_some())
    }

    /// Where the outputs' clock is: one step after the last PES of the
    /// switch PID, or of any PID when that one never had any.
    fn next_out(&self, pid: Option<u16>) -> Option<i64> {
        let by_pid = pid.and_then(|pid| self.pids.iter().find(|s| s.pid == pid));
        let state = by_pid.filter(|s| s.last.is_some()).or_else(|| {
            self.pids
                .iter()
                .filter(|s| s.last.is_some())
                .max_by_key(|s| s.last)
        })?;
        Some(state.last? + state.step)
    }

    fn switch_to(&mut self, feed: Feed, p: &[u8], out: &mut Vec<u8>) {
        let input = &self.inputs[feed.index()];
        let anchor = packet::pes_timestamps(p)
            .and_then(|(pts, dts)| dts.or(pts))
            .unwrap_or(0);
        let switch_pid = input.switch_pid();
        let offset = match self.next_out(self.video_pid.or(switch_pid)) {
            Some(next) => next - anchor,
            None => 0,
        };
        let pat = input.pat_packet;
        let pmt = input.pmt_packet;
        let video = input.pmt.as_ref().and_then(Pmt::video_pid).or(switch_pid);
        let input = &mut self.inputs[feed.index()];
        input.offset = offset;
        input.last_in.clear();
        self.active = Some(feed);
        self.video_pid = video;
        for state in &mut self.pids {
            state.dropping = false;
        }
        self.tables.clear();
        for table in [pat, pmt].into_iter().flatten() {
            self.forward(feed, &table, out);
        }
        self.forward(feed, p, out);
    }

    fn pid_state(&mut self, pid: u16) -> &mut PidOut {
        let at = match self.pids.iter().position(|s| s.pid == pid) {
            Some(at) => at,
            None => {
                self.pids.push(PidOut {
                    pid,
                    counter: 15,
                    last: None,
                    step: DEFAULT_FRAME,
                    dropping: false,
                });
                self.pids.len() - 1
            }
        };
        &mut self.pids[at]
    }

    fn forward(&mut self, feed: Feed, p: &[u8], out: &mut Vec<u8>) {
        let pid = packet::pid(p);
        let is_pmt = Some(pid) == self.inputs[feed.index()].pmt_pid;
        if pid == PAT_PID || is_pmt || pid == SDT_PID {
            let mut pkt = [0u8; PACKET_SIZE];
            pkt.copy_from_slice(p);
            if is_pmt {
                self.version_pmt(&mut pkt);
            }
            self.renumber(&mut pkt);
            if pid == PAT_PID || is_pmt {
                self.keep_table(pid, &pkt);
            }
            out.extend_from_slice(&pkt);
            return;
        }
        // Elementary streams: rewritten in place at the end of `out`.
        let start = out.len();
        out.extend_from_slice(p);
        let pkt = &mut out[start..];
        if packet::starts_unit(pkt) {
            if let Some(ts) = packet::pes_timestamps(pkt).and_then(|(pts, dts)| dts.or(pts)) {
                if !self.accept_pes(feed, pid, ts, pkt) {
                    out.truncate(start);
                    return;
                }
            } else {
                self.pid_state(pid).dropping = false;
            }
        } else if self.pid_state(pid).dropping {
            out.truncate(start);
            return;
        }
        let offset = self.inputs[feed.index()].offset;
        if offset != 0 {
            packet::shift_pcr(pkt, offset);
        }
        self.renumber(pkt);
    }

    /// Moves a PES's timestamps to the outputs' clock; false when it must
    /// be dropped because it would go back in time.
    fn accept_pes(&mut self, feed: Feed, pid: u16, ts: i64, pkt: &mut [u8]) -> bool {
        let state = *self.pid_state(pid);
        let input = &mut self.inputs[feed.index()];
        let previous = input
            .last_in
            .iter()
            .find(|(p, _)| *p == pid)
            .map(|(_, t)| *t);
        if let Some(previous) = previous {
            let step = packet::ticks_between(previous, ts);
            if step <= 0 || step > LARGEST_STEP {
                // The feed's own clock jumped: continue from where the
                // outputs are, as at a switch.
                if let Some(last) = state.last {
                    input.offset = last + state.step - ts;
                }
            }
        }
        match input.last_in.iter_mut().find(|(p, _)| *p == pid) {
            Some(entry) => entry.1 = ts,
            None => input.last_in.push((pid, ts)),
        }
        let offset = input.offset;
        if offset != 0 {
            packet::shift_pes_timestamps(pkt, offset);
        }
        let out_ts = unwrap(state.last, (ts + offset).rem_euclid(TIMESTAMP_MODULO));
        let state = self.pid_state(pid);
        if let Some(last) = state.last {
            if out_ts <= last {
                state.dropping = true;
                return false;
            }
            let step = out_ts - last;
            if step < TICKS_PER_SECOND {
                state.step = step;
            }
        }
        state.last = Some(out_ts);
        state.dropping = false;
        true
    }

    /// Gives the PMT the version the outputs expect: the same number while
    /// its content is the same, the next one when a switch changed it.
    fn version_pmt(&mut self, pkt: &mut [u8]) {
        let Some(content) = psi::pmt_content(pkt) else {
            return;
        };
        let version = match &self.pmt_out {
            Some((known, version)) if *known == content => *version,
            Some((_, version)) => {
                self.program_changed = true;
                (version + 1) & 0x1F
            }
            None => psi::parse_pmt(pkt).map_or(0, |p| p.version),
        };
        psi::set_pmt_version(pkt, version);
        self.pmt_out = Some((content, version));
    }

    fn renumber(&mut self, pkt: &mut [u8]) {
        let pid = packet::pid(pkt);
        let payload = packet::has_payload(pkt);
        let state = self.pid_state(pid);
        if payload {
            state.counter = (state.counter + 1) & 0x0F;
        }
        let counter = state.counter;
        packet::set_continuity(pkt, counter);
    }

    fn keep_table(&mut self, pid: u16, pkt: &[u8; PACKET_SIZE]) {
        match self.tables.iter_mut().find(|t| packet::pid(*t) == pid) {
            Some(table) => *table = *pkt,
            None => self.tables.push(*pkt),
        }
    }
}

#[cfg(test)]
#[path = "splice_tests.rs"]
mod tests;
