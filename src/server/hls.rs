//! `/hls/<stream>/…`: the playlists and segments FFmpeg writes, with the
//! headers players and caches need.
//!
//! Only HLS file types are served (a half-written `*.tmp` never is), no
//! directory is ever listed, and nothing outside `hls_dir` is reachable (see
//! [`super::confined`]). Playlists change every segment, so they are never
//! cached by clients; segments never change, so they may be cached for long.
//! Live playlists come from memory and may be asked for in advance
//! ([`super::playlists`]).

use super::confined::{ConfinedFiles, Fetched};
use super::origin::OriginRequests;
use super::playlists::{self, Blocked, LivePlaylists};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use tower_http::services::ServeDir;

/// Cache lifetime of a segment: its name is never used twice (see
/// `ffmpeg::hls::start_number`), so it never changes once written.
const SEGMENT_CACHE_CONTROL: &str = "public, max-age=86400, immutable";
/// A playlist must be fetched anew every time.
const PLAYLIST_CACHE_CONTROL: &str = "no-cache";
/// Bodies are produced from memory in chunks of this size.
const CHUNK_SIZE: usize = 256 * 1024;

/// The kinds of file a live HLS directory legitimately holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HlsKind {
    Playlist,
    TransportStream,
    Fmp4,
    Audio,
    Subtitles,
}

impl HlsKind {
    fn of(path: &str) -> Option<HlsKind> {
        let ext = path.rsplit_once('.')?.1;
        let is = |name: &str| ext.eq_ignore_ascii_case(name);
        Some(if is("m3u8") {
            HlsKind::Playlist
        } else if is("ts") {
            HlsKind::TransportStream
        } else if is("m4s") || is("mp4") {
            HlsKind::Fmp4
        } else if is("aac") {
            HlsKind::Audio
        } else if is("vtt") {
            HlsKind::Subtitles
        } else {
            return None;
        })
    }

    fn content_type(self) -> &'static str {
        match self {
            HlsKind::Playlist => "application/vnd.apple.mpegurl",
            HlsKind::TransportStream => "video/mp2t",
            HlsKind::Fmp4 => "video/mp4",
            HlsKind::Audio => "audio/aac",
            HlsKind::Subtitles => "text/vtt",
        }
    }

    fn cache_control(self) -> &'static str {
        match self {
            HlsKind::Playlist => PLAYLIST_CACHE_CONTROL,
            _ => SEGMENT_CACHE_CONTROL,
        }
    }
}

/// True for the kinds of file a live HLS directory holds.
pub(crate) fn is_hls_file(path: &str) -> bool {
    HlsKind::of(path).is_some()
}

/// Files that never change once they exist (everything but playlists).
fn is_immutable(path: &Path) -> bool {
    path.to_str()
        .and_then(HlsKind::of)
        .is_some_and(|kind| kind != HlsKind::Playlist)
}

/// The HLS directory as a service: shared by every connection.
///
/// Files in the memory cache (every playlist and segment in practice) are
/// answered straight from it, without a copy; a file too big to cache goes
/// through `ServeDir`, which streams it from disk. Both answer HEAD, Range
/// and conditional requests.
#[derive(Clone)]
pub(crate) struct HlsFiles(Arc<HlsInner>);

pub(crate) struct HlsInner {
    files: ConfinedFiles,
    playlists: LivePlaylists,
    serve: ServeDir<tower_http::services::fs::DefaultServeDirFallback, ConfinedFiles>,
    /// What each stream's files cost onair: counted per request answered.
    pub(crate) requests: OriginRequests,
}

impl std::ops::Deref for HlsFiles {
    type Target = HlsInner;

    fn deref(&self) -> &HlsInner {
        &self.0
    }
}

