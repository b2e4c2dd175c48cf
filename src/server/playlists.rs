//! Live playlists kept in memory, replaced the moment FFmpeg replaces the
//! file, and answered without touching the disk.
//!
//! FFmpeg writes `index.m3u8.tmp` and renames it over `index.m3u8` once per
//! segment. A watch on `hls_dir` (inotify through `notify`) sees each rename
//! and reads the new playlist once; every request in between is served from
//! memory. Knowing the moment a segment appears also lets a player ask for
//! the *next* playlist and be answered as soon as it exists (blocking
//! playlist reload, `?_HLS_msn=N`, which hls.js uses in `lowLatencyMode`):
//! a screen learns of a new segment within milliseconds instead of up to a
//! whole reload interval later.
//!
//! The same watch tells the segment cache when a segment is written or
//! removed, so cached segments are trusted without a `stat` per request.
//! A check every second catches anything a lost event would have missed;
//! without a watch (no `hls_dir` yet, no inotify) requests go to the disk as
//! before and playlists do not offer blocking reload.

use super::confined::{ConfinedFiles, Stamp};
use axum::body::Bytes;
use axum::http::HeaderValue;
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// How often known playlists are checked against the disk, and how often a
/// missing watch is tried again.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// A blocked request waits at most this many target durations (the HLS
/// specification's limit), then gets 503.
const HOLD_TARGET_DURATIONS: f64 = 3.0;
/// The tag that tells players they may ask for the next playlist in advance.
const SERVER_CONTROL: &str = "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES";

/// One version of a live playlist, as served.
#[derive(Debug)]
pub(crate) struct Version {
    /// The playlist as served (FFmpeg's text plus the server-control tag).
    pub(crate) body: Bytes,
    /// A strong validator of `body`.
    pub(crate) etag: HeaderValue,
    /// Media sequence number of the last segment listed.
    pub(crate) last_msn: Option<u64>,
    /// `#EXT-X-ENDLIST`: the stream stopped, nothing will follow.
    pub(crate) ended: bool,
    /// The file is gone (the stream stopped or restarts): no more versions.
    gone: bool,
    /// `#EXT-X-TARGETDURATION`, seconds.
    target_duration: f64,
    /// Which file (and which write of it) this was read from.
    stamp: Option<Stamp>,
}

impl Version {
    fn gone() -> Version {
        Version {
            body: Bytes::new(),
            etag: HeaderValue::from_static("\"0\""),
            last_msn: None,
            ended: true,
            gone: true,
            target_duration: 0.0,
            stamp: None,
        }
    }

    /// How long a blocked request for a later segment may wait.
    fn hold(&self) -> Duration {
        Duration::from_secs_f64((self.target_duration * HOLD_TARGET_DURATIONS).clamp(1.0, 30.0))
    }
}

/// What a blocking request (`?_HLS_msn=N`) gets.
#[derive(Debug)]
pub(crate) enum Blocked {
    /// A playlist that lists segment N (or an ended one).
    Ready(Arc<Version>),
    /// N is more than two segments ahead: the request is wrong (400).
    TooFarAhead,
    /// N did not appear within three target durations (503).
    TimedOut,
    /// The playlist disappeared meanwhile (404).
    Gone,
}

/// The live playlists under one `hls_dir`.
#[derive(Clone)]
pub(crate) struct LivePlaylists {
    shared: Arc<Shared>,
}

struct Shared {
    root: PathBuf,
    files: ConfinedFiles,
    /// Keyed by the path below the root, e.g. `cam/index.m3u8`.
    live: RwLock<HashMap<String, Arc<watch::Sender<Arc<Version>>>>>,
    watcher: Mutex<Option<RecommendedWatcher>>,
    /// Set once the watch runs (read on every request: no lock).
    watching: AtomicBool,
}

