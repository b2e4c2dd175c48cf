//! The HTTP server end to end: a real engine, real FFmpeg where a live
//! stream is needed, real sockets on 127.0.0.1, files in temp dirs.

mod common;

use common::{LAVFI, TempConfig, free_port, wait_for, wait_until};
use onair::config;
use onair::engine::{Command, Engine, EngineOptions, EngineTask};
use onair::server::{self, Server, ServerError};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ harness

/// onair (engine + HTTP server) on a temp config.
struct Onair {
    config: TempConfig,
    engine: Engine,
    task: EngineTask,
    server: Server,
}

impl Onair {
    /// Starts on `[server]` + `rest`, listening on a port the OS picks.
    async fn start(rest: &str) -> Onair {
        Onair::start_with_env(rest, &|_| None).await
    }

    /// Same, with `${VAR}` answered by `env` (no change to the process environment).
    async fn start_with_env(rest: &str, env: &dyn Fn(&str) -> Option<String>) -> Onair {
        let text = format!("[server]\nlisten = \"127.0.0.1:0\"\nstall_timeout = 4\n\n{rest}");
        let config = TempConfig::new(&text);
        let loaded = config::load_str(&text, &config.path, env)
            .unwrap_or_else(|e| panic!("valid config: {e}"));
        let (engine, task) =
            Engine::start(loaded, EngineOptions { write_back: false }).expect("engine starts");
        let server = server::start(engine.clone()).await.expect("server starts");
        Onair {
            config,
            engine,
            task,
            server,
        }
    }

    fn http(&self) -> Http {
        Http::new(self.server.local_addr())
    }

    fn hls_dir(&self) -> std::path::PathBuf {
        self.config.dir.path().join("hls")
    }

    async fn stop(self) {
        self.server.shutdown().await;
        self.engine.send(Command::Shutdown);
        tokio::time::timeout(Duration::from_secs(15), self.task.wait())
            .await
            .expect("engine stops");
    }
}

/// One HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A blocking HTTP client for one server (run it off the async workers).
#[derive(Clone)]
struct Http {
    addr: SocketAddr,
    agent: ureq::Agent,
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Http { addr, agent }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[])
    }

    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.agent.get(&self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        Reply {
            status: response.status().as_u16(),
            headers: response
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: response
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_vec()
                .unwrap_or_else(|e| panic!("GET {path} body: {e}")),
        }
    }

    fn head(&self, path: &str) -> Reply {
        let mut response = self
            .agent
            .head(&self.url(path))
            .call()
            .unwrap_or_else(|e| panic!("HEAD {path}: {e}"));
        Reply {
            status: response.status().as_u16(),
            headers: response
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: response.body_mut().read_to_vec().unwrap_or_default(),
        }
    }

    /// A request written byte for byte, so no client can tidy the path up.
    fn raw(&self, path: &str) -> Reply {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: onair\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Reply {
            status,
            headers,
            body: raw[(split + 4).min(raw.len())..].to_vec(),
        }
    }
}

/// Runs blocking client code off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("client code panicked")
}

/// Reads server-sent events from `path` until `done` says stop or `within` passes.
fn read_events(
    addr: SocketAddr,
    path: &str,
    within: Duration,
    mut done: impl FnMut(&str, &serde_json::Value) -> bool,
) -> Vec<(String, serde_json::Value)> {
    let deadline = Instant::now() + within;
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: onair\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("write");
    let mut seen = Vec::new();
    let mut buffer = String::new();
    let mut chunk = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buffer.push_str(&String::from_utf8_lossy(&chunk[..n])),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => panic!("reading {path}: {e}"),
        }
        // Chunked transfer encoding: event lines are whole inside chunks.
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer[..end].to_string();
            buffer.drain(..end + 2);
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if data.is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&data)
                .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data}"));
            let stop = done(&name, &value);
            seen.push((name, value));
            if stop {
                return seen;
            }
        }
    }
    seen
}

fn lavfi_stream(name: &str, profile: &str) -> String {
    format!("[[stream]]\nname = \"{name}\"\ninput = \"{LAVFI}\"\nprofile = \"{profile}\"\n\n")
}

