//! Ports for the tests' servers, on the loopback address only. Kept apart
//! from the rest of `common` (and free of onair's types) so that the RTMP
//! helpers and the benchmarks can include it on its own.

use std::net::{Ipv4Addr, TcpListener};

/// A port on 127.0.0.1 that nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind a port on 127.0.0.1")
}
