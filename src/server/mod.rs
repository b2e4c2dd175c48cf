//! The HTTP server that feeds the venue's screens: HLS files, the player
//! pages, the status API, live events and metrics.
//!
//! It only ever reads the engine's snapshots and config (both `watch`
//! channels), so however many screens connect, and however slow they are,
//! the supervisor of the streams is never held up by a request.

mod access;
mod api;
mod assets;
mod confined;
mod cors;
mod etag;
mod events;
mod file_backed;
mod file_cache;
mod hls;
mod hls_first;
mod listener;
mod metrics;
mod origin;
mod pages;
mod playlists;
mod screen_reports;
mod socket;
mod time;
mod wall;

pub use screen_reports::{MAX_BODY_BYTES as MAX_REPORT_BYTES, REPORT_BURST, REPORTS_PER_SECOND};

use crate::config::Config;
use crate::engine::Engine;
use axum::Router;
use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// What the HTTP server reports about itself (shown in the console header).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerStats {
    /// The address actually bound (after a move, the new one).
    pub listen: String,
    /// Screens with an open `/events` connection right now.
    pub screens_connected: usize,
    /// HTTP requests served since start.
    pub requests: u64,
    /// Bytes of response bodies served since start.
    pub bytes: u64,
    /// The last error of the server itself (a port in use after a move).
    pub error: Option<String>,
}

/// Why the HTTP server cannot listen; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Another program (or another onair) already listens on the port.
    #[error("port {port} is in use: set [server].listen in streams.toml")]
    PortInUse {
        /// The port asked for.
        port: u16,
        /// The full address asked for.
        addr: SocketAddr,
    },
    /// Binding failed for another reason (no such local address, a
    /// privileged port, ...).
    #[error("cannot listen on {addr}: {source} (set [server].listen in streams.toml)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// `[server].listen` is not a socket address.
    #[error(
        "[server].listen = {text:?} is not an address like \"127.0.0.1:8080\": fix it in streams.toml"
    )]
    BadAddress {
        /// The text found.
        text: String,
    },
}

/// Bounds on what the server holds open at once.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Open `/events` streams at most (1024); more are answered 503.
    pub event_streams: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            event_streams: 1024,
        }
    }
}

/// A running HTTP server. It follows `[server].listen` on its own: when a
/// reload moves it, the new address is bound first and the old one is let
/// go only once that worked. Dropping the handle leaves it running; call
/// [`Server::shutdown`] to stop it.
pub struct Server {
    local_addr: Arc<Mutex<SocketAddr>>,
    stats: watch::Receiver<ServerStats>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Server {
    /// The address the server listens on right now (the real port when the
    /// config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        *self.local_addr.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The server's own figures and last error, updated about once a second
    /// and at once when a screen connects or the address changes.
    pub fn stats(&self) -> watch::Receiver<ServerStats> {
        self.stats.clone()
    }

    /// Stops accepting, closes event streams, lets requests in flight finish
    /// (for at most a couple of seconds) and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// How long requests in flight may take to finish when the server stops or moves.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Starts the HTTP server on `[server].listen`, serving HLS from
/// `[server].hls_dir`. The address is bound before this returns, so a port
/// in use is reported here, at start, in words the operator can act on.
pub async fn start(engine: Engine) -> Result<Server, ServerError> {
    start_with(engine, ServerLimits::default()).await
}

/// [`start`] with other limits.
pub async fn start_with(engine: Engine, limits: ServerLimits) -> Result<Server, ServerError> {
    let config = engine.config();
    let listener = listener::bind(config.server.listen).await?;
    let local = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.server.listen,
        source,
    })?;
    let traffic = Arc::new(Traffic::default());
    let state = AppState(Arc::new(Shared {
        engine: engine.clone(),
        hls: RwLock::new(hls::HlsFiles::new(&config.server.hls_dir)),
        assets: assets::Assets::new(assets::dir_beside(&config.path)),
        traffic: Arc::clone(&traffic),
        limits,
        report_limiter: screen_reports::ReportLimiter::default(),
    }));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(follow_hls_dir(
        state.clone(),
        engine.subscribe_config(),
        stop_rx.clone(),
        config.server.hls_dir.clone(),
    ));
    let app = router(state);
    let (stats_tx, stats_rx) = watch::channel(ServerStats {
        listen: local.to_string(),
        ..ServerStats::default()
    });
    let local_addr = Arc::new(Mutex::new(local));
    let follower = listener::Follower {
        engine,
        app,
        traffic,
        stats: stats_tx,
        local_addr: Arc::clone(&local_addr),
        configured: config.server.listen,
        grace: SHUTDOWN_GRACE,
    };
    let task = tokio::spawn(follower.run(listener, stop_rx));
    Ok(Server {
        local_addr,
        stats: stats_rx,
        stop: stop_tx,
        task,
    })
}

