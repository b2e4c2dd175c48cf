//! The client's side of the control socket: consoles, `onair status` and
//! `onair stop` connect here.

use super::frame::{self, FrameError, Reader, Writer};
use super::peer;
use super::place::{Place, PlaceError};
use super::protocol::{self, ClientHello, EngineHello, Event, PROTOCOL, Request, Role};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// How long an engine has to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(5);

/// Why a client cannot talk to an engine; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// No engine runs for this config (no socket, or a dead engine's).
    #[error("no engine runs for {shown}: start one with `onair {shown}` (console) or `onair --headless {shown}`", shown = config.display())]
    NoEngine {
        /// The config.
        config: PathBuf,
    },
    /// The socket's directory belongs to another user.
    #[error("permission denied on {}: the engine for this config belongs to {}; only that user (or root) may attach, send it commands or read its status", socket.display(), owner.map(peer::describe_user).unwrap_or_else(|| "another user".to_string()))]
    Denied {
        /// The socket.
        socket: PathBuf,
        /// The owner of its directory, if it could be seen.
        owner: Option<u32>,
    },
    /// The engine refused this client (another user).
    #[error("the engine refused: {0}")]
    Refused(String),
    /// The engine runs another onair version.
    #[error(
        "this is onair {ours}, but the engine for {config} (pid {pid}) runs onair {theirs}: use that version's `onair`, or stop the engine with `kill -TERM {pid}` and start it again with this one"
    )]
    Version {
        /// This build.
        ours: String,
        /// The engine's.
        theirs: String,
        /// The engine's pid.
        pid: u32,
        /// The engine's config.
        config: String,
    },
    /// The config or the socket's directory cannot be used.
    #[error(transparent)]
    Place(#[from] PlaceError),
    /// The engine did not say hello in time.
    #[error("the engine at {} did not answer within {HELLO_WITHIN:?}: is it stopped (SIGSTOP) or overloaded?", socket.display())]
    Silent {
        /// The socket.
        socket: PathBuf,
    },
    /// The socket failed.
    #[error("cannot reach the engine at {}: {source}", socket.display())]
    Io {
        /// The socket.
        socket: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The engine sent something unreadable.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// A connection to an engine, past the hellos.
pub struct Session {
    hello: EngineHello,
    reader: Reader<OwnedReadHalf>,
    writer: Writer<OwnedWriteHalf>,
}

impl Session {
    /// Connects to the engine of `place` and exchanges hellos. Creates
    /// nothing: with no engine this is [`AttachError::NoEngine`].
    pub async fn connect(place: &Place, role: Role) -> Result<Session, AttachError> {
        let stream = match UnixStream::connect(&place.socket).await {
            Ok(stream) => stream,
            Err(e) => return Err(connect_error(place, e)),
        };
        let (read, write) = stream.into_split();
        let mut reader = frame::reader(read);
        let mut writer = frame::writer(write);
        let hello: EngineHello =
            match tokio::time::timeout(HELLO_WITHIN, frame::recv(&mut reader)).await {
                Err(_) => {
                    return Err(AttachError::Silent {
                        socket: place.socket.clone(),
                    });
                }
                // The engine closed as we came: it is ending.
                Ok(Ok(None)) => {
                    return Err(AttachError::NoEngine {
                        config: place.config.clone(),
                    });
                }
                Ok(Ok(Some(hello))) => hello,
                Ok(Err(e)) => return Err(e.into()),
            };
        check(&hello)?;
        frame::send(&mut writer, &ClientHello::new(role)).await?;
        Ok(Session {
            hello,
            reader,
            writer,
        })
    }

    /// The engine's process id.
    pub fn engine_pid(&self) -> u32 {
        self.hello.pid
    }

    /// The engine's config, canonical.
    pub fn engine_config(&self) -> &str {
        &self.hello.config
    }

    /// Sends one request.
    pub async fn send(&mut self, request: &Request) -> Result<(), FrameError> {
        frame::send(&mut self.writer, request).await
    }

    /// The next event; `None` when the engine closed the connection. Safe
    /// in `select!`.
    pub async fn next(&mut self) -> Result<Option<Event>, FrameError> {
        frame::recv(&mut self.reader).await
    }

    /// Asks the engine to stop every stream and end, then waits until it
    /// has: its connection closes once every FFmpeg is gone, then its
    /// process ends. Returns the engine's closing words, if it said any.
    pub async fn stop_engine(mut self) -> Option<String> {
        let pid = self.engine_pid();
        let request = Request::Command {
            command: crate::engine::Command::Shutdown,
        };
        if self.send(&request).await.is_err() {
            return None;
        }
        let reason = self.closed().await;
        // The connection closes as the process exits: a moment more.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while process_alive(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        reason
    }

    /// Reads until the engine closes the connection; returns the reason of
    /// its closing message, if it sent one (an engine that died sends none).
    pub async fn closed(mut self) -> Option<String> {
        let mut reason = None;
        while let Ok(Some(event)) = self.next().await {
            if let Event::Closing { reason: why } = event {
                reason = Some(why);
            }
        }
        reason
    }
}

/// The engine's hello, judged: refused, another version, or fine.
fn check(hello: &EngineHello) -> Result<(), AttachError> {
    if let Some(reason) = &hello.refused {
        return Err(AttachError::Refused(reason.clone()));
    }
    let ours = (protocol::version(), PROTOCOL);
    if !protocol::compatible(ours, (&hello.onair, hello.protocol)) {
        return Err(AttachError::Version {
            ours: ours.0.to_string(),
            theirs: hello.onair.clone(),
            pid: hello.pid,
            config: hello.config.clone(),
        });
    }
    Ok(())
}

fn connect_error(place: &Place, e: std::io::Error) -> AttachError {
    use std::io::ErrorKind;
    match e.kind() {
        // No socket, or a socket nobody listens on (a killed engine's).
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => AttachError::NoEngine {
            config: place.config.clone(),
        },
        ErrorKind::PermissionDenied => AttachError::Denied {
            socket: place.socket.clone(),
            owner: place.dir_owner(),
        },
        _ => AttachError::Io {
            socket: place.socket.clone(),
            source: e,
        },
    }
}

/// Whether a process exists and has not ended (a zombie has ended).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(onair: &str, refused: Option<&str>) -> EngineHello {
        EngineHello {
            onair: onair.into(),
            protocol: PROTOCOL,
            pid: 42,
            config: "/etc/onair/streams.toml".into(),
            refused: refused.map(str::to_string),
        }
    }

    #[test]
    fn the_same_version_is_welcome() {
        assert!(check(&hello(protocol::version(), None)).is_ok());
    }

    #[test]
    fn another_version_is_refused_with_what_to_do() {
        let error = check(&hello("0.0.1-other", None)).unwrap_err().to_string();
        assert!(
            error.contains("runs onair 0.0.1-other") && error.contains("kill -TERM 42"),
            "{error}"
        );
    }

    #[test]
    fn a_refusal_is_passed_on_word_for_word() {
        let error = check(&hello(protocol::version(), Some("not yours")))
            .unwrap_err()
            .to_string();
        assert_eq!(error, "the engine refused: not yours");
    }

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX - 1));
    }
}