/// A disabled stream: an engine with nothing running, for file-server tests.
fn idle_stream() -> String {
    format!("[[stream]]\nname = \"idle\"\ninput = \"{LAVFI}\"\nenabled = false\n\n")
}

fn write(path: &std::path::Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, data).expect("write");
}

/// Bytes that are easy to check at any offset.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

// -------------------------------------------------------------- file server

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_files_get_their_types_cache_rules_and_cors() {
    let onair = Onair::start(&idle_stream()).await;
    let dir = onair.hls_dir().join("cam1");
    write(
        &dir.join("index.m3u8"),
        b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nseg-1.ts\n",
    );
    write(&dir.join("seg-1.ts"), &pattern(4096));
    write(&dir.join("init.mp4"), &pattern(100));
    write(&dir.join("seg-2.m4s"), &pattern(200));
    let http = onair.http();
    blocking(move || {
        let playlist = http.get_with(
            "/hls/cam1/index.m3u8",
            &[("Origin", "http://elsewhere.example")],
        );
        assert_eq!(playlist.status, 200);
        assert_eq!(
            playlist.header("content-type"),
            Some("application/vnd.apple.mpegurl")
        );
        assert_eq!(playlist.header("cache-control"), Some("no-cache"));
        assert_eq!(playlist.header("access-control-allow-origin"), Some("*"));
        assert!(playlist.text().starts_with("#EXTM3U"));

        let segment = http.get("/hls/cam1/seg-1.ts");
        assert_eq!(segment.status, 200);
        assert_eq!(segment.header("content-type"), Some("video/mp2t"));
        let cache = segment.header("cache-control").unwrap_or_default();
        assert!(cache.contains("max-age="), "segment cache-control: {cache}");
        let max_age: u64 = cache
            .split(',')
            .find_map(|p| p.trim().strip_prefix("max-age="))
            .and_then(|v| v.parse().ok())
            .expect("a max-age number");
        assert!(max_age >= 3600, "segments may be cached for long: {cache}");
        assert_eq!(segment.header("access-control-allow-origin"), Some("*"));
        assert_eq!(segment.body, pattern(4096));

        for path in ["/hls/cam1/init.mp4", "/hls/cam1/seg-2.m4s"] {
            let reply = http.get(path);
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(reply.header("content-type"), Some("video/mp4"), "{path}");
        }
        // CORS without an Origin header too (some kiosk players omit it).
        let plain = http.get("/hls/cam1/seg-1.ts");
        assert_eq!(plain.header("access-control-allow-origin"), Some("*"));
        // A preflight for a Range request is answered.
        let preflight = http
            .agent
            .run(
                ureq::http::Request::builder()
                    .method("OPTIONS")
                    .uri(http.url("/hls/cam1/seg-1.ts"))
                    .header("Origin", "http://elsewhere.example")
                    .header("Access-Control-Request-Method", "GET")
                    .header("Access-Control-Request-Headers", "range")
                    .body(())
                    .expect("request"),
            )
            .expect("preflight");
        assert!(
            preflight.status().is_success(),
            "preflight: {}",
            preflight.status()
        );
        assert_eq!(
            preflight
                .headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("*")
        );
    })
    .await;
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_and_range_requests_are_answered() {
    let onair = Onair::start(&idle_stream()).await;
    let data = pattern(400 * 1024);
    write(&onair.hls_dir().join("cam1").join("seg-7.ts"), &data);
    let http = onair.http();
    blocking(move || {
        let head = http.head("/hls/cam1/seg-7.ts");
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-length"), Some("409600"));
        assert_eq!(head.header("content-type"), Some("video/mp2t"));
        assert!(head.body.is_empty());

        let part = http.get_with("/hls/cam1/seg-7.ts", &[("Range", "bytes=1000-1999")]);
        assert_eq!(part.status, 206);
        assert_eq!(part.header("content-range"), Some("bytes 1000-1999/409600"));
        assert_eq!(part.body, data[1000..2000].to_vec());

        let tail = http.get_with("/hls/cam1/seg-7.ts", &[("Range", "bytes=-100")]);
        assert_eq!(tail.status, 206);
        assert_eq!(tail.body, data[data.len() - 100..].to_vec());

        let beyond = http.get_with("/hls/cam1/seg-7.ts", &[("Range", "bytes=500000-")]);
        assert_eq!(beyond.status, 416);

        let whole = http.get("/hls/cam1/seg-7.ts");
        assert_eq!(whole.status, 200);
        assert_eq!(whole.body, data);
    })
    .await;
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_too_big_for_the_memory_cache_is_streamed_from_disk_the_same_way() {
    let onair = Onair::start(&idle_stream()).await;
    let data = pattern(17 * 1024 * 1024);
    write(&onair.hls_dir().join("cam1").join("init.mp4"), &data);
    let http = onair.http();
    blocking(move || {
        let head = http.head("/hls/cam1/init.mp4");
        assert_eq!(head.status, 200);
        assert_eq!(
            head.header("content-length"),
            Some(data.len().to_string().as_str())
        );
        assert_eq!(head.header("content-type"), Some("video/mp4"));
        let part = http.get_with(
            "/hls/cam1/init.mp4",
            &[("Range", "bytes=16777216-16777315")],
        );
        assert_eq!(part.status, 206);
        assert_eq!(part.body, data[16_777_216..16_777_316].to_vec());
        let whole = http.get("/hls/cam1/init.mp4");
        assert_eq!(whole.status, 200);
        assert_eq!(whole.header("access-control-allow-origin"), Some("*"));
        assert!(
            whole
                .header("cache-control")
                .unwrap_or("")
                .contains("max-age=")
        );
        assert!(whole.body == data, "the streamed body differs");
    })
    .await;
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_outside_hls_dir_is_reachable() {
    let onair = Onair::start(&idle_stream()).await;
    let hls = onair.hls_dir();
    let secret = b"SECRET-OUTSIDE-HLS";
    // Beside hls_dir, in another temp dir, and inside hls_dir but not servable.
    write(&onair.config.dir.path().join("secret.ts"), secret);
    let elsewhere = tempfile::tempdir().expect("temp dir");
    write(&elsewhere.path().join("secret.ts"), secret);
    write(&elsewhere.path().join("index.m3u8"), secret);
    write(&hls.join("cam1").join("seg-1.ts"), b"fine");
    write(&hls.join("cam1").join("index.m3u8.tmp"), secret);
    write(&hls.join("cam1").join("notes.txt"), secret);
    std::os::unix::fs::symlink(
        elsewhere.path().join("secret.ts"),
        hls.join("cam1").join("link.ts"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink(elsewhere.path(), hls.join("outside")).expect("symlink");
    let outside_abs = elsewhere.path().join("secret.ts").display().to_string();
    let http = onair.http();
    blocking(move || {
        let ok = http.raw("/hls/cam1/seg-1.ts");
        assert_eq!(ok.status, 200, "the control request works");
        assert_eq!(ok.body, b"fine");
        let attempts = [
            "/hls/../secret.ts".to_string(),
            "/hls/cam1/../../secret.ts".to_string(),
            "/hls/%2e%2e/secret.ts".to_string(),
            "/hls/%2E%2E/secret.ts".to_string(),
            "/hls/cam1/%2e%2e/%2e%2e/secret.ts".to_string(),
            "/hls/%2e%2e%2fsecret.ts".to_string(),
            "/hls/cam1/..%2f..%2fsecret.ts".to_string(),
            "/hls/..%5csecret.ts".to_string(),
            format!("/hls/{outside_abs}"),
            format!("/hls/{}", outside_abs.replace('/', "%2f")),
            format!("/hls//{}", outside_abs.trim_start_matches('/')),
            "/hls/cam1/link.ts".to_string(),
            "/hls/outside/secret.ts".to_string(),
            "/hls/outside/index.m3u8".to_string(),
            "/hls/cam1/index.m3u8.tmp".to_string(),
            "/hls/cam1/notes.txt".to_string(),
            "/hls/cam1/".to_string(),
            "/hls/cam1".to_string(),
            "/hls/".to_string(),
            "/assets/../streams.toml".to_string(),
            "/assets/%2e%2e/streams.toml".to_string(),
        ];
        for path in &attempts {
            let reply = http.raw(path);
            assert!(
                reply.status == 404 || reply.status == 400,
                "{path} answered {} (expected 404 or 400)",
                reply.status
            );
            let body = String::from_utf8_lossy(&reply.body);
            assert!(!body.contains("SECRET"), "{path} leaked the secret");
            assert!(!body.contains("[server]"), "{path} leaked the config");
            assert!(!body.contains("seg-1.ts"), "{path} listed a directory");
        }
    })
    .await;
    onair.stop().await;
}

// ------------------------------------------------------------- live stream

/// Checks one playlist text and returns the segments it lists.
fn parse_playlist(text: &str) -> Result<Vec<String>, String> {
    if !text.starts_with("#EXTM3U\n") {
        return Err("does not start with #EXTM3U".into());
    }
    if !text.ends_with('\n') {
        return Err("last line is not complete".into());
    }
    let mut segments = Vec::new();
    let mut expecting_uri = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let duration = rest.split(',').next().unwrap_or("");
            duration
                .parse::<f64>()
                .map_err(|_| format!("bad EXTINF duration in {line:?}"))?;
            expecting_uri = true;
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            if !expecting_uri {
                return Err(format!("segment {line:?} without #EXTINF"));
            }
            if !line.ends_with(".ts") {
                return Err(format!("truncated segment name {line:?}"));
            }
            segments.push(line.to_string());
            expecting_uri = false;
        }
    }
    if expecting_uri {
        return Err("#EXTINF without a segment".into());
    }
    if segments.is_empty() {
        return Err("no segment".into());
    }
    Ok(segments)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_playlist_read_in_a_tight_loop_always_parses() {
    let onair = Onair::start(&lavfi_stream("cam", "low-latency")).await;
    let http = onair.http();
    let wait = http.clone();
    blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while wait.get("/hls/cam/index.m3u8").status != 200 {
            assert!(Instant::now() < deadline, "no playlist within 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await;
    let (reads, distinct, segments_checked) = blocking(move || {
        let until = Instant::now() + Duration::from_secs(6);
        let mut reads = 0u32;
        let mut distinct = std::collections::HashSet::new();
        let mut segments_checked = 0u32;
        while Instant::now() < until {
            let reply = http.get("/hls/cam/index.m3u8");
            assert_eq!(
                reply.status, 200,
                "the playlist went missing after read {reads}"
            );
            let text = reply.text();
            let segments =
                parse_playlist(&text).unwrap_or_else(|e| panic!("read {reads}: {e}:\n{text}"));
            reads += 1;
            if distinct.insert(text) {
                // A new version: every segment it lists must be there.
                for segment in &segments {
                    let head = http.head(&format!("/hls/cam/{segment}"));
                    assert_eq!(head.status, 200, "{segment} is listed but missing");
                    segments_checked += 1;
                }
            }
        }
        (reads, distinct.len(), segments_checked)
    })
    .await;
    assert!(
        reads >= 200,
        "only {reads} reads in 6 s: the loop is not tight"
    );
    assert!(
        distinct >= 4,
        "the playlist changed only {distinct} times in 6 s: is the stream live?"
    );
    assert!(segments_checked >= 4);
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_keys_never_reach_the_api_events_metrics_or_pages() {
    let key = "sk-live-7f3a9c1e5b2d";
    let closed_port = free_port();
    let streams = format!(
        "[[stream]]\nname = \"program\"\ninput = \"{LAVFI}\"\noutput = \"rtmp://127.0.0.1:{closed_port}/live/${{TEST_STREAM_KEY}}\"\n\n{}",
        lavfi_stream("cam", "low-latency")
    );
    let env = move |name: &str| (name == "TEST_STREAM_KEY").then(|| key.to_string());
    let onair = Onair::start_with_env(&streams, &env).await;
    // Let the push fail at least once so its error and stderr are in the snapshot.
    wait_for(
        &onair.engine,
        Duration::from_secs(30),
        "the push to fail once",
        |s| {
            s.stream("program")
                .is_some_and(|p| p.restarts >= 1 || p.last_error.is_some())
        },
    )
    .await;
    let http = onair.http();
    let addr = onair.server.local_addr();
    blocking(move || {
        let api = http.get("/api/streams");
        assert_eq!(api.status, 200);
        assert!(
            api.header("content-type")
                .unwrap_or("")
                .starts_with("application/json")
        );
        let json: serde_json::Value = serde_json::from_slice(&api.body).expect("JSON");
        let names: Vec<&str> = json["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(names, ["program", "cam"]);
        let program = &json["streams"][0];
        assert_eq!(program["output_kind"], "rtmp");
        assert!(
            program["output"]
                .as_str()
                .unwrap_or("")
                .starts_with("rtmp://127.0.0.1")
        );
        for (what, text) in [
            ("/api/streams", api.text()),
            ("/metrics", http.get("/metrics").text()),
            ("/", http.get("/").text()),
            ("/api/watch/cam", http.get("/api/watch/cam").text()),
        ] {
            assert!(!text.contains(key), "{what} shows the stream key:\n{text}");
        }
        let events = read_events(addr, "/events", Duration::from_secs(5), |name, _| {
            name == "snapshot"
        });
        assert!(!events.is_empty(), "no snapshot event");
        for (_, value) in events {
            assert!(
                !value.to_string().contains(key),
                "/events shows the stream key"
            );
        }
    })
    .await;
    onair.stop().await;
}

/// One sample line of the text format: `name{labels} value`.
/// A parsed sample: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

fn parse_sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        None => (series.to_string(), Vec::new()),
        Some((name, rest)) => {
            let body = rest.strip_suffix('}')?;
            let mut labels = Vec::new();
            for pair in body.split("\",").filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once("=\"")?;
                labels.push((key.to_string(), value.trim_end_matches('"').to_string()));
            }
            (name.to_string(), labels)
        }
    };
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    valid_name.then_some((name, labels, value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_with_every_stream_figure() {
    let onair = Onair::start(&lavfi_stream("cam", "low-latency")).await;
    wait_for(
        &onair.engine,
        Duration::from_secs(20),
        "cam running with figures",
        |s| {
            s.stream("cam").is_some_and(|c| {
                c.state.label() == "running"
                    && c.fps.is_some_and(|f| f > 0.0)
                    && c.rss_bytes.is_some()
                    && c.bitrate_kbps.is_some()
            })
        },
    )
    .await;
    let http = onair.http();
    blocking(move || {
        let first = http.get("/metrics");
        assert_eq!(first.status, 200);
        assert!(
            first
                .header("content-type")
                .unwrap_or("")
                .starts_with("text/plain; version=0.0.4"),
            "{:?}",
            first.header("content-type")
        );
        for _ in 0..3 {
            http.get("/api/streams");
        }
        let text = http.get("/metrics").text();
        let mut typed = std::collections::HashMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(["gauge", "counter"].contains(&kind), "{line}");
                typed.insert(name.to_string(), kind.to_string());
            } else if line.starts_with("# HELP ") {
                continue;
            } else {
                let sample =
                    parse_sample(line).unwrap_or_else(|| panic!("not a sample line: {line:?}"));
                assert!(
                    typed.contains_key(&sample.0),
                    "{} has no # TYPE before it",
                    sample.0
                );
                samples.push(sample);
            }
        }
        let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
            samples
                .iter()
                .find(|(n, l, _)| {
                    n == name
                        && labels
                            .iter()
                            .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
                })
                .map(|(_, _, v)| *v)
        };
        assert_eq!(value("onair_stream_up", &[("stream", "cam")]), Some(1.0));
        assert_eq!(
            value(
                "onair_stream_state",
                &[("stream", "cam"), ("state", "running")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                "onair_stream_state",
                &[("stream", "cam"), ("state", "failed")]
            ),
            Some(0.0)
        );
        assert_eq!(
            value("onair_stream_restarts_total", &[("stream", "cam")]),
            Some(0.0)
        );
        assert_eq!(
            value("onair_stream_stalls_total", &[("stream", "cam")]),
            Some(0.0)
        );
        assert!(value("onair_stream_cpu_percent", &[("stream", "cam")]).is_some());
        assert!(value("onair_stream_rss_bytes", &[("stream", "cam")]).is_some_and(|v| v > 1e6));
        let fps = value("onair_stream_fps", &[("stream", "cam")]);
        assert!(fps.is_some_and(|v| v > 0.0), "fps = {fps:?}");
        assert!(value("onair_stream_bitrate_bits_per_second", &[("stream", "cam")]).is_some());
        assert_eq!(
            typed.get("onair_http_requests_total").map(String::as_str),
            Some("counter")
        );
        let requests = value("onair_http_requests_total", &[]).expect("requests");
        assert!(requests >= 5.0, "requests_total = {requests}");
        assert!(
            value("onair_http_response_bytes_total", &[])
                .is_some_and(|v| v as usize > first.body.len())
        );
    })
    .await;
    onair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_a_clear_error_at_start() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\n{}",
        idle_stream()
    );
    let config = TempConfig::new(&text);
    let (engine, task) =
        Engine::start(config.load(), EngineOptions { write_back: false }).expect("engine");
    let error = match server::start(engine.clone()).await {
        Ok(_) => panic!("a busy port must be refused"),
        Err(e) => e,
    };
    assert!(
        matches!(error, ServerError::PortInUse { port: p, .. } if p == port),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("port {port} is in use: set [server].listen in streams.toml")
    );
    engine.send(Command::Shutdown);
    task.wait().await;
}

// ----------------------------------------------------- screens and reloads

fn screen_config(listen: &str, screen_stream: &str, banner: &str) -> String {
    let cam = lavfi_stream("cam", "low-latency");
    format!(
        "[server]\nlisten = \"{listen}\"\nstall_timeout = 4\n\n{cam}\
         [[stream]]\nname = \"lobby\"\ninput = \"{LAVFI}\"\nprofile = \"stable\"\nenabled = false\n\n\
         [[screen]]\nname = \"foyer\"\nstream = \"{screen_stream}\"\n\
         banner = {{ text = \"{banner}\", position = \"bottom\" }}\n\
         clock = {{ format = \"24h\", position = \"top-right\" }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_api_and_assets_serve_screens() {
    let text = screen_config("127.0.0.1:0", "cam", "Welcome");
    let config = TempConfig::new(&text);
    // The operator's logo beside the config wins over the embedded one.
    write(
        &config.dir.path().join("assets").join("onair-logo.svg"),
        b"<svg>operator's logo</svg>",
    );
    let (engine, task) =
        Engine::start(config.load(), EngineOptions { write_back: false }).expect("engine");
    let server = server::start(engine.clone()).await.expect("server");
    wait_for(
        &engine,
        Duration::from_secs(10),
        "the first snapshot",
        |s| !s.screens.is_empty(),
    )
    .await;
    let http = Http::new(server.local_addr());
    blocking(move || {
        let index = http.get("/");
        assert_eq!(index.status, 200);
        let html = index.text();
        assert!(html.contains("href=\"/screen/foyer\""), "{html}");
        assert!(html.contains("href=\"/watch/cam\""), "{html}");
        assert!(html.contains("href=\"/watch/lobby\""), "{html}");

        let page = http.get("/screen/foyer");
        assert_eq!(page.status, 200);
        assert!(
            page.header("content-type")
                .unwrap_or("")
                .starts_with("text/html")
        );
        let page = page.text();
        assert!(page.contains(r#"{"screen":"foyer"}"#), "{page}");
        assert!(page.contains("/assets/hls.min.js") && page.contains("/assets/player.js"));
        assert!(
            http.get("/watch/cam")
                .text()
                .contains(r#"{"stream":"cam"}"#)
        );
        let missing = http.get("/screen/nowhere");
        assert_eq!(missing.status, 404);
        assert!(
            missing.text().contains("foyer"),
            "a 404 names the screens that exist"
        );
        assert_eq!(http.get("/watch/nothing").status, 404);

        let view: serde_json::Value =
            serde_json::from_slice(&http.get("/api/screens/foyer").body).expect("JSON");
        assert_eq!(view["screen"]["name"], "foyer");
        assert_eq!(view["screen"]["banner"]["text"], "Welcome");
        assert_eq!(view["screen"]["banner"]["position"], "bottom");
        assert_eq!(view["screen"]["clock"]["position"], "top-right");
        assert_eq!(view["stream"]["name"], "cam");
        assert_eq!(view["stream"]["profile"], "low-latency");
        assert_eq!(view["stream"]["hls_time"], 0.5);
        assert_eq!(view["stream"]["screen_delay"], 0.9);
        assert_eq!(view["stream"]["hls_url"], "/hls/cam/index.m3u8");
        assert_eq!(http.get("/api/screens/nowhere").status, 404);

        let hls_js = http.get("/assets/hls.min.js");
        assert_eq!(hls_js.status, 200);
        assert!(
            hls_js
                .header("content-type")
                .unwrap_or("")
                .contains("javascript")
        );
        assert!(hls_js.body.len() > 100_000);
        let etag = hls_js.header("etag").expect("an etag").to_string();
        assert_eq!(
            http.get_with("/assets/hls.min.js", &[("If-None-Match", &etag)])
                .status,
            304
        );
        assert_eq!(http.get("/assets/player.js").status, 200);
        assert_eq!(http.get("/assets/player.css").status, 200);
        assert_eq!(http.get("/assets/hls.js.LICENSE").status, 200);
        assert_eq!(
            http.get("/assets/onair-logo.svg").text(),
            "<svg>operator's logo</svg>"
        );
        assert_eq!(http.get("/assets/nothing.png").status, 404);
    })
    .await;
    server.shutdown().await;
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screen_events_follow_the_config_and_are_counted() {
    let text = screen_config("127.0.0.1:0", "cam", "Welcome");
    let config = TempConfig::new(&text);
    let (engine, task) =
        Engine::start(config.load(), EngineOptions { write_back: false }).expect("engine");
    let server = server::start(engine.clone()).await.expect("server");
    let addr = server.local_addr();
    let mut stats = server.stats();

    // A screen connects: counted while it is open.
    let (first_view_tx, first_view_rx) = std::sync::mpsc::channel::<()>();
    let reader = tokio::task::spawn_blocking(move || {
        read_events(
            addr,
            "/events?screen=foyer",
            Duration::from_secs(30),
            |name, view| {
                let _ = first_view_tx.send(());
                name == "view"
                    && view["stream"]["name"] == "lobby"
                    && view["screen"]["banner"]["text"] == "Changed"
            },
        )
    });
    blocking(move || {
        first_view_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a first view")
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.borrow_and_update().screens_connected != 1 {
        assert!(Instant::now() < deadline, "the open screen is not counted");
        let _ = tokio::time::timeout(Duration::from_millis(500), stats.changed()).await;
    }
    // The operator points the screen at another stream and changes its banner.
    std::fs::write(
        &config.path,
        screen_config("127.0.0.1:0", "lobby", "Changed"),
    )
    .expect("rewrite");
    engine.send(Command::Reload);
    let events = reader.await.expect("reader");
    let views: Vec<&serde_json::Value> = events
        .iter()
        .filter(|(n, _)| n == "view")
        .map(|(_, v)| v)
        .collect();
    assert!(
        views.len() >= 2,
        "expected the first view and the change: {events:?}"
    );
    assert_eq!(views[0]["stream"]["name"], "cam");
    assert_eq!(views[0]["screen"]["banner"]["text"], "Welcome");
    let last = views.last().expect("a view");
    assert_eq!(last["stream"]["name"], "lobby", "{last}");
    assert_eq!(last["stream"]["profile"], "stable");
    assert_eq!(last["stream"]["hls_time"], 4.0);
    // The screen is gone: no longer counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.borrow_and_update().screens_connected != 0 {
        assert!(
            Instant::now() < deadline,
            "a closed screen is still counted"
        );
        let _ = tokio::time::timeout(Duration::from_millis(500), stats.changed()).await;
    }

    // A profile switch reaches an open player of the stream.
    let (first_view_tx, first_view_rx) = std::sync::mpsc::channel::<()>();
    let reader = tokio::task::spawn_blocking(move || {
        read_events(
            addr,
            "/events?stream=cam",
            Duration::from_secs(20),
            |name, view| {
                let _ = first_view_tx.send(());
                name == "view" && view["stream"]["profile"] == "stable"
            },
        )
    });
    blocking(move || {
        first_view_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a first view")
    })
    .await;
    engine.send(Command::SetProfile {
        stream: "cam".into(),
        profile: onair::config::Profile::Stable,
    });
    let events = reader.await.expect("reader");
    let last = &events.last().expect("events").1;
    assert_eq!(last["stream"]["profile"], "stable", "{events:?}");
    server.shutdown().await;
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_listen_address_moves_the_server_without_touching_streams() {
    let first_port = free_port();
    let text = screen_config(&format!("127.0.0.1:{first_port}"), "cam", "Welcome");
    let config = TempConfig::new(&text);
    let (engine, task) =
        Engine::start(config.load(), EngineOptions { write_back: false }).expect("engine");
    let server = server::start(engine.clone()).await.expect("server");
    assert_eq!(server.local_addr().port(), first_port);
    let running = wait_for(&engine, Duration::from_secs(20), "cam running", |s| {
        common::is_running(s, "cam")
    })
    .await;
    let pid = common::running_pid(&running, "cam");

    // Move to a free port: the new one answers, the old one is let go.
    let second_port = free_port();
    std::fs::write(
        &config.path,
        screen_config(&format!("127.0.0.1:{second_port}"), "cam", "Welcome"),
    )
    .expect("rewrite");
    engine.send(Command::Reload);
    let mut stats = server.stats();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.local_addr().port() != second_port {
        assert!(
            Instant::now() < deadline,
            "the server did not move: {:?}",
            stats.borrow().clone()
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), stats.changed()).await;
    }
    assert_eq!(stats.borrow().listen, format!("127.0.0.1:{second_port}"));
    assert_eq!(stats.borrow().error, None);
    let moved = Http::new(server.local_addr());
    assert_eq!(
        blocking(move || moved.get("/api/streams").status).await,
        200
    );
    wait_until(Duration::from_secs(5), "the old port to close", || {
        TcpStream::connect(("127.0.0.1", first_port)).is_err()
    })
    .await;

    // Move to a busy port: refused, the server stays where it is and says why.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_port = busy.local_addr().expect("addr").port();
    std::fs::write(
        &config.path,
        screen_config(&format!("127.0.0.1:{busy_port}"), "cam", "Welcome"),
    )
    .expect("rewrite");
    engine.send(Command::Reload);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let error = stats.borrow_and_update().error.clone();
        if let Some(error) = error {
            assert!(
                error.contains(&format!("port {busy_port} is in use")),
                "{error}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no error for a busy port");
        let _ = tokio::time::timeout(Duration::from_millis(200), stats.changed()).await;
    }
    assert_eq!(server.local_addr().port(), second_port);
    let still = Http::new(server.local_addr());
    assert_eq!(
        blocking(move || still.get("/api/streams").status).await,
        200
    );

    // The stream never noticed.
    let snapshot = engine.snapshot();
    assert_eq!(
        common::running_pid(&snapshot, "cam"),
        pid,
        "the stream was restarted by a server move"
    );
    drop(busy);
    server.shutdown().await;
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_hls_dir_is_served_once_the_streams_write_there() {
    let listen = format!("127.0.0.1:{}", free_port());
    let text = format!(
        "[server]\nlisten = \"{listen}\"\nhls_dir = \"first\"\n\n{}",
        lavfi_stream("cam", "low-latency")
    );
    let config = TempConfig::new(&text);
    let (engine, task) =
        Engine::start(config.load(), EngineOptions { write_back: false }).expect("engine");
    let server = server::start(engine.clone()).await.expect("server");
    let http = Http::new(server.local_addr());
    let first = config.dir.path().join("first/cam");
    wait_until(Duration::from_secs(15), "a playlist in first/", || {
        common::playlist_is_live(&first)
    })
    .await;
    let get = http.clone();
    assert_eq!(
        blocking(move || get.get("/hls/cam/index.m3u8").status).await,
        200
    );

    std::fs::write(
        &config.path,
        text.replace("hls_dir = \"first\"", "hls_dir = \"second\""),
    )
    .expect("rewrite");
    engine.send(Command::Reload);
    let second = config.dir.path().join("second/cam");
    wait_until(Duration::from_secs(15), "a playlist in second/", || {
        common::playlist_is_live(&second)
    })
    .await;
    // What is served now is the new directory's playlist (the old one, ended, stays behind).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let get = http.clone();
        // Served as written, plus the tag that offers blocking reload.
        let served = blocking(move || get.get("/hls/cam/index.m3u8"))
            .await
            .text()
            .replace("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n", "");
        let new = std::fs::read_to_string(second.join("index.m3u8")).unwrap_or_default();
        let old = std::fs::read_to_string(first.join("index.m3u8")).unwrap_or_default();
        if served == new && served != old {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still serving the old hls_dir:\n{served}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown().await;
    engine.send(Command::Shutdown);
    task.wait().await;
}
