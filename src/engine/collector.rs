//! The collector: once a second, the CPU and memory of every FFmpeg, of
//! onair and of the host, the bitrate of each stream's newest HLS segment
//! and the age of its thumbnail. It runs as a task of its own, apart from the conductor that
//! handles commands, so that measuring never delays an operator's key.

use super::snapshot::{HostStats, Thumbnail};
use super::stats::Sampler;
use super::stream::{StreamStatus, Wakeups};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the figures are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// The streams the collector measures; the conductor replaces the list
/// whenever a reload adds or removes streams.
pub(crate) type Watched = Vec<Arc<Mutex<StreamStatus>>>;

/// The running collector: its host figures, and the task to end at shutdown.
pub(crate) struct Collector {
    /// The latest host figures.
    pub(crate) host: watch::Receiver<HostStats>,
    task: JoinHandle<()>,
}

impl Collector {
    /// Starts sampling `streams` until the sender of that list is dropped.
    /// Each sample fills in the streams' figures and wakes the conductor
    /// (`urgent`) so the new figures are published at once.
    pub(crate) fn spawn(streams: watch::Receiver<Watched>, wakeups: Arc<Wakeups>) -> Collector {
        let (host_tx, host) = watch::channel(HostStats::default());
        let task = tokio::spawn(run(streams, host_tx, wakeups));
        Collector { host, task }
    }

    /// Stops sampling.
    pub(crate) fn stop(self) {
        self.task.abort();
    }
}

async fn run(
    mut streams: watch::Receiver<Watched>,
    host: watch::Sender<HostStats>,
    wakeups: Arc<Wakeups>,
) {
    let mut sampler = Sampler::new();
    let mut bitrates = Bitrates::default();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = streams.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        }
        let watched = streams.borrow_and_update().clone();
        host.send_replace(sample(&mut sampler, &mut bitrates, &watched));
        wakeups.urgent.notify_one();
    }
}

/// The thumbnail at `path` and when it was written, if FFmpeg wrote one.
fn thumbnail(path: &std::path::Path) -> Option<Thumbnail> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let updated_at = modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    Some(Thumbnail {
        path: path.display().to_string(),
        updated_at,
    })
}

/// One sample: fills in each stream's CPU, RAM and HLS bitrate, returns the
/// host's figures.
fn sample(sampler: &mut Sampler, bitrates: &mut Bitrates, streams: &Watched) -> HostStats {
    let mut pids: Vec<u32> = streams
        .iter()
        .filter_map(|s| s.lock().ok().and_then(|st| st.pid))
        .collect();
    // A slate encoder counts for its stream while it runs (rows of one
    // stream share their relay, hence its encoder).
    let relays: Vec<_> = streams
        .iter()
        .filter_map(|s| s.lock().ok()?.group.as_ref().map(|g| g.relay.clone()))
        .collect();
    pids.extend(
        relays
            .iter()
            .filter_map(|r| r.lock().ok().and_then(|r| r.encoder_pid)),
    );
    let (host, usage) = sampler.sample(&pids);
    for relay in &relays {
        if let Ok(mut relay) = relay.lock() {
            relay.encoder_usage = relay.encoder_pid.and_then(|pid| usage.get(&pid).copied());
        }
    }
    bitrates.start_round();
    for stream in streams {
        if let Ok(mut status) = stream.lock() {
            status.thumbnail = status.launch.thumbnail.as_deref().and_then(thumbnail);
            status.hls_kbps = match (&status.launch.hls_dir, status.pid) {
                (Some(dir), Some(_)) => bitrates.of(dir),
                _ => None,
            };
            match status.pid.and_then(|pid| usage.get(&pid)) {
                Some((cpu, rss)) => {
                    status.cpu_percent = Some(*cpu);
                    status.rss_bytes = Some(*rss);
                }
                None => {
                    status.cpu_percent = None;
                    status.rss_bytes = None;
                }
            }
        }
    }
    bitrates.end_round();
    host
}

/// The bitrate of each stream's newest segment, read again only when its
/// playlist changed (a new segment every `hls_time`, sampled every second).
#[derive(Default)]
struct Bitrates {
    known: HashMap<PathBuf, Known>,
}

struct Known {
    playlist: Option<(SystemTime, u64)>,
    kbps: Option<f64>,
    seen: bool,
}

impl Bitrates {
    fn start_round(&mut self) {
        for known in self.known.values_mut() {
            known.seen = false;
        }
    }

    fn of(&mut self, dir: &Path) -> Option<f64> {
        let playlist = std::fs::metadata(dir.join("index.m3u8"))
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if let Some(known) = self.known.get_mut(dir) {
            known.seen = true;
            if playlist.is_some() && known.playlist == playlist {
                return known.kbps;
            }
        }
        let kbps = crate::ffmpeg::last_segment_kbps(dir);
        self.known.insert(
            dir.to_path_buf(),
            Known {
                playlist,
                kbps,
                seen: true,
            },
        );
        kbps
    }

    /// Forgets the streams that were not sampled (removed, stopped).
    fn end_round(&mut self) {
        self.known.retain(|_, known| known.seen);
    }
}