impl HlsFiles {
    /// Serves `hls_dir` (inside the Tokio runtime: it starts a watch).
    pub(crate) fn new(hls_dir: &Path) -> HlsFiles {
        let files = ConfinedFiles::new(hls_dir, is_immutable);
        let playlists = LivePlaylists::new(hls_dir, files.clone());
        let serve = ServeDir::with_backend(hls_dir, files.clone())
            .append_index_html_on_directories(false)
            .redirect_to_trailing_slash(false)
            .with_buf_chunk_size(CHUNK_SIZE);
        HlsFiles(Arc::new(HlsInner {
            files,
            playlists,
            serve,
            requests: OriginRequests::default(),
        }))
    }
}

/// `GET`/`HEAD /hls/{*path}`, readable from any origin.
pub(crate) async fn serve(State(files): State<HlsFiles>, request: Request) -> Response {
    answer(files, request).await
}

/// The answer to a `GET`/`HEAD` of an HLS file (see [`super::hls_first`]).
pub(crate) async fn answer(files: HlsFiles, request: Request) -> Response {
    super::cors::allow_any_origin(serve_file(files, request).await)
}

async fn serve_file(files: HlsFiles, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    // A clone of the URI shares its bytes: no copy of the path.
    let uri = parts.uri.clone();
    let Some(relative) = uri.path().strip_prefix("/hls") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // The kind comes from the decoded path, exactly as the file will be named.
    let Some(decoded) = percent_decode(relative) else {
        return not_found();
    };
    let Some(kind) = HlsKind::of(&decoded) else {
        return not_found();
    };
    let playlist = kind == HlsKind::Playlist;
    if playlist && files.playlists.watching() {
        return live_playlist(&files, &decoded, &parts).await;
    }
    match files.files.fetch(&decoded).await {
        Ok(Fetched::Memory { data, etag }) => {
            files.requests.count(&decoded, playlist);
            return from_memory(&parts.headers, data, etag, kind);
        }
        Ok(Fetched::Large) => {}
        Ok(Fetched::Dir) => return not_found(),
        Err(error) => return error_response(&error),
    }
    let Ok(uri) = relative.parse::<Uri>() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    files.requests.count(&decoded, playlist);
    parts.uri = uri;
    let request = Request::from_parts(parts, body);
    let mut serve = files.serve.clone();
    let response = match serve.try_call(request).await {
        Ok(response) => response.map(Body::new),
        Err(error) => return error_response(&error),
    };
    with_hls_headers(response, kind)
}

/// A live playlist from memory: at once, or (`?_HLS_msn=N`) as soon as it
/// lists segment N.
async fn live_playlist(files: &HlsFiles, relative: &str, request: &Parts) -> Response {
    let answer = match playlists::blocking_directive(request.uri.query()) {
        Ok(None) => files
            .playlists
            .current(relative)
            .await
            .map(|found| found.map(Blocked::Ready)),
        Ok(Some(msn)) => files.playlists.blocking(relative, msn).await,
        Err(()) => return refused(StatusCode::BAD_REQUEST),
    };
    match answer {
        Ok(Some(Blocked::Ready(version))) => {
            files.requests.count(relative, true);
            from_memory(
                &request.headers,
                version.body.clone(),
                version.etag.clone(),
                HlsKind::Playlist,
            )
        }
        Ok(Some(Blocked::TooFarAhead)) => refused(StatusCode::BAD_REQUEST),
        Ok(Some(Blocked::TimedOut)) => refused(StatusCode::SERVICE_UNAVAILABLE),
        Ok(Some(Blocked::Gone)) | Ok(None) => not_found(),
        Err(error) => error_response(&error),
    }
}

fn with_hls_headers(mut response: Response, kind: HlsKind) -> Response {
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        set_kind_headers(response.headers_mut(), kind);
    } else if status == StatusCode::NOT_FOUND {
        // A missing segment or playlist appears moments later: never cache the miss.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The type and caching rule of an HLS file, the same from memory or disk.
fn set_kind_headers(headers: &mut HeaderMap, kind: HlsKind) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(kind.content_type()),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(kind.cache_control()),
    );
}

