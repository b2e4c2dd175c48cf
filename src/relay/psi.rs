//! The program tables of a transport stream: the PAT (which PID holds the
//! PMT) and the PMT (which PIDs hold which elementary streams, and which PID
//! carries the PCR). The relay needs them to find the video PID whose
//! keyframes it may switch on, and to keep the PMT version honest when a
//! switch changes the table's content.
//!
//! Only sections that fit in one packet are understood, which is what
//! FFmpeg's muxer writes for the few streams of a live program; anything
//! longer is passed through untouched.

use super::packet::{self, PACKET_SIZE};

/// What a stream type says about its elementary stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// A video codec (switches happen on its keyframes).
    Video,
    /// An audio codec.
    Audio,
    /// Anything else (data, subtitles, private streams).
    Other,
}

impl StreamKind {
    /// The kind of an ISO/IEC 13818-1 `stream_type`.
    pub fn of(stream_type: u8) -> StreamKind {
        match stream_type {
            // MPEG-1/2 video, MPEG-4 part 2, H.264, H.265, H.266, AVS
            0x01 | 0x02 | 0x10 | 0x1B | 0x24 | 0x33 | 0x42 | 0xD2 => StreamKind::Video,
            // MPEG-1/2 audio, AAC (ADTS, LATM), AC-3, E-AC-3, DTS
            0x03 | 0x04 | 0x0F | 0x11 | 0x81 | 0x82 | 0x87 => StreamKind::Audio,
            _ => StreamKind::Other,
        }
    }
}

/// One elementary stream listed in a PMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elementary {
    /// Its PID.
    pub pid: u16,
    /// Its `stream_type`.
    pub stream_type: u8,
}

/// A parsed PMT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pmt {
    /// The PID that carries the program clock.
    pub pcr_pid: u16,
    /// Its version number (0..=31).
    pub version: u8,
    /// The elementary streams, in table order.
    pub streams: Vec<Elementary>,
}

impl Pmt {
    /// The first video stream's PID: the one whose keyframes matter.
    pub fn video_pid(&self) -> Option<u16> {
        self.streams
            .iter()
            .find(|s| StreamKind::of(s.stream_type) == StreamKind::Video)
            .map(|s| s.pid)
    }
}

/// The section that starts in this packet (after the pointer field), with
/// its declared length checked against the packet.
fn section(p: &[u8]) -> Option<&[u8]> {
    if !packet::starts_unit(p) {
        return None;
    }
    let at = packet::payload_offset(p)?;
    let pointer = usize::from(p[at]);
    let start = at + 1 + pointer;
    if start + 3 > PACKET_SIZE {
        return None;
    }
    let length = usize::from(p[start + 1] & 0x0F) << 8 | usize::from(p[start + 2]);
    let end = start + 3 + length;
    (end <= PACKET_SIZE && length >= 9).then(|| &p[start..end])
}

/// The PMT PID of the first program listed in a PAT packet.
pub fn pat_pmt_pid(p: &[u8]) -> Option<u16> {
    let s = section(p)?;
    if s[0] != 0x00 {
        return None;
    }
    // Header (8 bytes), then 4-byte entries, then the CRC.
    let entries = &s[8..s.len() - 4];
    entries.chunks_exact(4).find_map(|e| {
        let program = u16::from(e[0]) << 8 | u16::from(e[1]);
        let pid = u16::from(e[2] & 0x1F) << 8 | u16::from(e[3]);
        (program != 0).then_some(pid)
    })
}

/// The PMT in this packet, if it holds a whole one.
pub fn parse_pmt(p: &[u8]) -> Option<Pmt> {
    let s = section(p)?;
    if s[0] != 0x02 || s.len() < 16 {
        return None;
    }
    let version = (s[5] >> 1) & 0x1F;
    let pcr_pid = u16::from(s[8] & 0x1F) << 8 | u16::from(s[9]);
    let info_len = usize::from(s[10] & 0x0F) << 8 | usize::from(s[11]);
    let mut at = 12 + info_len;
    let end = s.len() - 4;
    let mut streams = Vec::new();
    while at + 5 <= end {
        let stream_type = s[at];
        let pid = u16::from(s[at + 1] & 0x1F) << 8 | u16::from(s[at + 2]);
        let es_info = usize::from(s[at + 3] & 0x0F) << 8 | usize::from(s[at + 4]);
        streams.push(Elementary { pid, stream_type });
        at += 5 + es_info;
    }
    Some(Pmt {
        pcr_pid,
        version,
        streams,
    })
}

/// The section bytes of a PMT with its version number and CRC left out:
/// two tables with the same content compare equal.
pub fn pmt_content(p: &[u8]) -> Option<Vec<u8>> {
    let s = section(p)?;
    if s[0] != 0x02 {
        return None;
    }
    let mut content = s[..s.len() - 4].to_vec();
    content[5] &= !0x3E;
    Some(content)
}