impl LivePlaylists {
    /// Playlists under `root`, read through `files` (which keeps every read
    /// inside the root). Starts watching at once if `root` exists, else as
    /// soon as it does; must be called inside the Tokio runtime.
    pub(crate) fn new(root: &Path, files: ConfinedFiles) -> LivePlaylists {
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            files,
            live: RwLock::new(HashMap::new()),
            watcher: Mutex::new(None),
            watching: AtomicBool::new(false),
        });
        shared.try_watch();
        tokio::spawn(check_periodically(Arc::downgrade(&shared)));
        LivePlaylists { shared }
    }

    /// True while the directory is watched: playlists come from memory and
    /// blocking reload is offered.
    pub(crate) fn watching(&self) -> bool {
        self.shared.watching.load(Ordering::Acquire)
    }

    /// The current version of a playlist (`relative` as in the URL, decoded),
    /// read from disk the first time; `Ok(None)` if there is no such file.
    pub(crate) async fn current(&self, relative: &str) -> io::Result<Option<Arc<Version>>> {
        if let Some(sender) = self.shared.get(relative) {
            let version = Arc::clone(&sender.borrow());
            if !version.gone {
                return Ok(Some(version));
            }
        }
        let shared = Arc::clone(&self.shared);
        let key = relative.trim_start_matches('/').to_string();
        tokio::task::spawn_blocking(move || shared.refresh(&key))
            .await
            .map_err(|e| io::Error::other(format!("playlist task failed: {e}")))?
    }

    /// Waits until the playlist lists segment `msn`, as the HLS
    /// specification's blocking reload asks.
    pub(crate) async fn blocking(&self, relative: &str, msn: u64) -> io::Result<Option<Blocked>> {
        let Some(version) = self.current(relative).await? else {
            return Ok(None);
        };
        let ready = |v: &Version| v.ended || v.last_msn.is_some_and(|last| last >= msn);
        if ready(&version) {
            return Ok(Some(Blocked::Ready(version)));
        }
        let last = version.last_msn.unwrap_or(0);
        if msn > last.saturating_add(2) && version.last_msn.is_some() {
            return Ok(Some(Blocked::TooFarAhead));
        }
        let Some(sender) = self.shared.get(relative) else {
            return Ok(Some(Blocked::Gone));
        };
        let mut versions = sender.subscribe();
        let waited = tokio::time::timeout(version.hold(), async {
            versions
                .wait_for(|v| ready(v))
                .await
                .map(|v| Arc::clone(&v))
        })
        .await;
        Ok(Some(match waited {
            Ok(Ok(version)) if version.gone => Blocked::Gone,
            Ok(Ok(version)) => Blocked::Ready(version),
            Ok(Err(_)) => Blocked::Gone,
            Err(_) => Blocked::TimedOut,
        }))
    }
}

