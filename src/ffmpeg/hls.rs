//! The HLS output directory of a stream: cleared before FFmpeg starts, and
//! read back for what FFmpeg's progress report leaves out (with the HLS
//! muxer `bitrate` and `total_size` are `N/A`).

use std::path::Path;

/// Creates a stream's HLS directory and clears what a previous run left, so
/// a screen never plays old segments. The error says what to do.
pub fn prepare_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create {}: {e} (set [server].hls_dir to a writable directory)",
            dir.display()
        )
    })?;
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "ts" | "m3u8" | "tmp" | "m4s" | "mp4"));
        if stale && path.is_file() {
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(())
}

/// The bitrate of the newest complete segment in kbit/s: its size over its
/// `#EXTINF` duration. `None` until a segment is listed.
pub fn last_segment_kbps(stream_dir: &Path) -> Option<f64> {
    let playlist = std::fs::read_to_string(stream_dir.join("index.m3u8")).ok()?;
    let mut duration = None;
    let mut last = None;
    for line in playlist.lines() {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            duration = rest
                .split(',')
                .next()
                .and_then(|d| d.trim().parse::<f64>().ok());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            last = duration.map(|d| (line.trim().to_string(), d));
        }
    }
    let (segment, seconds) = last?;
    if seconds <= 0.0 || segment.contains('/') {
        return None;
    }
    let bytes = std::fs::metadata(stream_dir.join(segment)).ok()?.len();
    Some(bytes as f64 * 8.0 / 1000.0 / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrate_is_the_last_segment_over_its_duration() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("index.m3u8"),
            "#EXTM3U\n#EXTINF:1.000000,\nseg-1.ts\n#EXTINF:2.000000,\nseg-2.ts\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("seg-1.ts"), vec![0u8; 1000]).expect("write");
        std::fs::write(dir.path().join("seg-2.ts"), vec![0u8; 50_000]).expect("write");
        assert_eq!(last_segment_kbps(dir.path()), Some(200.0));
    }

    #[test]
    fn no_playlist_means_no_figure() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(last_segment_kbps(dir.path()), None);
    }
}