/// Sets the PMT's version number and recomputes its CRC, so that a reader
/// that already knows the program notices the new table.
pub fn set_pmt_version(p: &mut [u8], version: u8) -> bool {
    let Some(at) = packet::payload_offset(p) else {
        return false;
    };
    let start = at + 1 + usize::from(p[at]);
    let Some(len) = section(p).map(<[u8]>::len) else {
        return false;
    };
    let s = &mut p[start..start + len];
    s[5] = (s[5] & !0x3E) | ((version & 0x1F) << 1);
    let crc = crc32_mpeg2(&s[..len - 4]);
    s[len - 4..].copy_from_slice(&crc.to_be_bytes());
    true
}

/// CRC-32/MPEG-2, the checksum of every PSI section.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_MPEG_2);
    CRC.checksum(data)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::relay::packet::SYNC_BYTE;

    /// A one-packet PSI section on `pid` from its bytes before the CRC.
    fn psi_packet(pid: u16, cc: u8, body: &[u8]) -> [u8; PACKET_SIZE] {
        let mut p = [0xFFu8; PACKET_SIZE];
        p[0] = SYNC_BYTE;
        p[1] = 0x40 | (pid >> 8) as u8;
        p[2] = pid as u8;
        p[3] = 0x10 | cc;
        p[4] = 0; // pointer field
        p[5..5 + body.len()].copy_from_slice(body);
        let crc = crc32_mpeg2(body);
        p[5 + body.len()..9 + body.len()].copy_from_slice(&crc.to_be_bytes());
        p
    }

    /// The PAT FFmpeg writes: program 1 on PMT PID 0x1000.
    pub(crate) fn pat(cc: u8) -> [u8; PACKET_SIZE] {
        psi_packet(
            0,
            cc,
            &[
                0x00, 0xB0, 13, 0x00, 0x01, 0xC1, 0, 0, 0x00, 0x01, 0xF0, 0x00,
            ],
        )
    }

    /// A PMT on 0x1000 with H.264 on 0x100 (PCR) and, optionally, AAC on 0x101.
    pub(crate) fn pmt(cc: u8, version: u8, with_audio: bool) -> [u8; PACKET_SIZE] {
        let mut body = vec![0x02, 0xB0, 0, 0x00, 0x01, 0xC1 | (version << 1), 0, 0];
        body.extend([0xE1, 0x00, 0xF0, 0x00]);
        body.extend([0x1B, 0xE1, 0x00, 0xF0, 0x00]);
        if with_audio {
            body.extend([0x0F, 0xE1, 0x01, 0xF0, 0x00]);
        }
        body[2] = (body.len() - 3 + 4) as u8;
        psi_packet(0x1000, cc, &body)
    }

    #[test]
    fn the_pat_points_at_the_pmt() {
        assert_eq!(pat_pmt_pid(&pat(0)), Some(0x1000));
        assert_eq!(pat_pmt_pid(&pmt(0, 0, true)), None, "a PMT is no PAT");
    }

    #[test]
    fn the_pmt_lists_its_streams_and_the_video_pid() {
        let parsed = parse_pmt(&pmt(0, 3, true)).expect("pmt");
        assert_eq!(parsed.pcr_pid, 0x100);
        assert_eq!(parsed.version, 3);
        assert_eq!(
            parsed.streams,
            vec![
                Elementary {
                    pid: 0x100,
                    stream_type: 0x1B
                },
                Elementary {
                    pid: 0x101,
                    stream_type: 0x0F
                }
            ]
        );
        assert_eq!(parsed.video_pid(), Some(0x100));
        assert_eq!(StreamKind::of(0x24), StreamKind::Video);
        assert_eq!(StreamKind::of(0x0F), StreamKind::Audio);
    }

    #[test]
    fn content_ignores_the_version_and_a_new_version_gets_a_valid_crc() {
        let a = pmt(0, 0, true);
        let b = pmt(5, 7, true);
        assert_eq!(pmt_content(&a), pmt_content(&b));
        assert_ne!(pmt_content(&a), pmt_content(&pmt(0, 0, false)));

        let mut c = a;
        assert!(set_pmt_version(&mut c, 9));
        assert_eq!(parse_pmt(&c).map(|p| p.version), Some(9));
        let s = section(&c).expect("section");
        assert_eq!(crc32_mpeg2(s), 0, "a section with its CRC checks to zero");
    }

    #[test]
    fn the_crc_matches_the_one_ffmpeg_writes() {
        // FFmpeg's PAT for program 1 / PMT 0x1000, CRC as found in its output.
        let body = [
            0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00,
        ];
        assert_eq!(crc32_mpeg2(&body), 0x2AB104B2);
    }
}