impl Shared {
    fn lock_watcher(&self) -> std::sync::MutexGuard<'_, Option<RecommendedWatcher>> {
        self.watcher.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, relative: &str) -> Option<Arc<watch::Sender<Arc<Version>>>> {
        let key = relative.trim_start_matches('/');
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        live.get(key).cloned()
    }

    /// Starts the watch if it is not running and the root exists.
    fn try_watch(self: &Arc<Self>) {
        let mut slot = self.lock_watcher();
        if self.watching.load(Ordering::Acquire) || !self.root.is_dir() {
            return;
        }
        // A watch whose directory went away (see `lost_root`) is replaced.
        drop(slot.take());
        let weak = Arc::downgrade(self);
        let handler = move |event: notify::Result<notify::Event>| {
            if let Some(shared) = weak.upgrade() {
                shared.on_event(event);
            }
        };
        let config = notify::Config::default().with_follow_symlinks(false);
        let watcher = RecommendedWatcher::new(handler, config).and_then(|mut watcher| {
            watcher.watch(&self.root, RecursiveMode::Recursive)?;
            Ok(watcher)
        });
        match watcher {
            Ok(watcher) => {
                *slot = Some(watcher);
                drop(slot);
                // Anything read before the watch started may be stale.
                self.files.trust_unchanged(true);
                self.files.forget_all();
                self.check_known();
                self.watching.store(true, Ordering::Release);
            }
            Err(error) => {
                tracing::warn!(%error, dir = %self.root.display(),
                    "cannot watch hls_dir: playlists are read from disk on every request");
            }
        }
    }

    /// Called on the watcher's thread for every change under the root.
    fn on_event(&self, event: notify::Result<notify::Event>) {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(%error, "hls_dir watch error: checking every playlist");
                self.files.forget_all();
                self.check_known();
                return;
            }
        };
        if event.need_rescan() {
            self.files.forget_all();
            self.check_known();
            return;
        }
        let reread = matches!(
            event.kind,
            EventKind::Modify(ModifyKind::Name(
                RenameMode::To | RenameMode::Both | RenameMode::Any
            )) | EventKind::Access(AccessKind::Close(AccessMode::Write))
        );
        let removed = matches!(
            event.kind,
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From))
        );
        if !reread && !removed && !matches!(event.kind, EventKind::Modify(_)) {
            return; // opens, reads, plain creations: nothing to serve differently yet
        }
        for path in &event.paths {
            let Some(relative) = path.strip_prefix(&self.root).ok().and_then(Path::to_str) else {
                continue;
            };
            if relative.is_empty() {
                if removed {
                    self.lost_root();
                }
                continue;
            }
            if relative.ends_with(".m3u8") {
                if reread || removed {
                    let _ = self.refresh(relative);
                }
            } else if super::hls::is_hls_file(relative) {
                self.files.forget(path);
            } else if removed && path.extension().is_none() {
                // A directory (a stream's) went away with everything in it.
                self.files.forget_under(path);
                self.check_known();
            }
            // Anything else (FFmpeg's `*.tmp` files) is never served.
        }
    }

    /// `hls_dir` itself was removed or moved: its watch sees nothing more.
    /// Back to reading from disk until the periodic check watches the new
    /// directory (the watch cannot be dropped from its own thread).
    fn lost_root(&self) {
        self.watching.store(false, Ordering::Release);
        self.files.trust_unchanged(false);
        self.files.forget_all();
        self.check_known();
    }

    /// Reads a playlist from disk and publishes it if it changed; removes
    /// it (waking blocked requests) if the file is gone.
    fn refresh(&self, relative: &str) -> io::Result<Option<Arc<Version>>> {
        let key = relative.trim_start_matches('/');
        match self.files.read_whole(key) {
            Ok((text, stamp)) => Ok(Some(self.publish(key, version_of(&text, Some(stamp))))),
            Err(error) if is_missing(&error) => {
                let gone = {
                    let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
                    live.remove(key)
                };
                if let Some(sender) = gone {
                    sender.send_replace(Arc::new(Version::gone()));
                }
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Makes `version` the current one unless a newer file was published
    /// meanwhile (a request and the watcher may read at the same time);
    /// returns whichever is current.
    fn publish(&self, key: &str, version: Version) -> Arc<Version> {
        let version = Arc::new(version);
        let sender = match self.get(key) {
            Some(sender) => sender,
            None => {
                let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
                match live.get(key) {
                    Some(sender) => Arc::clone(sender),
                    None => {
                        let (sender, _) = watch::channel(Arc::clone(&version));
                        live.insert(key.to_string(), Arc::new(sender));
                        return version;
                    }
                }
            }
        };
        let mut current = Arc::clone(&version);
        sender.send_if_modified(|shown| {
            let newer_shown = !shown.gone
                && match (&shown.stamp, &version.stamp) {
                    (Some(shown), Some(new)) => shown.is_newer_than(new),
                    _ => false,
                };
            if newer_shown || (!shown.gone && shown.etag == version.etag) {
                current = Arc::clone(shown);
                return false;
            }
            *shown = Arc::clone(&version);
            true
        });
        current
    }

    /// Re-reads every known playlist whose file changed (or vanished).
    fn check_known(&self) {
        let known: Vec<(String, Option<Stamp>)> = {
            let live = self.live.read().unwrap_or_else(|p| p.into_inner());
            live.iter()
                .map(|(key, sender)| (key.clone(), sender.borrow().stamp))
                .collect()
        };
        for (key, stamp) in known {
            let changed = match self.files.stamp(&key) {
                Ok(now) => Some(now) != stamp,
                Err(_) => true,
            };
            if changed {
                let _ = self.refresh(&key);
            }
        }
    }
}

/// Every second: start the watch if it is not running yet, and re-check
/// the known playlists (a safety net for an event lost by the OS).
async fn check_periodically(shared: Weak<Shared>) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let _ = tokio::task::spawn_blocking(move || {
            strong.try_watch();
            strong.check_known();
        })
        .await;
    }
}

fn is_missing(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::PermissionDenied
    )
}

/// What a playlist says about itself, and the text served for it.
fn version_of(text: &[u8], stamp: Option<Stamp>) -> Version {
    let text = String::from_utf8_lossy(text);
    let facts = Facts::of(&text);
    let body = if facts.ended || facts.server_control || !text.starts_with("#EXTM3U") {
        Bytes::copy_from_slice(text.as_bytes())
    } else {
        Bytes::from(with_server_control(&text))
    };
    let etag = HeaderValue::from_str(&format!("\"p{:016x}\"", fnv1a(&body)))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    Version {
        body,
        etag,
        last_msn: facts.last_msn,
        ended: facts.ended,
        gone: false,
        target_duration: facts.target_duration,
        stamp,
    }
}

