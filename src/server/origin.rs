//! How many playlist and segment requests each stream costs onair itself.
//!
//! With a caching proxy in front (`assets/nginx-screens.conf`), these are the
//! proxy's origin fetches: hundreds of screens should cost about one
//! playlist and one segment request per new segment, whatever their number.
//! Published in `/metrics` as `onair_hls_requests_total`.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Requests answered per stream directory, playlists and segments apart.
#[derive(Default)]
pub(crate) struct OriginRequests {
    streams: RwLock<HashMap<String, Arc<Counts>>>,
}

#[derive(Default)]
struct Counts {
    playlists: AtomicU64,
    segments: AtomicU64,
}

impl OriginRequests {
    /// Counts one answered request for `path` (below `hls_dir`, e.g.
    /// `/cam/index.m3u8`). Only paths that were found are counted, so the
    /// set of streams stays the set of directories that exist.
    pub(crate) fn count(&self, path: &str, playlist: bool) {
        let stream = stream_of(path);
        let counts = {
            let streams = self.streams.read().unwrap_or_else(|p| p.into_inner());
            streams.get(stream).cloned()
        };
        let counts = counts.unwrap_or_else(|| {
            let mut streams = self.streams.write().unwrap_or_else(|p| p.into_inner());
            Arc::clone(streams.entry(stream.to_string()).or_default())
        });
        let counter = if playlist {
            &counts.playlists
        } else {
            &counts.segments
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in the Prometheus text format, sorted by stream.
    pub(crate) fn render(&self, out: &mut String, label: impl Fn(&str) -> String) {
        let mut rows: Vec<(String, u64, u64)> = {
            let streams = self.streams.read().unwrap_or_else(|p| p.into_inner());
            streams
                .iter()
                .map(|(name, counts)| {
                    (
                        name.clone(),
                        counts.playlists.load(Ordering::Relaxed),
                        counts.segments.load(Ordering::Relaxed),
                    )
                })
                .collect()
        };
        rows.sort();
        out.push_str(
            "# HELP onair_hls_requests_total HLS requests answered by onair per stream (with a caching proxy in front: its origin fetches).\n\
             # TYPE onair_hls_requests_total counter\n",
        );
        for (name, playlists, segments) in rows {
            let stream = label(&name);
            let _ = writeln!(
                out,
                "onair_hls_requests_total{{stream=\"{stream}\",kind=\"playlist\"}} {playlists}"
            );
            let _ = writeln!(
                out,
                "onair_hls_requests_total{{stream=\"{stream}\",kind=\"segment\"}} {segments}"
            );
        }
    }
}

/// The stream a file belongs to: its directory below `hls_dir`.
fn stream_of(path: &str) -> &str {
    let path = path.trim_start_matches('/');
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_stream_directory() {
        let requests = OriginRequests::default();
        requests.count("/cam/index.m3u8", true);
        requests.count("/cam/index.m3u8", true);
        requests.count("/cam/seg-1.ts", false);
        requests.count("/program/hls/seg-9.ts", false);
        let mut out = String::new();
        requests.render(&mut out, str::to_string);
        assert!(out.contains("onair_hls_requests_total{stream=\"cam\",kind=\"playlist\"} 2\n"));
        assert!(out.contains("onair_hls_requests_total{stream=\"cam\",kind=\"segment\"} 1\n"));
        assert!(out.contains("{stream=\"program/hls\",kind=\"segment\"} 1\n"));
    }
}
