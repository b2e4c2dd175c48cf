//! The engine's side of the control socket.
//!
//! Every client gets its own task that reads its requests and, once it has
//! asked to watch, sends what changed since its last update. Nothing is
//! queued per client: the task reads the engine's newest snapshot when it
//! is ready to write, so a console on a slow link gets the newest picture,
//! late, never a backlog.

use super::frame::{self, Reader, Writer};
use super::lock::EngineLock;
use super::peer;
use super::place::{Place, current_uid};
use super::protocol::{ClientHello, EngineHello, Event, PROTOCOL, Request, Role, Update};
use crate::engine::{Engine, LogEntry, Snapshot, StreamDetails};
use crate::server::ServerStats;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How long a client has to answer the engine's hello.
const HELLO_WITHIN: Duration = Duration::from_secs(5);

/// How long clients are given to read the closing message at shutdown.
const CLOSING_GRACE: Duration = Duration::from_secs(1);

/// The least time between two updates to one client: a burst of changes
/// becomes one update, well inside the half second an operator notices.
const MIN_GAP: Duration = Duration::from_millis(50);

/// The running socket server; [`ControlServer::close`] ends it.
pub struct ControlServer {
    socket: PathBuf,
    closing: watch::Sender<Option<String>>,
    consoles: watch::Receiver<usize>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// What every client task reads.
struct Shared {
    engine: Engine,
    http: watch::Receiver<ServerStats>,
    consoles: watch::Sender<usize>,
    closing: watch::Receiver<Option<String>>,
    owner: u32,
    config: String,
    /// Who asked the engine to stop, when a client did.
    stopped_by: std::sync::Mutex<Option<String>>,
}

impl ControlServer {
    /// Listens on the socket of `place`. A file already there is a dead
    /// engine's (the lock proves no other engine runs) and is replaced.
    /// The socket is made 0600 before the first client can be accepted.
    pub fn bind(
        place: &Place,
        _lock: &EngineLock,
        engine: Engine,
        http: watch::Receiver<ServerStats>,
    ) -> std::io::Result<ControlServer> {
        match std::fs::remove_file(&place.socket) {
            Ok(()) => tracing::info!(
                "replaced the stale control socket {} left by an engine that did not stop cleanly",
                place.socket.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(&place.socket)?;
        std::fs::set_permissions(&place.socket, std::fs::Permissions::from_mode(0o600))?;
        let (closing_tx, closing_rx) = watch::channel(None);
        let (consoles_tx, consoles_rx) = watch::channel(0usize);
        let shared = Arc::new(Shared {
            engine,
            http,
            consoles: consoles_tx,
            closing: closing_rx,
            owner: current_uid(),
            config: place.config.display().to_string(),
            stopped_by: std::sync::Mutex::new(None),
        });
        let stopped_by = Arc::clone(&shared);
        let task = tokio::spawn(accept(listener, shared));
        Ok(ControlServer {
            socket: place.socket.clone(),
            closing: closing_tx,
            consoles: consoles_rx,
            shared: stopped_by,
            task,
        })
    }

    /// Who stopped the engine over the socket (`a console (pid 4242,
    /// root (uid 0))`, `onair stop (pid …)`), if a client did.
    pub fn stopped_by(&self) -> Option<String> {
        self.shared
            .stopped_by
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many consoles are attached right now.
    pub fn consoles(&self) -> watch::Receiver<usize> {
        self.consoles.clone()
    }

    /// Tells every client why the engine ends, gives them a moment to read
    /// it, closes every connection and removes the socket (before the
    /// caller lets the lock go, so a new engine never loses its socket).
    pub async fn close(self, reason: String) {
        let _ = self.closing.send(Some(reason));
        let mut task = self.task;
        if tokio::time::timeout(CLOSING_GRACE + Duration::from_millis(500), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

async fn accept(listener: UnixListener, shared: Arc<Shared>) {
    let mut clients = JoinSet::new();
    let mut closing = shared.closing.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    clients.spawn(serve(stream, Arc::clone(&shared)));
                }
                Err(e) => {
                    // Out of descriptors, say: wait instead of spinning.
                    tracing::warn!("control socket: cannot accept a client: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
            _ = closing_reason(&mut closing) => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(CLOSING_GRACE, async {
        while clients.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        clients.abort_all();
    }
}

/// One client, from its hello to its last frame.
async fn serve(stream: UnixStream, shared: Arc<Shared>) {
    let (peer_uid, peer_pid) = match stream.peer_cred() {
        Ok(cred) => (cred.uid(), cred.pid()),
        Err(e) => {
            tracing::warn!("control socket: cannot tell who connected ({e}); refused");
            return;
        }
    };
    let (read, write) = stream.into_split();
    let mut reader = frame::reader(read);
    let mut writer = frame::writer(write);
    let allowed = peer::may_attach(peer_uid, shared.owner);
    let hello = EngineHello {
        onair: super::protocol::version().to_string(),
        protocol: PROTOCOL,
        pid: std::process::id(),
        config: shared.config.clone(),
        refused: (!allowed).then(|| peer::refusal(peer_uid, shared.owner)),
    };
    if frame::send(&mut writer, &hello).await.is_err() {
        return;
    }
    let who = match peer_pid {
        Some(pid) => format!("pid {pid}, {}", peer::describe_user(peer_uid)),
        None => peer::describe_user(peer_uid),
    };
    if !allowed {
        tracing::warn!("control socket: refused a client of another user ({who})");
        return;
    }
    let answer = tokio::time::timeout(HELLO_WITHIN, frame::recv::<_, ClientHello>(&mut reader));
    let client = match answer.await {
        Ok(Ok(Some(client))) => client,
        _ => return,
    };
    let ours = (super::protocol::version(), PROTOCOL);
    if !super::protocol::compatible(ours, (&client.onair, client.protocol)) {
        tracing::warn!(
            "control socket: refused onair {} ({who}): this engine is onair {}",
            client.onair,
            ours.0
        );
        return;
    }
    let _attached = (client.role == Role::Console).then(|| Attached::enter(&shared, &who));
    let (selection_tx, selection_rx) = watch::channel(None);
    tokio::select! {
        _ = read_requests(reader, selection_tx, &shared, client.role, &who) => {}
        _ = write_updates(writer, selection_rx, &shared) => {}
    }
}

/// A console counted in the others' headers while it is connected.
struct Attached<'a> {
    shared: &'a Shared,
    who: String,
}

impl<'a> Attached<'a> {
    fn enter(shared: &'a Shared, who: &str) -> Attached<'a> {
        shared.consoles.send_modify(|n| *n += 1);
        tracing::info!("a console attached ({who})");
        Attached {
            shared,
            who: who.to_string(),
        }
    }
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        self.shared
            .consoles
            .send_modify(|n| *n = n.saturating_sub(1));
        tracing::info!("a console detached ({})", self.who);
    }
}

/// Requests until the client hangs up: commands go to the engine, a watch
/// request sets what this client's updates carry.
async fn read_requests(
    mut reader: Reader<OwnedReadHalf>,
    selection: watch::Sender<Option<Watching>>,
    shared: &Shared,
    role: Role,
    who: &str,
) {
    loop {
        match frame::recv::<_, Request>(&mut reader).await {
            Ok(Some(Request::Command { command })) => {
                tracing::info!("control socket: {command:?} from {who}");
                if command == crate::engine::Command::Shutdown {
                    let by = match role {
                        Role::Console => format!("a console ({who})"),
                        Role::Status | Role::Control => format!("`onair stop` ({who})"),
                    };
                    let mut stopped_by =
                        shared.stopped_by.lock().unwrap_or_else(|p| p.into_inner());
                    stopped_by.get_or_insert(by);
                }
                shared.engine.send(command);
            }
            Ok(Some(Request::Watch { details })) => {
                let _ = selection.send(Some(Watching { details }));
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("control socket: {e}; closing that connection");
                return;
            }
        }
    }
}

/// What a watching client wants in its updates.
#[derive(Debug, Clone, PartialEq)]
struct Watching {
    details: Option<String>,
}

/// Sends updates while the client watches, and the closing message at the end.
async fn write_updates(
    mut writer: Writer<OwnedWriteHalf>,
    mut selection: watch::Receiver<Option<Watching>>,
    shared: &Shared,
) {
    let mut snapshots = shared.engine.subscribe();
    let mut http = shared.http.clone();
    let mut consoles = shared.consoles.subscribe();
    let mut closing = shared.closing.clone();
    let (mut engine_open, mut http_open) = (true, true);
    let mut sent = Sent::default();
    loop {
        let watching = selection.borrow_and_update().clone();
        if let Some(watching) = &watching {
            let snapshot = shared.engine.snapshot();
            let stats = http.borrow_and_update().clone();
            let count = *consoles.borrow_and_update();
            let log = shared.engine.log_since(sent.log_seq);
            let update = sent.next(
                &snapshot,
                &stats,
                count,
                log,
                watching.details.as_deref(),
                |name| shared.engine.details(name),
            );
            if !update.is_empty()
                && frame::send(&mut writer, &Event::Update(Box::new(update)))
                    .await
                    .is_err()
            {
                return;
            }
            tokio::time::sleep(MIN_GAP).await;
        }
        let watching = watching.is_some();
        tokio::select! {
            reason = closing_reason(&mut closing) => {
                let _ = frame::send(&mut writer, &Event::Closing { reason }).await;
                return;
            }
            changed = selection.changed() => if changed.is_err() { return },
            changed = snapshots.changed(), if watching && engine_open => {
                engine_open = changed.is_ok();
            }
            changed = http.changed(), if watching && http_open => http_open = changed.is_ok(),
            _ = consoles.changed(), if watching => {}
        }
    }
}

/// Waits until the server closes, and says why. A server dropped without
/// [`ControlServer::close`] closes too, with no reason.
async fn closing_reason(closing: &mut watch::Receiver<Option<String>>) -> String {
    match closing.wait_for(Option::is_some).await {
        Ok(reason) => (*reason).clone().unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// What one client has already been sent, so the next update carries
/// only what changed.
#[derive(Debug, Default)]
struct Sent {
    snapshot_seq: Option<u64>,
    http: Option<ServerStats>,
    consoles: Option<usize>,
    log_seq: u64,
    details: Option<(String, u64)>,
}

impl Sent {
    /// The update that brings the client from what it has to `now`.
    fn next(
        &mut self,
        snapshot: &Arc<Snapshot>,
        http: &ServerStats,
        consoles: usize,
        log: Vec<LogEntry>,
        details: Option<&str>,
        read_details: impl FnOnce(&str) -> Option<StreamDetails>,
    ) -> Update {
        let mut update = Update::default();
        if self.snapshot_seq != Some(snapshot.seq) {
            self.snapshot_seq = Some(snapshot.seq);
            update.snapshot = Some(Arc::clone(snapshot));
        }
        if self.http.as_ref() != Some(http) {
            self.http = Some(http.clone());
            update.http = Some(http.clone());
        }
        if self.consoles != Some(consoles) {
            self.consoles = Some(consoles);
            update.consoles = Some(consoles);
        }
        if let Some(last) = log.last() {
            self.log_seq = last.seq;
        }
        update.log = log;
        match details {
            None => self.details = None,
            Some(name) => {
                let current = snapshot.stream(name).map(|s| s.details_seq);
                let known = self
                    .details
                    .as_ref()
                    .filter(|(sent, _)| sent == name)
                    .map(|(_, seq)| *seq);
                if current.is_some() && current != known {
                    if let Some(found) = read_details(name) {
                        self.details = Some((name.to_string(), found.seq));
                        update.details = Some(found);
                    }
                }
            }
        }
        update
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StreamSnapshot;

    fn snapshot(seq: u64, details_seq: u64) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            seq,
            streams: vec![StreamSnapshot {
                name: "cam1".into(),
                details_seq,
                ..StreamSnapshot::default()
            }],
            ..Snapshot::default()
        })
    }

    fn details(seq: u64) -> StreamDetails {
        StreamDetails {
            name: "cam1".into(),
            seq,
            stderr: vec![format!("line {seq}")],
            history: Vec::new(),
        }
    }

    fn entry(seq: u64) -> LogEntry {
        LogEntry {
            seq,
            at: 0,
            stream: None,
            level: "info".into(),
            text: format!("entry {seq}"),
        }
    }

    #[test]
    fn the_first_update_carries_everything_then_only_what_changed() {
        let mut sent = Sent::default();
        let http = ServerStats::default();
        let first = sent.next(
            &snapshot(1, 1),
            &http,
            1,
            vec![entry(1), entry(2)],
            Some("cam1"),
            |_| Some(details(1)),
        );
        assert!(first.snapshot.is_some() && first.http.is_some());
        assert_eq!(first.consoles, Some(1));
        assert_eq!(first.log.len(), 2);
        assert_eq!(first.details, Some(details(1)));
        assert_eq!(sent.log_seq, 2);

        let same = sent.next(&snapshot(1, 1), &http, 1, Vec::new(), Some("cam1"), |_| {
            panic!("details did not change: they must not be read again")
        });
        assert!(same.is_empty(), "{same:?}");

        let newer = sent.next(
            &snapshot(2, 1),
            &http,
            2,
            vec![entry(3)],
            Some("cam1"),
            |_| panic!("details did not change"),
        );
        assert!(newer.snapshot.is_some() && newer.http.is_none());
        assert_eq!(newer.consoles, Some(2));
        assert_eq!(newer.log, vec![entry(3)]);
        assert_eq!(newer.details, None);
    }

    #[test]
    fn details_follow_their_changes_and_the_selection() {
        let mut sent = Sent::default();
        let http = ServerStats::default();
        sent.next(&snapshot(1, 1), &http, 1, Vec::new(), Some("cam1"), |_| {
            Some(details(1))
        });
        let changed = sent.next(&snapshot(2, 5), &http, 1, Vec::new(), Some("cam1"), |_| {
            Some(details(5))
        });
        assert_eq!(changed.details, Some(details(5)));
        // Selecting nothing, then the same stream again, sends it again.
        sent.next(&snapshot(3, 5), &http, 1, Vec::new(), None, |_| None);
        let back = sent.next(&snapshot(3, 5), &http, 1, Vec::new(), Some("cam1"), |_| {
            Some(details(5))
        });
        assert_eq!(back.details, Some(details(5)));
        let unknown = sent.next(&snapshot(3, 5), &http, 1, Vec::new(), Some("gone"), |_| {
            panic!("no such stream in the snapshot")
        });
        assert_eq!(unknown.details, None);
    }
}