/// The facts about a media playlist that blocking reload needs.
#[derive(Debug, Default, PartialEq)]
struct Facts {
    last_msn: Option<u64>,
    ended: bool,
    server_control: bool,
    target_duration: f64,
}

impl Facts {
    fn of(text: &str) -> Facts {
        let mut sequence = 0u64;
        let mut segments = 0u64;
        let mut facts = Facts::default();
        for line in text.lines().map(str::trim) {
            if let Some(value) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                sequence = value.trim().parse().unwrap_or(0);
            } else if let Some(value) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                facts.target_duration = value.trim().parse().unwrap_or(0.0);
            } else if line == "#EXT-X-ENDLIST" {
                facts.ended = true;
            } else if line.starts_with("#EXT-X-SERVER-CONTROL") {
                facts.server_control = true;
            } else if !line.is_empty() && !line.starts_with('#') {
                segments += 1;
            }
        }
        facts.last_msn = (segments > 0).then(|| sequence + segments - 1);
        facts
    }
}

/// The playlist with the server-control tag after its target duration.
fn with_server_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + SERVER_CONTROL.len() + 1);
    let mut added = false;
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        if !added && line.starts_with("#EXT-X-TARGETDURATION:") {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(SERVER_CONTROL);
            out.push('\n');
            added = true;
        }
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The `_HLS_msn` delivery directive of a query string, if any. `Err`
/// when it is there but not a number, or `_HLS_part` comes without it.
pub(crate) fn blocking_directive(query: Option<&str>) -> Result<Option<u64>, ()> {
    let Some(query) = query else {
        return Ok(None);
    };
    let mut msn = None;
    let mut part = false;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "_HLS_msn" => msn = Some(value.parse::<u64>().map_err(|_| ())?),
            "_HLS_part" => part = true,
            _ => {}
        }
    }
    if part && msn.is_none() {
        return Err(());
    }
    Ok(msn)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYLIST: &str = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n\
        #EXT-X-MEDIA-SEQUENCE:1700000001\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXTINF:0.5,\nseg-1700000001.ts\n#EXTINF:0.5,\nseg-1700000002.ts\n";

    #[test]
    fn the_last_segment_number_is_the_sequence_plus_the_count() {
        let facts = Facts::of(PLAYLIST);
        assert_eq!(facts.last_msn, Some(1_700_000_002));
        assert_eq!(facts.target_duration, 1.0);
        assert!(!facts.ended);
        let ended = Facts::of(&format!("{PLAYLIST}#EXT-X-ENDLIST\n"));
        assert!(ended.ended);
        assert_eq!(
            Facts::of("#EXTM3U\n#EXT-X-TARGETDURATION:4\n").last_msn,
            None
        );
    }

    #[test]
    fn live_playlists_offer_blocking_reload_after_their_target_duration() {
        let version = version_of(PLAYLIST.as_bytes(), None);
        let text = std::str::from_utf8(&version.body).expect("utf-8");
        assert!(
            text.starts_with(
                "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n#EXT-X-MEDIA-SEQUENCE:"
            ),
            "{text}"
        );
        assert!(text.ends_with("seg-1700000002.ts\n"));
        let ended = version_of(format!("{PLAYLIST}#EXT-X-ENDLIST\n").as_bytes(), None);
        assert!(
            !std::str::from_utf8(&ended.body)
                .expect("utf-8")
                .contains("SERVER-CONTROL")
        );
    }

    #[test]
    fn etags_follow_the_content() {
        let a = version_of(PLAYLIST.as_bytes(), None);
        let b = version_of(PLAYLIST.as_bytes(), None);
        let c = version_of(
            format!("{PLAYLIST}#EXTINF:0.5,\nseg-1700000003.ts\n").as_bytes(),
            None,
        );
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
    }

    #[test]
    fn delivery_directives_are_read_from_the_query() {
        assert_eq!(blocking_directive(None), Ok(None));
        assert_eq!(blocking_directive(Some("_HLS_msn=42")), Ok(Some(42)));
        assert_eq!(
            blocking_directive(Some("a=1&_HLS_msn=7&_HLS_part=0")),
            Ok(Some(7))
        );
        assert_eq!(blocking_directive(Some("t=123")), Ok(None));
        assert_eq!(blocking_directive(Some("_HLS_msn=x")), Err(()));
        assert_eq!(blocking_directive(Some("_HLS_part=1")), Err(()));
    }
}
