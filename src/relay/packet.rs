//! One MPEG-TS packet (ISO/IEC 13818-1, 188 bytes): reading and rewriting the
//! fields a source switch touches, in place, without copying the payload.
//!
//! Every function here is pure and works on a `[u8; 188]`-sized slice; a
//! packet that is malformed in a way that would make a rewrite unsafe (an
//! adaptation field longer than the packet, a PES header cut short) is left
//! untouched rather than guessed at.

/// Size of a transport stream packet.
pub const PACKET_SIZE: usize = 188;
/// The byte every packet starts with.
pub const SYNC_BYTE: u8 = 0x47;
/// The PID of the Program Association Table.
pub const PAT_PID: u16 = 0x0000;
/// The PID of stuffing packets, which carry nothing.
pub const NULL_PID: u16 = 0x1FFF;
/// PTS, DTS and PCR bases count 90 kHz ticks modulo 2^33.
pub const TIMESTAMP_MODULO: i64 = 1 << 33;
/// 90 kHz ticks per second.
pub const TICKS_PER_SECOND: i64 = 90_000;

/// The packet's PID.
pub fn pid(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2])
}

/// Payload unit start indicator: a PES packet or a PSI section begins here.
pub fn starts_unit(p: &[u8]) -> bool {
    p[1] & 0x40 != 0
}

/// True when the packet carries a payload (only those advance the
/// continuity counter).
pub fn has_payload(p: &[u8]) -> bool {
    p[3] & 0x10 != 0
}

fn has_adaptation(p: &[u8]) -> bool {
    p[3] & 0x20 != 0
}

/// The continuity counter (0..=15).
pub fn continuity(p: &[u8]) -> u8 {
    p[3] & 0x0F
}

/// Sets the continuity counter.
pub fn set_continuity(p: &mut [u8], counter: u8) {
    p[3] = (p[3] & 0xF0) | (counter & 0x0F);
}

/// The adaptation field's length byte and flags byte, when there is a
/// flags byte inside the packet.
fn adaptation_flags(p: &[u8]) -> Option<u8> {
    if !has_adaptation(p) {
        return None;
    }
    let length = usize::from(p[4]);
    (length >= 1 && 5 + length <= PACKET_SIZE).then(|| p[5])
}

/// Random access indicator: the muxer marks the packet that starts a
/// keyframe with it (FFmpeg does so for every video keyframe).
pub fn random_access(p: &[u8]) -> bool {
    adaptation_flags(p).is_some_and(|f| f & 0x40 != 0)
}

/// The PCR base (90 kHz) and extension (27 MHz remainder), if the packet has one.
pub fn pcr(p: &[u8]) -> Option<(i64, u16)> {
    let flags = adaptation_flags(p)?;
    if flags & 0x10 == 0 || usize::from(p[4]) < 7 {
        return None;
    }
    let b = &p[6..12];
    let base = (i64::from(b[0]) << 25)
        | (i64::from(b[1]) << 17)
        | (i64::from(b[2]) << 9)
        | (i64::from(b[3]) << 1)
        | (i64::from(b[4]) >> 7);
    let extension = (u16::from(b[4] & 0x01) << 8) | u16::from(b[5]);
    Some((base, extension))
}

/// Rewrites the PCR base, keeping the extension and reserved bits.
pub fn set_pcr_base(p: &mut [u8], base: i64) {
    if pcr(p).is_none() {
        return;
    }
    let base = base.rem_euclid(TIMESTAMP_MODULO);
    let b = &mut p[6..11];
    b[0] = (base >> 25) as u8;
    b[1] = (base >> 17) as u8;
    b[2] = (base >> 9) as u8;
    b[3] = (base >> 1) as u8;
    b[4] = (((base & 1) as u8) << 7) | (b[4] & 0x7F);
}

/// Where the payload starts, if the packet has one inside its 188 bytes.
pub fn payload_offset(p: &[u8]) -> Option<usize> {
    if !has_payload(p) {
        return None;
    }
    let offset = if has_adaptation(p) {
        5 + usize::from(p[4])
    } else {
        4
    };
    (offset < PACKET_SIZE).then_some(offset)
}

