//! Who may see what over HTTP, with real sockets: a client on an operator
//! address, and one on another loopback address standing in for a screen
//! or a guest on the venue's LAN (`127.0.0.2` reaching a server on
//! `127.0.0.1`, with `operator_allow = ["127.0.0.1"]`).

mod common;

use common::TempConfig;
use onair::engine::{Command, Engine, EngineOptions, EngineTask};
use onair::server::{self, Server, ServerLimits};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const OPERATOR: [u8; 4] = [127, 0, 0, 1];
const GUEST: [u8; 4] = [127, 0, 0, 2];

/// A disabled stream (no FFmpeg needed) and a screen that plays it.
const VENUE: &str = "[server]\nlisten = \"127.0.0.1:0\"\noperator_allow = [\"127.0.0.1\"]\n\n\
    [[stream]]\nname = \"stage\"\ninput = \"lavfi:testsrc2\"\nenabled = false\n\n\
    [[screen]]\nname = \"foyer\"\nstream = \"stage\"\n";

struct Onair {
    _config: TempConfig,
    engine: Engine,
    task: EngineTask,
    server: Server,
}

impl Onair {
    async fn start(limits: ServerLimits) -> Onair {
        Onair::start_with(VENUE, &|_| None, limits).await
    }

    /// onair on `text`, with `${VAR}` answered by `env`.
    async fn start_with(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        limits: ServerLimits,
    ) -> Onair {
        let config = TempConfig::new(text);
        let loaded = onair::config::load_str(text, &config.path, env).expect("valid config");
        let (engine, task) =
            Engine::start(loaded, EngineOptions { write_back: false }).expect("engine");
        let server = server::start_with(engine.clone(), limits)
            .await
            .expect("server");
        Onair {
            _config: config,
            engine,
            task,
            server,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    async fn stop(self) {
        self.server.shutdown().await;
        self.engine.send(Command::Shutdown);
        self.task.wait().await;
    }
}

/// A connection to `server` from the loopback address `from`.
async fn connect(from: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind the client address");
    socket.connect(server).await.expect("connect")
}

/// Sends a GET and reads the status line and headers; the connection stays
/// open (an event stream never ends).
async fn open(from: [u8; 4], server: SocketAddr, path: &str) -> (u16, String, TcpStream) {
    let mut stream = connect(from, server).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("an answer within 10 s")
            .expect("read");
        assert!(
            n > 0,
            "closed before the headers: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, head, stream)
}

/// A whole answer: status and body.
async fn get(from: [u8; 4], server: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, mut stream) = open(from, server, path).await;
    let mut body = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut body))
        .await
        .expect("the whole body within 10 s")
        .expect("read");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `onair_screens_connected` as the operator reads it.
async fn screens_connected(server: SocketAddr) -> u64 {
    let (_, metrics) = get(OPERATOR, server, "/metrics").await;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("onair_screens_connected "))
        .and_then(|v| v.trim().parse().ok())
        .expect("onair_screens_connected in /metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_data_goes_only_to_operator_addresses() {
    let onair = Onair::start(ServerLimits::default()).await;
    let addr = onair.addr();

    for path in ["/api/streams", "/metrics"] {
        let (status, body) = get(OPERATOR, addr, path).await;
        assert_eq!(status, 200, "{path} for the operator: {body}");
        let (status, body) = get(GUEST, addr, path).await;
        assert_eq!(status, 403, "{path} for a guest: {body}");
        assert!(
            body.contains("127.0.0.2") && body.contains("[server].operator_allow"),
            "the refusal says why and what to change: {body}"
        );
        assert!(!body.contains("stage"), "{body}");
    }
    let (status, _, _events) = open(OPERATOR, addr, "/events").await;
    assert_eq!(status, 200);
    let (status, body) = get(GUEST, addr, "/events").await;
    assert_eq!(
        (status, body.contains("operator_allow")),
        (403, true),
        "{body}"
    );

    // The index: screens for everyone, the stream table for the operator.
    let (_, operator_page) = get(OPERATOR, addr, "/").await;
    assert!(
        operator_page.contains("<h2>Streams</h2>"),
        "{operator_page}"
    );
    let (status, guest_page) = get(GUEST, addr, "/").await;
    assert_eq!(status, 200);
    assert!(guest_page.contains("/screen/foyer"), "{guest_page}");
    assert!(!guest_page.contains("<h2>Streams</h2>"), "{guest_page}");
    assert!(!guest_page.contains("/api/streams"), "{guest_page}");

    // What a screen needs stays open.
    for path in [
        "/screen/foyer",
        "/api/screens/foyer",
        "/watch/stage",
        "/api/watch/stage",
    ] {
        let (status, body) = get(GUEST, addr, path).await;
        assert_eq!(status, 200, "{path} for a screen: {body}");
    }
    let (status, _, _screen_events) = open(GUEST, addr, "/events?screen=foyer").await;
    assert_eq!(status, 200);
    let (status, _) = get(GUEST, addr, "/hls/stage/index.m3u8").await;
    assert_eq!(status, 404, "no playlist yet, but not refused");
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_for_an_unknown_screen_are_404_and_not_counted() {
    let onair = Onair::start(ServerLimits::default()).await;
    let addr = onair.addr();
    let (status, body) = get(GUEST, addr, "/events?screen=nowhere").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("nowhere"), "{body}");
    let (status, _) = get(GUEST, addr, "/events?stream=nothing").await;
    assert_eq!(status, 404);
    assert_eq!(screens_connected(addr).await, 0);
    let (status, _, _foyer) = open(GUEST, addr, "/events?screen=foyer").await;
    assert_eq!(status, 200);
    assert_eq!(screens_connected(addr).await, 1);
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_beyond_the_cap_are_refused_until_one_closes() {
    let onair = Onair::start(ServerLimits { event_streams: 2 }).await;
    let addr = onair.addr();
    let (first, _, first_stream) = open(GUEST, addr, "/events?screen=foyer").await;
    let (second, _, _second_stream) = open(GUEST, addr, "/events?stream=stage").await;
    assert_eq!((first, second), (200, 200));
    let (status, head, _) = open(GUEST, addr, "/events?screen=foyer").await;
    assert_eq!(status, 503, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 5"),
        "{head}"
    );

    // A screen goes away: its place is free again.
    drop(first_stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, _stream) = open(GUEST, addr, "/events?screen=foyer").await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variable_in_overlay_text_is_shown_as_written_and_one_in_a_url_or_args_never() {
    const KEY: &str = "k3y-5f1e9c2a";
    const TOKEN: &str = "t0ken-8b4d0e";
    let env = |name: &str| match name {
        "EVENT" => Some("Grand Final".to_string()),
        "KEY" => Some(KEY.to_string()),
        "TOKEN" => Some(TOKEN.to_string()),
        _ => None,
    };
    let dead = common::free_port();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n\
         [[stream]]\nname = \"stage\"\ninput = \"lavfi:testsrc2\"\nenabled = false\n\n\
         [[stream]]\nname = \"push\"\ninput = \"lavfi:testsrc2=size=160x90:rate=5\"\n\
         output = \"rtmp://127.0.0.1:{dead}/live/${{KEY}}\"\n\
         output_args = [\"-metadata\", \"comment=${{TOKEN}}\"]\n\n\
         [[screen]]\nname = \"foyer\"\nstream = \"stage\"\n\
         banner = {{ text = \"Welcome to the ${{EVENT}}\" }}\n\
         ticker = {{ text = \"Tickets: https://tix.example/final?code=VIP\" }}\n"
    );
    let onair = Onair::start_with(&text, &env, ServerLimits::default()).await;
    let addr = onair.addr();

    // On the screen: as written.
    let (status, view) = get(GUEST, addr, "/api/screens/foyer").await;
    assert_eq!(status, 200, "{view}");
    let view: serde_json::Value = serde_json::from_str(&view).expect("json");
    assert_eq!(
        view["screen"]["banner"]["text"],
        "Welcome to the Grand Final"
    );
    assert_eq!(
        view["screen"]["ticker"]["text"],
        "Tickets: https://tix.example/final?code=VIP"
    );

    // The push has tried its destination: its command and error are shown, masked.
    common::wait_for(
        &onair.engine,
        Duration::from_secs(30),
        "a failed push",
        |s| s.stream("push").is_some_and(|r| r.last_error.is_some()),
    )
    .await;
    let (status, api) = get(OPERATOR, addr, "/api/streams").await;
    assert_eq!(status, 200);
    assert!(api.contains("/live/****"), "{api}");
    assert!(api.contains("comment=****"), "{api}");
    for (secret, place) in [(KEY, "the API"), (TOKEN, "the API")] {
        assert!(!api.contains(secret), "{secret} in {place}: {api}");
    }
    let (_, metrics) = get(OPERATOR, addr, "/metrics").await;
    assert!(
        !metrics.contains(KEY) && !metrics.contains(TOKEN),
        "{metrics}"
    );
    onair.stop().await;
}
