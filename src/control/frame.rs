//! Frames on the control socket: a 4-byte big-endian length, then one JSON
//! document of that many bytes.
//!
//! JSON keeps the protocol readable (`socat` and `jq` can talk to an engine)
//! and tolerant: a field added later with `#[serde(default)]` is simply
//! absent in an older peer's frames, and unknown fields are skipped. The
//! length prefix lets a reader know where a message ends without parsing,
//! and caps what a peer can make the other side allocate.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// The largest frame either side accepts. A snapshot of 64 streams is
/// about 100 KB; anything near this is a broken or hostile peer.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// What can go wrong with one frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed, or the peer sent a length over [`MAX_FRAME`].
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    /// The frame is not the JSON message expected here.
    #[error("control socket: unreadable message ({0})")]
    Json(#[from] serde_json::Error),
}

/// The codec both sides use: 4-byte big-endian lengths, at most [`MAX_FRAME`].
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// The reading half of a connection, as a stream of frames.
pub type Reader<R> = FramedRead<R, LengthDelimitedCodec>;

/// The writing half of a connection, as a sink of frames.
pub type Writer<W> = FramedWrite<W, LengthDelimitedCodec>;

/// Wraps the reading half of a connection.
pub fn reader<R: AsyncRead>(io: R) -> Reader<R> {
    FramedRead::new(io, codec())
}

/// Wraps the writing half of a connection.
pub fn writer<W: AsyncWrite>(io: W) -> Writer<W> {
    FramedWrite::new(io, codec())
}

/// One message as the bytes of a frame's body.
pub fn encode<T: Serialize + ?Sized>(message: &T) -> Result<Bytes, FrameError> {
    Ok(Bytes::from(serde_json::to_vec(message)?))
}

/// One frame's body as a message.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    Ok(serde_json::from_slice(body)?)
}

/// Writes one message and flushes it.
pub async fn send<W, T>(writer: &mut Writer<W>, message: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize + ?Sized,
{
    writer.send(encode(message)?).await?;
    Ok(())
}

/// Reads the next message; `None` when the peer closed the connection
/// between two frames. Safe to use in `select!`: a read interrupted there
/// keeps what it had and goes on at the next call.
pub async fn recv<R, T>(reader: &mut Reader<R>) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    match reader.next().await {
        None => Ok(None),
        Some(body) => Ok(Some(decode(&body?)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use tokio::io::AsyncWriteExt;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Old {
        name: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct New {
        name: String,
        #[serde(default)]
        added: Vec<u32>,
    }

    #[tokio::test]
    async fn messages_cross_a_connection_in_order() {
        let (a, b) = tokio::io::duplex(64);
        let mut tx = writer(a);
        let mut rx = reader(b);
        let sending = tokio::spawn(async move {
            for name in ["one", "two", "three"] {
                send(&mut tx, &Old { name: name.into() }).await.unwrap();
            }
        });
        for name in ["one", "two", "three"] {
            let got: Option<Old> = recv(&mut rx).await.unwrap();
            assert_eq!(got, Some(Old { name: name.into() }));
        }
        sending.await.unwrap();
        let end: Option<Old> = recv(&mut rx).await.unwrap();
        assert_eq!(end, None, "a closed connection ends the stream");
    }

    #[test]
    fn the_body_follows_a_big_endian_length() {
        let mut codec = codec();
        let mut out = bytes::BytesMut::new();
        tokio_util::codec::Encoder::encode(
            &mut codec,
            encode(&Old { name: "x".into() }).unwrap(),
            &mut out,
        )
        .unwrap();
        assert_eq!(&out[..4], &[0, 0, 0, 12]);
        assert_eq!(&out[4..], br#"{"name":"x"}"#);
    }

    #[test]
    fn fields_added_later_travel_both_ways() {
        let from_old: New = decode(&encode(&Old { name: "a".into() }).unwrap()).unwrap();
        assert_eq!(from_old.added, Vec::<u32>::new());
        let newer = New {
            name: "b".into(),
            added: vec![1],
        };
        let from_new: Old = decode(&encode(&newer).unwrap()).unwrap();
        assert_eq!(from_new.name, "b");
    }

    #[tokio::test]
    async fn an_oversized_length_is_refused_before_anything_is_allocated() {
        let (mut a, b) = tokio::io::duplex(64);
        let mut rx = reader(b);
        a.write_all(&(MAX_FRAME as u32 + 1).to_be_bytes())
            .await
            .unwrap();
        let got: Result<Option<Old>, _> = recv(&mut rx).await;
        assert!(matches!(got, Err(FrameError::Io(_))), "{got:?}");
    }

    #[tokio::test]
    async fn a_frame_cut_short_is_an_error_not_a_message() {
        let (mut a, b) = tokio::io::duplex(64);
        let mut rx = reader(b);
        a.write_all(&[0, 0, 0, 50]).await.unwrap();
        a.write_all(b"{\"name\":").await.unwrap();
        drop(a);
        let got: Result<Option<Old>, _> = recv(&mut rx).await;
        assert!(got.is_err(), "{got:?}");
    }

    #[tokio::test]
    async fn garbage_is_reported_as_unreadable() {
        let (a, b) = tokio::io::duplex(64);
        let mut tx = writer(a);
        let mut rx = reader(b);
        tx.send(Bytes::from_static(b"not json")).await.unwrap();
        let got: Result<Option<Old>, _> = recv(&mut rx).await;
        assert!(matches!(got, Err(FrameError::Json(_))), "{got:?}");
    }
}
