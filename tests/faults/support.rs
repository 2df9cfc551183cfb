//! Helpers of the fault tests: scripted TCP servers on a background tokio runtime (whose sockets
//! can be reset with SO_LINGER 0), raw WebSocket handshakes and frames, HTTP heads, and process
//! memory read from /proc. Every wait is bounded ([`LIMIT`]) so a hang fails instead of blocking.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The bound on every wait in these tests (never asserted as a duration: only a hang hits it).
pub const LIMIT: Duration = Duration::from_secs(30);

/// A multi-threaded runtime for one test's servers and clients.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `fut`, or a panic naming `what` after [`LIMIT`].
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {LIMIT:?}: {what}"),
    }
}

/// Listens on a loopback port and runs `handler` for every connection, on `rt`.
pub fn serve<F, Fut>(rt: &tokio::runtime::Runtime, handler: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(handler(s));
        }
    });
    addr
}

/// Closes a socket with a TCP reset (SO_LINGER 0).
#[allow(deprecated)] // SO_LINGER 0 resets at once: nothing blocks on drop
pub fn reset(s: TcpStream) {
    s.set_linger(Some(Duration::ZERO)).expect("SO_LINGER 0");
    drop(s);
}

/// Reads up to the end of an HTTP head; returns it and the bytes after it.
pub async fn read_head_async(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return (String::from_utf8_lossy(&buf).into_owned(), rest);
        }
        let n = s.read(&mut chunk).await.unwrap_or(0);
        assert!(
            n > 0,
            "connection closed inside an HTTP head; got {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A header's value in a head (case-insensitive name).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads until EOF or an error (a reset counts as the end); returns what arrived.
pub async fn read_until_closed(s: &mut TcpStream, mut got: Vec<u8>) -> Vec<u8> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Client side of a WebSocket handshake through the proxy at `addr`; returns the socket and any
/// frame bytes that came with the 101.
pub async fn ws_connect(addr: SocketAddr, path: &str) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr)
        .await
        .expect("connect to the proxy");
    s.set_nodelay(true).expect("nodelay");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write handshake");
    let (head, rest) = read_head_async(&mut s).await;
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "expected a 101, got {head}"
    );
    (s, rest)
}

/// Server side of a WebSocket handshake: reads the request and answers 101.
pub async fn ws_accept(s: &mut TcpStream) -> Vec<u8> {
    let (head, rest) = read_head_async(s).await;
    let key = header(&head, "sec-websocket-key").unwrap_or_default();
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        sockscope::ws::accept_key(key)
    );
    s.write_all(resp.as_bytes()).await.expect("write 101");
    rest
}

/// One frame with FIN set and the minimal length form, masked when `mask` is given.
pub fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    sockscope::ws::encode_frame(true, false, opcode, mask, payload)
}

/// A field of /proc/PID/status in kB (VmRSS: now, VmHWM: peak).
pub fn proc_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Sends a signal to a process with the `kill` command.
pub fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

/// A `sockscope` process started from a prepared command (its stderr is read here), for the
/// tests that need more control than `common::Proxy`: their own stdout, a wrapper shell, an exit
/// they wait for themselves.
pub struct Sockscope {
    pub child: std::process::Child,
    /// Where it listens, from its banner.
    pub addr: SocketAddr,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Sockscope {
    /// Spawns `cmd` (which must run `sockscope proxy --listen 127.0.0.1:0 ...`) with stderr
    /// piped, and waits for the banner.
    pub fn start(mut cmd: std::process::Command) -> Sockscope {
        use std::io::BufRead;
        let mut child = cmd
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sockscope");
        let stderr = child.stderr.take().expect("stderr");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(mut g) = l.lock() {
                    g.push(line.clone());
                }
                let _ = tx.send(line);
            }
        });
        let addr = loop {
            let Ok(line) = rx.recv_timeout(LIMIT) else {
                let _ = child.kill();
                panic!("no banner; stderr: {:#?}", lines.lock().map(|g| g.clone()));
            };
            if let Some(rest) = line.split(" listening on http://").nth(1) {
                let a = rest.split_whitespace().next().unwrap_or("");
                break a.parse().expect("banner address");
            }
        };
        Sockscope { child, addr, lines }
    }

    /// The stderr lines so far.
    pub fn stderr(&self) -> Vec<String> {
        self.lines.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// Waits for the exit (panics after [`LIMIT`]); gives the stderr reader a moment to finish.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sockscope did not exit; stderr: {:#?}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sockscope {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
