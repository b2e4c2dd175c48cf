//! The messages of the control socket.
//!
//! A connection starts with two hellos: the engine speaks first
//! ([`EngineHello`]: its version, pid and config, or why this peer is
//! refused), the client answers ([`ClientHello`]: its version and what it
//! came for). The hellos are plain and will stay so, so that a client of any
//! version can read why it was turned away. Then the client sends
//! [`Request`]s and the engine sends [`Event`]s.
//!
//! What travels is the engine's own vocabulary: [`Command`]s in, [`Snapshot`]s
//! out. A new `Command` variant or a new snapshot field (with
//! `#[serde(default)]`) needs no change here.

use crate::engine::{Command, LogEntry, Snapshot, StreamDetails};
use crate::server::ServerStats;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The protocol's own number: raised when a message changes shape in a way
/// that defaults cannot absorb.
pub const PROTOCOL: u32 = 1;

/// This build's onair version, as both hellos carry it.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The engine's first frame on every connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineHello {
    /// The engine's onair version.
    pub onair: String,
    /// The engine's [`PROTOCOL`].
    pub protocol: u32,
    /// The engine's process id (for `kill`, and for waiting on its end).
    pub pid: u32,
    /// The canonical path of the engine's config.
    pub config: String,
    /// Set when the engine will not serve this peer, with why; the engine
    /// closes the connection after this frame.
    #[serde(default)]
    pub refused: Option<String>,
}

/// The client's answer to [`EngineHello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientHello {
    /// The client's onair version.
    pub onair: String,
    /// The client's [`PROTOCOL`].
    pub protocol: u32,
    /// What the client came for.
    #[serde(default)]
    pub role: Role,
}

impl ClientHello {
    /// The hello of this build.
    pub fn new(role: Role) -> ClientHello {
        ClientHello {
            onair: version().to_string(),
            protocol: PROTOCOL,
            role,
        }
    }
}

/// What a client came for. Only consoles count as attached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An operator's dashboard, shown in the others' headers.
    #[default]
    Console,
    /// `onair status`: one picture.
    Status,
    /// A script sending commands (`onair stop`).
    Control,
}

/// Whether two versions may talk. Builds of one version share the shape of
/// every message; anything else is refused with what to do.
pub fn compatible(ours: (&str, u32), theirs: (&str, u32)) -> bool {
    ours == theirs
}

/// A client's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Start the flow of [`Event::Update`]s, or change which stream's
    /// details (stderr tail, history) they carry. `None`: no details.
    Watch {
        /// The stream whose details to send.
        #[serde(default)]
        details: Option<String>,
    },
    /// An operator's intent, handled exactly as if the engine's own UI had
    /// sent it. [`Command::Shutdown`] stops every stream and the engine.
    Command {
        /// The command.
        command: Command,
    },
}

/// An engine's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// What changed since the previous update to this client.
    Update(Box<Update>),
    /// The engine is ending (every stream stopped); the connection closes next.
    Closing {
        /// What happened, in the operator's words.
        reason: String,
    },
}

/// What changed since the previous update to this client. The first update
/// after [`Request::Watch`] carries everything; later ones only what changed.
/// A client keeps the last value of each part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The engine's newest snapshot, when there is a newer one than the last sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Arc<Snapshot>>,
    /// The HTTP server's figures (connected screens, its address, its error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<ServerStats>,
    /// How many consoles are attached, this one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consoles: Option<usize>,
    /// Engine log entries newer than those already sent, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<LogEntry>,
    /// The watched stream's details, when they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StreamDetails>,
}

impl Update {
    /// True when there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.http.is_none()
            && self.consoles.is_none()
            && self.log.is_empty()
            && self.details.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;
    use crate::control::frame::{decode, encode};

    #[test]
    fn requests_read_as_json_a_person_could_type() {
        let watch: Request = decode(br#"{"request":"watch","details":"cam1"}"#).unwrap();
        assert_eq!(
            watch,
            Request::Watch {
                details: Some("cam1".into())
            }
        );
        let command: Request = decode(
            br#"{"request":"command","command":{"command":"set_profile","stream":"cam1","profile":"stable"}}"#,
        )
        .unwrap();
        assert_eq!(
            command,
            Request::Command {
                command: Command::SetProfile {
                    stream: "cam1".into(),
                    profile: Profile::Stable
                }
            }
        );
    }

    #[test]
    fn every_event_survives_the_trip() {
        let update = Event::Update(Box::new(Update {
            snapshot: Some(Arc::new(Snapshot {
                seq: 7,
                ..Snapshot::default()
            })),
            consoles: Some(2),
            log: vec![LogEntry {
                seq: 3,
                at: 1,
                stream: Some("cam1".into()),
                level: "info".into(),
                text: "running".into(),
            }],
            details: Some(StreamDetails {
                name: "cam1".into(),
                seq: 4,
                stderr: vec!["[warning] x".into()],
                history: Vec::new(),
            }),
            ..Update::default()
        }));
        let closing = Event::Closing {
            reason: "stopped".into(),
        };
        for event in [update, closing] {
            let back: Event = decode(&encode(&event).unwrap()).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn an_update_leaves_out_what_did_not_change() {
        let body = encode(&Event::Update(Box::new(Update {
            consoles: Some(3),
            ..Update::default()
        })))
        .unwrap();
        assert_eq!(&body[..], br#"{"event":"update","consoles":3}"#);
    }

    #[test]
    fn a_hello_from_an_older_client_still_reads() {
        let hello: ClientHello = decode(br#"{"onair":"0.0.9","protocol":1}"#).unwrap();
        assert_eq!(hello.role, Role::Console);
        assert!(!compatible(
            (version(), PROTOCOL),
            (&hello.onair, hello.protocol)
        ));
        assert!(compatible((version(), PROTOCOL), (version(), PROTOCOL)));
    }

    #[test]
    fn a_refusal_reads_without_knowing_anything_else() {
        let hello: EngineHello = decode(
            br#"{"onair":"9.9.9","protocol":99,"pid":1,"config":"/x","refused":"no","future":[1]}"#,
        )
        .unwrap();
        assert_eq!(hello.refused.as_deref(), Some("no"));
    }
}
