//! Binding `[server].listen`, and moving to a new address when a reload
//! changes it, without a moment where neither address serves.

use super::hls_first::App;
use super::{ServerError, ServerStats, Traffic};
use crate::engine::Engine;
use axum::extract::Extension;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often a move that failed (the new port was busy) is tried again.
const RETRY_MOVE_EVERY: Duration = Duration::from_secs(3);
/// How often the published figures are refreshed.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Binds an address, turning the OS's answer into what the operator should do.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).await.map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            ServerError::PortInUse {
                port: addr.port(),
                addr,
            }
        } else {
            ServerError::Bind { addr, source }
        }
    })
}

/// Binds `addr`, trying for a second while a listener this server just let
/// go releases the port.
async fn bind_soon(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        match bind(addr).await {
            Err(ServerError::PortInUse { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// Tells the event streams of one listener that it is closing, so that a
/// graceful stop does not wait forever on a screen's open `/events`.
#[derive(Clone)]
pub(crate) struct Closing(pub(crate) watch::Receiver<bool>);

impl Closing {
    /// Resolves when the listener this request came through is closing.
    pub(crate) async fn wait(mut self) {
        let _ = self.0.wait_for(|closing| *closing).await;
    }
}

/// One bound listener and the task accepting on it.
struct Serving {
    closing: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Serving {
    fn start(listener: TcpListener, app: &App) -> Serving {
        let (closing, closing_rx) = watch::channel(false);
        let app = app.map_routes(|routes| routes.layer(Extension(Closing(closing_rx.clone()))));
        let signal = Closing(closing_rx).wait();
        let listener = super::socket::Accepting(listener);
        let task = tokio::spawn(async move {
            // The peer's address decides who sees operator data (see
            // access.rs); screen reports are keyed and rate-limited by it:
            // `App` hands it to the routes as `ConnectInfo`.
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::warn!(%error, "HTTP server stopped");
            }
        });
        Serving { closing, task }
    }

    /// A placeholder when no address could be bound at all.
    fn idle() -> Serving {
        let (closing, _) = watch::channel(true);
        Serving {
            closing,
            task: tokio::spawn(async {}),
        }
    }

    /// Stops accepting: the listener is dropped (and its port free) a moment later.
    fn stop_accepting(&self) {
        let _ = self.closing.send(true);
    }

    /// Stops accepting, then gives requests in flight `grace` to finish.
    async fn finish(self, grace: Duration) {
        self.stop_accepting();
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Resolves when the server is told to stop. A dropped handle does not
/// stop it: only [`super::Server::shutdown`] does.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs the server: keeps the listener, follows `Snapshot.listen`, and
/// publishes [`ServerStats`].
pub(crate) struct Follower {
    pub(crate) engine: Engine,
    pub(crate) app: App,
    pub(crate) traffic: Arc<Traffic>,
    pub(crate) stats: watch::Sender<ServerStats>,
    pub(crate) local_addr: Arc<Mutex<SocketAddr>>,
    /// The configured address the current listener was bound for.
    pub(crate) configured: SocketAddr,
    pub(crate) grace: Duration,
}

impl Follower {
    pub(crate) async fn run(mut self, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        let mut serving = Serving::start(listener, &self.app);
        let mut snapshots = self.engine.subscribe();
        let mut engine_alive = true;
        // A move that could not be made yet: the address wanted.
        let mut pending: Option<SocketAddr> = None;
        let mut stats_tick = tokio::time::interval(STATS_EVERY);
        stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retry_tick = tokio::time::interval(RETRY_MOVE_EVERY);
        retry_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped(&mut stop) => break,
                changed = snapshots.changed(), if engine_alive => {
                    if changed.is_err() {
                        // The engine has ended: keep serving what is on disk until stopped.
                        engine_alive = false;
                        continue;
                    }
                    let wanted = snapshots.borrow_and_update().listen.clone();
                    if let Some(next) = self.wanted_move(&wanted, &mut pending) {
                        serving = self.move_to(next, serving, &mut pending).await;
                    }
                }
                _ = retry_tick.tick(), if pending.is_some() => {
                    if let Some(next) = pending {
                        serving = self.move_to(next, serving, &mut pending).await;
                    }
                }
                _ = self.traffic.changed.notified() => self.publish_stats(),
                _ = stats_tick.tick() => self.publish_stats(),
            }
        }
        serving.finish(self.grace).await;
    }

    /// The address to move to, if the snapshot asks for a different one.
    fn wanted_move(
        &mut self,
        wanted: &str,
        pending: &mut Option<SocketAddr>,
    ) -> Option<SocketAddr> {
        if wanted.is_empty() {
            return None;
        }
        let addr = match wanted.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                let error = ServerError::BadAddress {
                    text: wanted.to_string(),
                };
                self.set_error(Some(error.to_string()));
                return None;
            }
        };
        if addr == self.configured {
            // Back to where we are (after a failed move, say): nothing to bind.
            if pending.take().is_some() {
                self.set_error(None);
            }
            return None;
        }
        if *pending == Some(addr) {
            return None;
        }
        Some(addr)
    }

    /// Binds `next`; on success the old listener closes, on failure it stays
    /// and the error is published.
    async fn move_to(
        &mut self,
        next: SocketAddr,
        old: Serving,
        pending: &mut Option<SocketAddr>,
    ) -> Serving {
        let current = self.current_addr();
        let (listener, old) = match bind(next).await {
            Ok(listener) => (listener, Some(old)),
            Err(ServerError::PortInUse { .. }) if next.port() == current.port() => {
                // The port is held by this very server (127.0.0.1:8080 ->
                // 0.0.0.0:8080): let it go, then take it on the new address,
                // or take the old one back.
                old.stop_accepting();
                match bind_soon(next).await {
                    Ok(listener) => (listener, Some(old)),
                    Err(error) => {
                        let back = bind_soon(current).await;
                        tokio::spawn(old.finish(self.grace));
                        return match back {
                            Ok(listener) => {
                                self.refuse(
                                    next,
                                    pending,
                                    format!("{error}; still serving on {current}"),
                                );
                                Serving::start(listener, &self.app)
                            }
                            Err(lost) => {
                                let text = format!(
                                    "{error}; and {current} could not be taken back: {lost}"
                                );
                                tracing::error!(error = %text, "HTTP server has no address");
                                self.refuse(next, pending, text);
                                // Nothing listens now; the retry tick keeps trying `next`.
                                Serving::idle()
                            }
                        };
                    }
                }
            }
            Err(error) => {
                self.refuse(
                    next,
                    pending,
                    format!("{error}; still serving on {current}"),
                );
                return old;
            }
        };
        let Ok(local) = listener.local_addr() else {
            return old.unwrap_or_else(Serving::idle);
        };
        let serving = Serving::start(listener, &self.app);
        if let Some(old) = old {
            tokio::spawn(old.finish(self.grace));
        }
        tracing::info!(listen = %local, "HTTP server moved");
        self.configured = next;
        *pending = None;
        *self.local_addr.lock().unwrap_or_else(|p| p.into_inner()) = local;
        self.stats.send_modify(|stats| {
            stats.listen = local.to_string();
            stats.error = None;
        });
        serving
    }

    /// Records a move that could not be made (it is tried again later).
    fn refuse(&self, next: SocketAddr, pending: &mut Option<SocketAddr>, text: String) {
        if *pending != Some(next) {
            tracing::warn!(error = %text, "HTTP server cannot move");
        }
        *pending = Some(next);
        self.set_error(Some(text));
    }

    fn current_addr(&self) -> SocketAddr {
        *self.local_addr.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_error(&self, error: Option<String>) {
        self.stats.send_if_modified(|stats| {
            if stats.error == error {
                return false;
            }
            stats.error = error;
            true
        });
    }

    fn publish_stats(&self) {
        let requests = self.traffic.requests();
        let bytes = self.traffic.bytes();
        let screens = self.traffic.screens();
        self.stats.send_if_modified(|stats| {
            let changed = stats.requests != requests
                || stats.bytes != bytes
                || stats.screens_connected != screens;
            stats.requests = requests;
            stats.bytes = bytes;
            stats.screens_connected = screens;
            changed
        });
    }
}
