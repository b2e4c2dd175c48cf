//! Screens report what they show: a real chromium plays a screen, its
//! report reaches the API, the metrics and the event stream; a stranger on
//! the LAN who floods the endpoint, sends a huge body or pretends to be that
//! screen is refused and changes nothing.

#[path = "support/chromium.rs"]
mod chromium;

use chromium::{Onair, open_browser};
use onair::server::{REPORT_BURST, REPORTS_PER_SECOND};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const LAVFI: &str =
    "lavfi:testsrc2=size=320x180:rate=15[out0];sine=frequency=440:sample_rate=48000[out1]";

/// One HTTP/1.1 connection from a chosen loopback address (another device
/// on the LAN, as far as onair can tell).
/// The server may close the connection after refusing a request whose
/// body it did not read; the next request then opens a new one.
struct Lan {
    from: String,
    stream: Option<TcpStream>,
    server: SocketAddr,
}

impl Lan {
    fn new(from: &str, server: SocketAddr) -> Lan {
        Lan {
            from: from.to_string(),
            stream: None,
            server,
        }
    }

    async fn connect(&self) -> TcpStream {
        let socket = TcpSocket::new_v4().expect("socket");
        let from = &self.from;
        socket
            .bind(format!("{from}:0").parse().expect("address"))
            .unwrap_or_else(|e| panic!("cannot bind {from}: {e}"));
        socket.connect(self.server).await.expect("connect")
    }

    /// Sends one request and reads the response's status (and body).
    async fn post(&mut self, path: &str, body: &[u8]) -> (u16, String) {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nUser-Agent: flood\r\nContent-Length: {}\r\n\r\n",
            self.server,
            body.len()
        );
        for _ in 0..2 {
            let mut stream = match self.stream.take() {
                Some(stream) => stream,
                None => self.connect().await,
            };
            if stream.write_all(head.as_bytes()).await.is_err() {
                continue;
            }
            // A refused body may be left unread by the server: a write error is fine.
            let _ = stream.write_all(body).await;
            if let Some(response) = read_response(&mut stream).await {
                self.stream = Some(stream);
                return response;
            }
        }
        panic!("no response from {} to {path}", self.server);
    }
}

async fn read_response(stream: &mut TcpStream) -> Option<(u16, String)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = find(&data, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
                data.extend_from_slice(&buf[..n]);
            }
            let status = head.split_whitespace().nth(1)?.parse().ok()?;
            let body = String::from_utf8_lossy(&data[end + 4..end + 4 + length]).to_string();
            return Some((status, body));
        }
        let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn get_json(onair: &Onair, path: &str) -> Value {
    let url = onair.url(path);
    tokio::task::spawn_blocking(move || {
        let mut response = ureq::get(&url).call().expect("GET");
        let text = response.body_mut().read_to_string().expect("body");
        serde_json::from_str(&text).expect("JSON")
    })
    .await
    .expect("join")
}

/// Polls `/api/screens` until `check` holds, or fails with the last answer.
async fn wait_screens(
    onair: &Onair,
    within: Duration,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let list = get_json(onair, "/api/screens").await;
        let reports = list.as_array().cloned().unwrap_or_default();
        if check(&reports) {
            return reports;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}; /api/screens: {list:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screen_reports_what_it_plays_and_strangers_cannot_flood_or_forge_it() {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n\
         [[stream]]\nname = \"stage\"\ninput = \"{LAVFI}\"\nprofile = \"low-latency\"\n\n\
         [[screen]]\nname = \"foyer\"\nstream = \"stage\"\n"
    );
    let onair = Onair::start(&text).await;
    let (driver, client) = open_browser().await;
    client
        .goto(&onair.url("/screen/foyer"))
        .await
        .expect("open the screen");

    let reports = wait_screens(&onair, Duration::from_secs(40), "foyer playing", |r| {
        r.len() == 1 && r[0]["state"] == "playing" && r[0]["width"] == 320
    })
    .await;
    let real = reports[0].clone();
    eprintln!("report: {real}");
    assert_eq!(real["screen"], "foyer");
    assert_eq!(real["stream"], "stage");
    assert_eq!(real["address"], "127.0.0.1");
    assert_eq!(real["height"], 180);
    assert!(
        real["user_agent"]
            .as_str()
            .unwrap_or_default()
            .contains("Chrome"),
        "{real}"
    );
    let id = real["id"].as_str().expect("id").to_string();

    // The same, in the snapshot that /events and the console get, and in metrics.
    let snapshot = onair.engine.snapshot();
    assert_eq!(snapshot.screen_reports.len(), 1);
    let metrics = onair.get_text("/metrics").await;
    assert!(
        metrics.contains("onair_screens{state=\"playing\"} 1"),
        "{metrics}"
    );

    // Another device on the LAN: a huge body is refused before it is read whole.
    let server = onair.server.local_addr();
    let mut stranger = Lan::new("127.0.0.2", server);
    let huge = vec![b'x'; 1 << 20];
    let (status, _) = stranger.post("/api/screen-reports", &huge).await;
    assert_eq!(status, 413, "a 1 MiB report");

    // It pretends to be the foyer screen: that only creates its own entry.
    let forged = format!(r#"{{"id":"{id}","screen":"foyer","state":"lost","error":"forged"}}"#);
    let (status, _) = stranger
        .post("/api/screen-reports", forged.as_bytes())
        .await;
    assert_eq!(status, 204);

    // It sends 1000 reports as fast as it can.
    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..1000 {
        let (status, _) = stranger
            .post("/api/screen-reports", forged.as_bytes())
            .await;
        if status == 429 {
            refused += 1;
        }
    }
    let took = started.elapsed();
    eprintln!("1000 reports in {took:?}: {refused} refused");
    // What the limit lets through in that time, however slow the machine was.
    let allowed = REPORT_BURST as f64 + REPORTS_PER_SECOND as f64 * took.as_secs_f64().ceil();
    assert!(
        (1000 - refused) as f64 <= allowed + 1.0,
        "{} of 1000 reports taken in {took:?}; the limit allows {allowed}",
        1000 - refused
    );

    // The real screen still reports, and its entry is untouched.
    let before = real["updated_at"].as_u64().expect("updated_at");
    let reports = wait_screens(
        &onair,
        Duration::from_secs(20),
        "a new report of foyer",
        |r| {
            r.iter().any(|x| {
                x["address"] == "127.0.0.1"
                    && x["updated_at"].as_u64().unwrap_or(0) > before
                    && x["state"] == "playing"
            })
        },
    )
    .await;
    let mine: Vec<&Value> = reports
        .iter()
        .filter(|r| r["address"] == "127.0.0.1")
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], id.as_str());
    assert_eq!(mine[0]["error"], Value::Null, "{reports:?}");
    let forged_entry: Vec<&Value> = reports
        .iter()
        .filter(|r| r["address"] == "127.0.0.2")
        .collect();
    assert_eq!(
        forged_entry.len(),
        1,
        "the stranger has its own entry: {reports:?}"
    );
    assert!(
        onair
            .engine
            .snapshot()
            .stream("stage")
            .is_some_and(|s| s.state.label() == "running"),
        "the stream carries on"
    );

    // The page goes away: its report goes with it.
    client.goto("about:blank").await.expect("leave the screen");
    wait_screens(&onair, Duration::from_secs(10), "foyer dropped", |r| {
        !r.iter().any(|x| x["address"] == "127.0.0.1")
    })
    .await;

    let _ = client.close().await;
    drop(driver);
    onair.stop().await;
}