/// A whole file from memory: 200, 206 for one satisfiable range, 416 for
/// an unsatisfiable one, 304 when the client's copy is current. HEAD gets
/// the same headers (axum drops the body and keeps the length).
fn from_memory(request: &HeaderMap, data: Bytes, etag: HeaderValue, kind: HlsKind) -> Response {
    let matches = |value: &HeaderValue| super::etag::matches(value, etag.as_bytes());
    let not_modified = request.get(header::IF_NONE_MATCH).is_some_and(matches);
    let len = data.len() as u64;
    let range = request
        .get(header::RANGE)
        .filter(|_| request.get(header::IF_RANGE).is_none_or(matches))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, len));
    let (status, body, content_range) = match range {
        _ if not_modified => (StatusCode::NOT_MODIFIED, Body::empty(), None),
        None => (StatusCode::OK, Body::from(data), None),
        Some(Ok((start, end))) => (
            StatusCode::PARTIAL_CONTENT,
            Body::from(data.slice(start as usize..=end as usize)),
            Some(format!("bytes {start}-{end}/{len}")),
        ),
        Some(Err(())) => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            Body::empty(),
            Some(format!("bytes */{len}")),
        ),
    };
    // Built in place: this runs for every playlist and segment request.
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.reserve(8);
    set_kind_headers(headers, kind);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, etag);
    if let Some(value) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

/// One byte range of a `Range` header, inclusive. `None`: ignore the header
/// (not bytes, several ranges, malformed: RFC 9110 lets a server answer 200);
/// `Some(Err)`: unsatisfiable.
fn parse_range(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let suffix: u64 = last.parse().ok()?;
        if suffix == 0 || len == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(suffix), len - 1)
    } else {
        let start: u64 = first.parse().ok()?;
        let end: u64 = if last.is_empty() {
            u64::MAX
        } else {
            last.parse().ok()?
        };
        if end < start {
            return None;
        }
        if start >= len {
            return Some(Err(()));
        }
        (start, end.min(len - 1))
    };
    Some(Ok(range))
}

fn not_found() -> Response {
    refused(StatusCode::NOT_FOUND)
}

/// An answer without a body that no cache may keep.
fn refused(status: StatusCode) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
    )
        .into_response()
}

fn error_response(error: &std::io::Error) -> Response {
    let not_found_kind = matches!(
        error.kind(),
        std::io::ErrorKind::NotFound
            | std::io::ErrorKind::PermissionDenied
            | std::io::ErrorKind::NotADirectory
    );
    if not_found_kind {
        not_found()
    } else {
        tracing::warn!(%error, "cannot serve an HLS file");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains('%') {
        return Some(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_extension() {
        assert_eq!(HlsKind::of("/cam1/index.m3u8"), Some(HlsKind::Playlist));
        assert_eq!(
            HlsKind::of("/cam1/seg-1700000000.ts"),
            Some(HlsKind::TransportStream)
        );
        assert_eq!(HlsKind::of("/cam1/init.mp4"), Some(HlsKind::Fmp4));
        assert_eq!(HlsKind::of("/cam1/seg-1.m4s"), Some(HlsKind::Fmp4));
        assert_eq!(HlsKind::of("/cam1/index.m3u8.tmp"), None);
        assert_eq!(HlsKind::of("/cam1/"), None);
        assert_eq!(HlsKind::of("/cam1"), None);
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=90-500", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-500", 100), Some(Ok((0, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=-0", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("bytes=9-1", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(
            percent_decode("/a%2e%2e/b%2Fc").as_deref(),
            Some("/a../b/c")
        );
        assert_eq!(percent_decode("/100%").as_deref(), Some("/100%"));
        assert_eq!(percent_decode("/%zz%4").as_deref(), Some("/%zz%4"));
        assert_eq!(percent_decode("/%ff"), None);
        assert!(matches!(
            percent_decode("/plain"),
            Some(Cow::Borrowed("/plain"))
        ));
    }
}
