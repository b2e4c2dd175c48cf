//! The server's connections: TCP sockets that send cached segments
//! ([`super::file_backed`]) with `sendfile`, without copying them.
//!
//! hyper hands a connection the response as slices (headers, then the
//! body's `Bytes`). A slice that lies in a file-backed segment is sent by
//! the kernel straight from the segment's file; the headers before it go
//! out with `MSG_MORE`, so they share a packet with the first bytes of the
//! body. Everything else is written as usual.

use super::file_backed;
use axum::serve::Listener;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The most one `sendfile` call is asked to send.
const SENDFILE_CHUNK: usize = 4 * 1024 * 1024;

/// A listener whose connections send cached segments with `sendfile`.
pub(crate) struct Accepting(pub(crate) TcpListener);

impl Listener for Accepting {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        let (tcp, peer) = Listener::accept(&mut self.0).await;
        // Playlists are small: send them at once rather than wait for more.
        let _ = tcp.set_nodelay(true);
        (
            Connection {
                tcp,
                sendfile: true,
            },
            peer,
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// One accepted connection.
pub(crate) struct Connection {
    tcp: TcpStream,
    /// False once the kernel refused `sendfile` on this socket.
    sendfile: bool,
}

impl Connection {
    /// Sends the start of `slice`, whose bytes are those of file `fd` at
    /// `offset`, straight from that file.
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        slice: &[u8],
        fd: RawFd,
        offset: u64,
    ) -> Poll<io::Result<usize>> {
        let socket = self.tcp.as_raw_fd();
        let count = slice.len().min(SENDFILE_CHUNK);
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            let sent = self.tcp.try_io(Interest::WRITABLE, || {
                let mut from = libc::off_t::try_from(offset).map_err(io::Error::other)?;
                // SAFETY: both descriptors are open (the socket is ours, the
                // file lives as long as `slice`); `from` is a local.
                let n = unsafe { libc::sendfile(socket, fd, &mut from, count) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match sent {
                // The file ended early (shrunk since it was read): the
                // bytes in memory are the ones to send.
                Ok(0) => return Pin::new(&mut self.tcp).poll_write(cx, slice),
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) if refused(&error) => {
                    self.sendfile = false;
                    return Pin::new(&mut self.tcp).poll_write(cx, slice);
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }

    /// Writes `slices` (none of them file-backed) saying more follows at once.
    fn poll_send_more(
        &mut self,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let socket = self.tcp.as_raw_fd();
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            let sent = self.tcp.try_io(Interest::WRITABLE, || {
                // SAFETY: an all-zero msghdr is valid; it points at `slices`
                // (IoSlice is ABI-compatible with iovec) for this call only.
                let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
                message.msg_iov = slices.as_ptr() as *mut libc::iovec;
                message.msg_iovlen = slices.len() as _;
                let flags = libc::MSG_MORE | libc::MSG_NOSIGNAL;
                // SAFETY: the socket is open and `message` is valid.
                let n = unsafe { libc::sendmsg(socket, &message, flags) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match sent {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }
}

/// The kernel cannot `sendfile` from this file to this socket.
fn refused(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
    )
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.sendfile {
            return Pin::new(&mut this.tcp).poll_write_vectored(cx, slices);
        }
        let backed = slices
            .iter()
            .enumerate()
            .find_map(|(i, s)| file_backed::lookup(s).map(|found| (i, found)));
        match backed {
            None => Pin::new(&mut this.tcp).poll_write_vectored(cx, slices),
            Some((first, (fd, offset))) => {
                if slices[..first].iter().all(|s| s.is_empty()) {
                    this.poll_sendfile(cx, &slices[first], fd, offset)
                } else {
                    this.poll_send_more(cx, &slices[..first])
                }
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        // hyper then hands the body over as it is, not copied into its buffer.
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