/// What every handler can reach: read-only views of the engine and the
/// server's own counters. Cloned for every request, so it is one `Arc`.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub(crate) struct Shared {
    engine: Engine,
    /// Replaced when a reload moves `hls_dir`.
    hls: RwLock<hls::HlsFiles>,
    assets: assets::Assets,
    traffic: Arc<Traffic>,
    limits: ServerLimits,
    /// Bounds how often each address may report a screen.
    report_limiter: screen_reports::ReportLimiter,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for hls::HlsFiles {
    fn from_ref(state: &AppState) -> Self {
        state.hls.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A reload that moves `hls_dir` moves what `/hls/` serves with it: the
/// streams restart into the new directory, and screens follow them there.
async fn follow_hls_dir(
    state: AppState,
    mut configs: watch::Receiver<Arc<Config>>,
    mut stop: watch::Receiver<bool>,
    mut serving: PathBuf,
) {
    loop {
        tokio::select! {
            changed = configs.changed() => {
                if changed.is_err() {
                    return;
                }
                let dir = configs.borrow_and_update().server.hls_dir.clone();
                if dir != serving {
                    let files = hls::HlsFiles::new(&dir);
                    *state.hls.write().unwrap_or_else(|p| p.into_inner()) = files;
                    serving = dir;
                }
            }
            _ = stop.changed() => return,
        }
    }
}

impl FromRef<AppState> for assets::Assets {
    fn from_ref(state: &AppState) -> Self {
        state.assets.clone()
    }
}

/// Counters shared by every connection; published as [`ServerStats`] and metrics.
#[derive(Default)]
pub(crate) struct Traffic {
    requests: AtomicU64,
    bytes: AtomicU64,
    screens: AtomicUsize,
    /// Open `/events` streams of any kind (capped by [`ServerLimits`]).
    event_streams: AtomicUsize,
    /// Woken when something the console shows at once has changed.
    changed: Notify,
}

impl Traffic {
    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn screens(&self) -> usize {
        self.screens.load(Ordering::Relaxed)
    }
}

fn router(state: AppState) -> hls_first::App {
    let routes = Router::new()
        .route("/", get(pages::index))
        .route("/screen/{name}", get(pages::screen))
        .route("/watch/{*stream}", get(pages::watch))
        .route("/api/streams", get(api::streams))
        .route("/api/screens", get(screen_reports::list))
        .route("/api/screens/{name}", get(api::screen))
        .route("/api/screen-reports", post(screen_reports::report))
        .route("/api/watch/{*stream}", get(api::watch))
        .route("/wall", get(wall::page))
        .route("/wall/thumbnail/{*stream}", get(wall::thumbnail))
        .route("/events", get(events::events))
        .route("/metrics", get(metrics::metrics))
        .route("/time", get(time::now))
        .route("/hls/{*path}", get(hls::serve).options(cors::preflight))
        .route(
            "/assets/{*path}",
            get(assets::serve).options(cors::preflight),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state.clone());
    let routes = routes.layer(metrics::CountTraffic(Arc::clone(&state.traffic)));
    hls_first::App { routes, state }
}