/// Offsets (from the packet start) of the PTS and DTS fields of a PES
/// header that starts in this packet.
fn pes_timestamp_offsets(p: &[u8]) -> Option<(Option<usize>, Option<usize>)> {
    if !starts_unit(p) {
        return None;
    }
    let at = payload_offset(p)?;
    let h = &p[at..];
    if h.len() < 9 || h[0] != 0 || h[1] != 0 || h[2] != 1 {
        return None;
    }
    // Stream ids without the optional header (padding, private_stream_2, ...).
    if matches!(h[3], 0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF) {
        return None;
    }
    let flags = h[7] >> 6;
    let header_len = usize::from(h[8]);
    let pts = at + 9;
    match flags {
        0b10 if header_len >= 5 && pts + 5 <= PACKET_SIZE => Some((Some(pts), None)),
        0b11 if header_len >= 10 && pts + 10 <= PACKET_SIZE => Some((Some(pts), Some(pts + 5))),
        _ => Some((None, None)),
    }
}

fn read_timestamp(b: &[u8]) -> i64 {
    (i64::from(b[0] & 0x0E) << 29)
        | (i64::from(b[1]) << 22)
        | (i64::from(b[2] & 0xFE) << 14)
        | (i64::from(b[3]) << 7)
        | (i64::from(b[4]) >> 1)
}

fn write_timestamp(b: &mut [u8], ts: i64) {
    let ts = ts.rem_euclid(TIMESTAMP_MODULO);
    // Keep the 4-bit prefix ('0010', '0011' or '0001'); markers are 1.
    b[0] = (b[0] & 0xF0) | (((ts >> 30) as u8 & 0x07) << 1) | 1;
    b[1] = (ts >> 22) as u8;
    b[2] = (((ts >> 15) as u8) << 1) | 1;
    b[3] = (ts >> 7) as u8;
    b[4] = ((ts as u8) << 1) | 1;
}

/// The PTS and DTS of a PES packet that starts here (DTS is `None` when it
/// equals the PTS).
pub fn pes_timestamps(p: &[u8]) -> Option<(Option<i64>, Option<i64>)> {
    let (pts, dts) = pes_timestamp_offsets(p)?;
    Some((
        pts.map(|at| read_timestamp(&p[at..at + 5])),
        dts.map(|at| read_timestamp(&p[at..at + 5])),
    ))
}

/// Adds `offset` ticks (modulo 2^33) to the PTS and DTS of a PES packet that
/// starts here; returns false when there was nothing to rewrite.
pub fn shift_pes_timestamps(p: &mut [u8], offset: i64) -> bool {
    let Some((pts, dts)) = pes_timestamp_offsets(p) else {
        return false;
    };
    let mut changed = false;
    for at in [pts, dts].into_iter().flatten() {
        let ts = read_timestamp(&p[at..at + 5]);
        write_timestamp(&mut p[at..at + 5], ts + offset);
        changed = true;
    }
    changed
}

/// Adds `offset` ticks to the PCR base, if there is a PCR.
pub fn shift_pcr(p: &mut [u8], offset: i64) {
    if let Some((base, _)) = pcr(p) {
        set_pcr_base(p, base + offset);
    }
}

