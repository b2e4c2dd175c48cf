//! The control socket: how consoles, `onair status` and `onair stop` reach
//! the engine process.
//!
//! One engine runs per canonical config path (`onair --headless CONFIG`).
//! It holds a lock file and listens on a unix socket in a directory only its
//! user can enter ([`place`]). A client connects, both sides say hello with
//! their versions ([`protocol`]), and then the client sends [`Request`]s
//! (the engine's own `Command`s, and which stream's details it shows) and
//! receives [`Event`]s (snapshots and what changed since the last one).
//! Every message is one length-prefixed JSON frame ([`frame`]).
//!
//! The engine knows nothing of this module: [`server`] reads the engine's
//! public handle like any other UI, and `headless` wires the two together.

pub mod client;
pub mod frame;
pub mod launch;
pub mod lock;
pub mod peer;
pub mod place;
pub mod protocol;
pub mod server;

pub use client::{AttachError, Session};
pub use lock::{EngineLock, LockError};
pub use place::{Place, PlaceError};
pub use protocol::{ClientHello, EngineHello, Event, Request, Role, Update};
pub use server::ControlServer;
