//! The HLS output directory of a stream: cleared before FFmpeg starts, and
//! read back for what FFmpeg's progress report leaves out (with the HLS
//! muxer `bitrate` and `total_size` are `N/A`).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The first segment number of a new run of a stream's HLS output.
///
/// Screens cache segments as immutable, so a name must never come back with
/// other contents. The number is above every number a previous run may have
/// used: `used` (the highest the engine knows it handed out) and the highest
/// segment still in `dir`. It is also never below the time in tenths of a
/// second, a floor that keeps names growing across restarts of onair itself
/// (a run numbers one segment after the other, and segments are longer than
/// a tenth of a second, so a run never overtakes the clock).
pub fn start_number(dir: &Path, used: Option<u64>, now: SystemTime) -> u64 {
    let floor = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| (d.as_millis() / 100) as u64);
    [used, highest_segment(dir)]
        .into_iter()
        .flatten()
        .map(|n| n.saturating_add(1))
        .fold(floor, u64::max)
}

/// The highest `seg-N.*` number in a stream's directory.
fn highest_segment(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let name = name.to_str()?;
            let number = name.strip_prefix("seg-")?.split('.').next()?;
            number.parse::<u64>().ok()
        })
        .max()
}

/// The command of one run of an HLS output: `argv` with `-start_number`
/// placed just before the HLS output's playlist (the argument after
/// `-hls_segment_filename`'s value; other outputs, such as the analysis
/// ones, may follow it), or before the last argument.
pub fn numbered(argv: &[String], start: u64) -> Vec<String> {
    let mut run = argv.to_vec();
    let at = run
        .iter()
        .position(|a| a == "-hls_segment_filename")
        .map(|i| i + 2)
        .filter(|i| *i < run.len())
        .unwrap_or(run.len().saturating_sub(1));
    run.splice(at..at, ["-start_number".to_string(), start.to_string()]);
    run
}

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
    fn a_new_run_numbers_above_everything_used_and_the_clock() {
        let dir = tempfile::tempdir().expect("dir");
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        assert_eq!(start_number(dir.path(), None, now), 10_000);
        assert_eq!(start_number(dir.path(), Some(10_000), now), 10_001);
        std::fs::write(dir.path().join("seg-10040.ts"), b"").expect("write");
        std::fs::write(dir.path().join("seg-9.ts"), b"").expect("write");
        assert_eq!(start_number(dir.path(), Some(10_000), now), 10_041);
        let later = now + std::time::Duration::from_secs(60);
        assert_eq!(start_number(dir.path(), Some(10_000), later), 10_600);
    }

    #[test]
    fn the_start_number_goes_before_the_output() {
        let argv: Vec<String> = ["ffmpeg", "-f", "hls", "out/index.m3u8"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            numbered(&argv, 7),
            [
                "ffmpeg",
                "-f",
                "hls",
                "-start_number",
                "7",
                "out/index.m3u8"
            ]
        );
        let argv: Vec<String> = [
            "ffmpeg",
            "-hls_segment_filename",
            "out/seg-%d.ts",
            "out/index.m3u8",
            "-f",
            "null",
            "-",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            numbered(&argv, 7)[3..6],
            ["-start_number", "7", "out/index.m3u8"]
        );
    }

    #[test]
    fn no_playlist_means_no_figure() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(last_segment_kbps(dir.path()), None);
    }
}