/// `b - a` in 90 kHz ticks, taking the shortest way round the 2^33 circle:
/// what a timestamp moved by, even across a wrap.
pub fn ticks_between(a: i64, b: i64) -> i64 {
    let d = (b - a).rem_euclid(TIMESTAMP_MODULO);
    if d >= TIMESTAMP_MODULO / 2 {
        d - TIMESTAMP_MODULO
    } else {
        d
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A packet with a PES header carrying the given PTS/DTS, optionally a
    /// PCR and the random access indicator, as FFmpeg's muxer writes them.
    pub(crate) fn pes_packet(
        pid: u16,
        cc: u8,
        pts: i64,
        dts: Option<i64>,
        pcr: Option<i64>,
        keyframe: bool,
    ) -> [u8; PACKET_SIZE] {
        let mut p = [0xFFu8; PACKET_SIZE];
        p[0] = SYNC_BYTE;
        p[1] = 0x40 | ((pid >> 8) as u8 & 0x1F);
        p[2] = pid as u8;
        let mut at = 4;
        if pcr.is_some() || keyframe {
            p[3] = 0x30 | (cc & 0x0F);
            let af_len = if pcr.is_some() { 7 } else { 1 };
            p[4] = af_len;
            p[5] = (if keyframe { 0x40 } else { 0 }) | (if pcr.is_some() { 0x10 } else { 0 });
            if let Some(pcr) = pcr {
                p[6..12].copy_from_slice(&[0, 0, 0, 0, 0x7F, 0]);
                set_pcr_base(&mut p, pcr);
                p[11] = 0x2A;
            }
            at = 5 + usize::from(af_len);
        } else {
            p[3] = 0x10 | (cc & 0x0F);
        }
        let header_len = if dts.is_some() { 10 } else { 5 };
        p[at..at + 9].copy_from_slice(&[
            0,
            0,
            1,
            0xE0,
            0,
            0,
            0x80,
            if dts.is_some() { 0xC0 } else { 0x80 },
            header_len,
        ]);
        p[at + 9] = if dts.is_some() { 0x31 } else { 0x21 };
        write_timestamp(&mut p[at + 9..at + 14], pts);
        if let Some(dts) = dts {
            p[at + 14] = 0x11;
            write_timestamp(&mut p[at + 14..at + 19], dts);
        }
        p
    }

    /// A continuation packet (no unit start) of a PES.
    pub(crate) fn continuation(pid: u16, cc: u8) -> [u8; PACKET_SIZE] {
        let mut p = [0xAAu8; PACKET_SIZE];
        p[0] = SYNC_BYTE;
        p[1] = (pid >> 8) as u8 & 0x1F;
        p[2] = pid as u8;
        p[3] = 0x10 | (cc & 0x0F);
        p
    }

    #[test]
    fn header_fields_are_read_where_the_standard_puts_them() {
        let p = pes_packet(0x100, 7, 1000, Some(900), Some(800), true);
        assert_eq!(pid(&p), 0x100);
        assert!(starts_unit(&p));
        assert!(has_payload(&p));
        assert_eq!(continuity(&p), 7);
        assert!(random_access(&p));
        assert_eq!(pcr(&p), Some((800, 0x12A)));
        assert_eq!(pes_timestamps(&p), Some((Some(1000), Some(900))));
        let c = continuation(0x101, 3);
        assert!(!starts_unit(&c) && !random_access(&c));
        assert_eq!(pcr(&c), None);
        assert_eq!(pes_timestamps(&c), None);
    }

    #[test]
    fn timestamps_survive_a_round_trip_at_every_bit() {
        for ts in [0, 1, 0x7FFF, 0x8000, 0x1_0000_0000, TIMESTAMP_MODULO - 1] {
            let mut b = [0x31u8, 0, 0, 0, 0];
            write_timestamp(&mut b, ts);
            assert_eq!(read_timestamp(&b), ts, "{ts:#x}");
            assert_eq!(b[0] & 0xF1, 0x31, "prefix and marker kept");
            assert_eq!(b[2] & 1, 1);
            assert_eq!(b[4] & 1, 1);
        }
    }

    #[test]
    fn a_shift_moves_pts_dts_and_pcr_and_wraps_at_2_pow_33() {
        let mut p = pes_packet(0x100, 0, 5000, Some(4000), Some(3000), true);
        assert!(shift_pes_timestamps(&mut p, 100));
        shift_pcr(&mut p, 100);
        assert_eq!(pes_timestamps(&p), Some((Some(5100), Some(4100))));
        assert_eq!(pcr(&p), Some((3100, 0x12A)), "extension untouched");

        let mut p = pes_packet(0x101, 0, TIMESTAMP_MODULO - 10, None, None, false);
        shift_pes_timestamps(&mut p, 25);
        assert_eq!(pes_timestamps(&p), Some((Some(15), None)));
        let mut p = pes_packet(0x101, 0, 10, None, None, false);
        shift_pes_timestamps(&mut p, -25);
        assert_eq!(
            pes_timestamps(&p),
            Some((Some(TIMESTAMP_MODULO - 15), None))
        );
    }

    #[test]
    fn the_continuity_counter_is_rewritten_alone() {
        let mut p = pes_packet(0x100, 15, 1, None, Some(1), true);
        set_continuity(&mut p, 4);
        assert_eq!(continuity(&p), 4);
        assert_eq!(pid(&p), 0x100);
        assert!(has_payload(&p) && random_access(&p));
    }

    #[test]
    fn distances_take_the_short_way_round_the_wrap() {
        assert_eq!(ticks_between(10, 20), 10);
        assert_eq!(ticks_between(20, 10), -10);
        assert_eq!(ticks_between(TIMESTAMP_MODULO - 5, 5), 10);
        assert_eq!(ticks_between(5, TIMESTAMP_MODULO - 5), -10);
    }

    #[test]
    fn a_malformed_adaptation_field_is_left_alone() {
        let mut p = continuation(0x100, 0);
        p[3] = 0x30;
        p[4] = 200; // longer than the packet
        assert_eq!(pcr(&p), None);
        assert!(!random_access(&p));
        assert_eq!(payload_offset(&p), None);
        let before = p;
        shift_pcr(&mut p, 1000);
        assert!(!shift_pes_timestamps(&mut p, 1000));
        assert_eq!(p, before);
    }
}
