//! Issue 12, CONNECT tunnels: the client gets what the origin sent.
//!
//! - TLS interception follows the client's SNI: a client that CONNECTs to an IP address and
//!   verifies `origin.test` reaches an origin whose certificate names only `origin.test`, the
//!   leaf sockscope mints names it too, and the capture records `https://origin.test:PORT/...`.
//!   Without an SNI (a client connecting to an IP literal) the CONNECT host is used as before;
//!   `--ignore-hosts` matches the SNI too.
//! - Only a real HTTP/1.x request line is decoded as HTTP: HTTP/2 prior knowledge (curl, Node's
//!   http2 origin) and text protocols are relayed byte for byte, also when their first line comes
//!   in pieces; an HTTP/1 request line split across reads is still decoded.
//! - A refused CONNECT (403, 502, 400) closes the connection: bytes the client sent right after
//!   the CONNECT head are never served as new requests.
//!
//! Every exchange runs directly and through the proxy, and both must agree.

mod common;
mod transparency_tunnel_support;

use common::origin::Origin;
use common::*;
use serde_json::Value;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;
use transparency_tunnel_support::*;

// ---------------------------------------------------------------------------------------------
// TLS interception follows the SNI

#[test]
fn intercepted_tls_follows_the_sni_not_the_connect_host() {
    let dir = TempDir::new("tunnel-sni");
    let (cert, key) = origin_test_cert(dir.path());
    let (_origin, port) = sni_origin(&cert, &key, &[]);
    let origin_addr = format!("127.0.0.1:{port}");
    let host = format!("origin.test:{port}");

    // Directly: TCP to 127.0.0.1, TLS and HTTP for origin.test.
    let direct = sni_client(&origin_addr, None, "origin.test", &cert, "/sni?x=1", &host);
    assert_eq!(direct.get("error"), None, "direct: {direct}");
    assert_eq!(direct["status"], "HTTP/1.1 200 OK", "direct: {direct}");
    let echo: Value = serde_json::from_str(direct["body"].as_str().unwrap_or("")).expect("json");
    assert_eq!(echo["sni"], "origin.test", "the origin saw the SNI: {echo}");

    // Through sockscope: CONNECT 127.0.0.1:PORT, SNI origin.test, trusting sockscope's CA.
    let proxy = Proxy::start(&["--upstream-ca", &cert.display().to_string()]);
    let ca = proxy.home().join("ca.pem");
    let proxy_addr = proxy.addr.to_string();
    let via = sni_client(
        &proxy_addr,
        Some(&origin_addr),
        "origin.test",
        &ca,
        "/sni?x=1",
        &host,
    );
    assert_eq!(via.get("error"), None, "through the proxy: {via}");
    assert_eq!(via["connect"], "HTTP/1.1 200 OK", "{via}");
    assert_eq!(via["status"], direct["status"], "{via}");
    // The origin saw the same request, SNI included, whether or not sockscope was in between.
    assert_eq!(via["body"], direct["body"], "{via}");
    // The leaf sockscope minted names the SNI host.
    assert_eq!(
        via["cert_names"],
        serde_json::json!(["origin.test"]),
        "{via}"
    );

    let c = proxy.stop().capture;
    let t = c.of_type("tunnel_open");
    assert_eq!(t.len(), 1, "{}", c.summary());
    assert_eq!(
        (t[0]["content"].as_str(), t[0]["decoded"].as_bool()),
        (Some("tls"), Some(true)),
        "{}",
        t[0]
    );
    assert_eq!(t[0]["host"], "127.0.0.1", "the address dialled: {}", t[0]);
    assert_eq!(t[0]["tls"]["sni"], "origin.test", "{}", t[0]);
    let reqs = c.of_type("http_request");
    let get = reqs
        .iter()
        .find(|r| r["method"] == "GET")
        .unwrap_or_else(|| panic!("the GET inside was decoded:\n{}", c.summary()));
    assert_eq!(
        get["url"],
        format!("https://origin.test:{port}/sni?x=1").as_str()
    );
    let resp = c
        .of_type("http_response")
        .into_iter()
        .find(|r| r["exchange"] == get["exchange"])
        .unwrap_or_else(|| panic!("a response to the GET:\n{}", c.summary()));
    assert_eq!(resp["status"], 200, "{resp}");
    assert_ne!(resp["generated"], true, "the origin's own answer: {resp}");
    assert!(c.of_type("anomaly").is_empty(), "{}", c.summary());
}

#[test]
fn intercepted_tls_redials_the_connect_address_with_the_sni() {
    // The origin closes each connection after answering, without a Connection header: the
    // second request in the tunnel needs a new origin connection, dialled where the CONNECT
    // said (origin.test does not even resolve) and verified for the SNI name.
    let dir = TempDir::new("tunnel-sni-redial");
    let (cert, key) = origin_test_cert(dir.path());
    let (_origin, port) = sni_origin(&cert, &key, &["--close-after-response"]);
    let origin_addr = format!("127.0.0.1:{port}");
    let host = format!("origin.test:{port}");
    let direct = sni_client(&origin_addr, None, "origin.test", &cert, "/again", &host);
    assert_eq!(direct.get("error"), None, "direct: {direct}");

    let proxy = Proxy::start(&["--upstream-ca", &cert.display().to_string()]);
    let ca = proxy.home().join("ca.pem");
    let proxy_addr = proxy.addr.to_string();
    let via = SniClient {
        to: &proxy_addr,
        tunnel: Some(&origin_addr),
        name: "origin.test",
        cafile: &ca,
        path: "/again",
        host: &host,
        // The pause lets the proxy see the origin's close before the next request.
        extra: &["--requests", "2", "--pause", "0.5"],
    }
    .run();
    assert_eq!(via.get("error"), None, "through the proxy: {via}");
    assert_eq!(
        via["bodies"],
        serde_json::json!([direct["body"], direct["body"]]),
        "{via}"
    );
    let c = proxy.stop().capture;
    let gets: Vec<&Value> = c
        .of_type("http_request")
        .into_iter()
        .filter(|r| r["method"] == "GET")
        .collect();
    assert_eq!(gets.len(), 2, "{}", c.summary());
    let url = format!("https://origin.test:{port}/again");
    assert!(
        gets.iter().all(|g| g["url"] == url.as_str()),
        "{}",
        c.summary()
    );
    for r in c.of_type("http_response").into_iter().skip(1) {
        assert_eq!(r["status"], 200, "{}", c.summary());
        assert_ne!(r["generated"], true, "{}", c.summary());
    }
}

#[test]
fn intercepted_tls_without_sni_keeps_the_connect_host() {
    let dir = TempDir::new("tunnel-nosni");
    // Names localhost and IP 127.0.0.1; Python sends no SNI for an IP address.
    let (cert, key) = origin_cert(dir.path());
    let (_origin, port) = sni_origin(&cert, &key, &[]);
    let origin_addr = format!("127.0.0.1:{port}");

    let direct = sni_client(&origin_addr, None, "127.0.0.1", &cert, "/ip", &origin_addr);
    assert_eq!(direct.get("error"), None, "direct: {direct}");
    let echo: Value = serde_json::from_str(direct["body"].as_str().unwrap_or("")).expect("json");
    assert_eq!(echo["sni"], Value::Null, "no SNI for an IP literal: {echo}");

    let proxy = Proxy::start(&["--upstream-ca", &cert.display().to_string()]);
    let ca = proxy.home().join("ca.pem");
    let proxy_addr = proxy.addr.to_string();
    let via = sni_client(
        &proxy_addr,
        Some(&origin_addr),
        "127.0.0.1",
        &ca,
        "/ip",
        &origin_addr,
    );
    assert_eq!(via.get("error"), None, "through the proxy: {via}");
    assert_eq!(
        (&via["status"], &via["body"]),
        (&direct["status"], &direct["body"])
    );
    assert_eq!(via["cert_names"], serde_json::json!(["127.0.0.1"]), "{via}");
    let c = proxy.stop().capture;
    let get = c
        .of_type("http_request")
        .into_iter()
        .find(|r| r["method"] == "GET")
        .unwrap_or_else(|| panic!("the GET inside was decoded:\n{}", c.summary()));
    assert_eq!(get["url"], format!("https://{origin_addr}/ip").as_str());
}

// ---------------------------------------------------------------------------------------------
// Only HTTP/1.x is decoded; everything else is relayed

/// Asserts the capture shows one opaque (`raw`, not decoded) tunnel and no request inside it.
fn assert_relayed_opaquely(c: &Capture) {
    let t = c.of_type("tunnel_open");
    assert_eq!(t.len(), 1, "{}", c.summary());
    assert_eq!(
        (t[0]["content"].as_str(), t[0]["decoded"].as_bool()),
        (Some("raw"), Some(false)),
        "{}",
        t[0]
    );
    let reqs = c.of_type("http_request");
    assert_eq!(reqs.len(), 1, "only the CONNECT:\n{}", c.summary());
    assert_eq!(reqs[0]["method"], "CONNECT");
    let resps = c.of_type("http_response");
    assert_eq!(resps.len(), 1, "only the CONNECT's 200:\n{}", c.summary());
    assert_eq!(resps[0]["status"], 200);
    assert!(c.of_type("anomaly").is_empty(), "{}", c.summary());
}

#[test]
fn curl_h2_prior_knowledge_through_a_tunnel() {
    let (_origin, port) = h2c_origin();
    let url = format!("http://127.0.0.1:{port}/h2?q=1");
    let run = |proxy: Option<&Proxy>| {
        let mut c = curl();
        c.args([
            "--http2-prior-knowledge",
            "-w",
            "\n%{http_version} %{http_code}",
        ]);
        if let Some(p) = proxy {
            c.args(["-p", "-x", &p.url()]);
        }
        let out = c.arg(&url).output().expect("curl");
        assert!(
            out.status.success(),
            "curl (proxy: {}): {}",
            proxy.is_some(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let direct = run(None);
    assert!(direct.ends_with("\n2 200"), "{direct}");
    assert!(direct.contains("\"version\":\"2.0\""), "{direct}");
    let proxy = Proxy::explicit();
    let via = run(Some(&proxy));
    assert_eq!(via, direct, "the same h2 exchange through the tunnel");
    proxy.wait_for("the tunnel's end", Duration::from_secs(10), |r| {
        count(r, "tunnel_close") == 1
    });
    assert_relayed_opaquely(&proxy.stop().capture);
}

#[test]
fn h2_preface_split_across_reads_is_relayed() {
    let (_origin, port) = h2c_origin();
    let origin = format!("127.0.0.1:{port}");
    let proxy = Proxy::explicit();
    // Cut inside the first line, so its end is not there when the tunnel first reads.
    for cut in [3, 9, 14, 16] {
        let pieces = [&H2_PREFACE[..cut], &H2_PREFACE[cut..]];
        let direct = h2_first_frame(raw_connect(origin.parse().expect("addr")), &pieces);
        assert_eq!(
            direct[3], 4,
            "the server's first frame is SETTINGS: {direct:02x?}"
        );
        let via = h2_first_frame(connect_through(proxy.addr, &origin), &pieces);
        assert_eq!(
            via, direct,
            "cut at {cut}: the same frame through the tunnel"
        );
    }
    proxy.wait_for("the tunnels' ends", Duration::from_secs(10), |r| {
        count(r, "tunnel_close") == 4
    });
    let c = proxy.stop().capture;
    for t in c.of_type("tunnel_open") {
        assert_eq!(
            (t["content"].as_str(), t["decoded"].as_bool()),
            (Some("raw"), Some(false))
        );
    }
    assert!(
        c.of_type("http_request")
            .iter()
            .all(|r| r["method"] == "CONNECT"),
        "nothing inside was taken for HTTP/1:\n{}",
        c.summary()
    );
    assert!(
        c.of_type("http_response")
            .iter()
            .all(|r| r["status"] == 200),
        "{}",
        c.summary()
    );
}

#[test]
fn text_protocols_are_relayed_byte_for_byte() {
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let scripts: Vec<Vec<&[u8]>> = vec![
        vec![b"SET k v\r\nGET k\r\n"],
        vec![b"NICK x\r\nUSER x 0 * :x\r\n"],
        // The first line in pieces: "SET k" could still become a request line.
        vec![b"SET k", b" v\r\n", &binary],
        vec![b"GETX", b" /a HTTP/2.0\r\n\r\n", &binary],
    ];
    let proxy = Proxy::explicit();
    for pieces in &scripts {
        let (addr, seen) = echo_server();
        let direct = echo_exchange(raw_connect(addr), seen, pieces);
        assert_eq!(
            (&direct.0, &direct.0),
            (&direct.1, &direct.2),
            "direct echo"
        );
        let (addr, seen) = echo_server();
        let via = echo_exchange(connect_through(proxy.addr, &addr.to_string()), seen, pieces);
        assert_eq!(via, direct, "{pieces:?}: sent, received and echoed bytes");
    }
    proxy.wait_for("the tunnels' ends", Duration::from_secs(10), |r| {
        count(r, "tunnel_close") == scripts.len()
    });
    let c = proxy.stop().capture;
    assert_eq!(
        c.of_type("tunnel_open").len(),
        scripts.len(),
        "{}",
        c.summary()
    );
    for t in c.of_type("tunnel_open") {
        assert_eq!(
            (t["content"].as_str(), t["decoded"].as_bool()),
            (Some("raw"), Some(false))
        );
    }
    assert!(
        c.of_type("http_response")
            .iter()
            .all(|r| r["status"] == 200),
        "no 400 for a text protocol:\n{}",
        c.summary()
    );
}

#[test]
fn http1_request_line_split_across_reads_is_still_decoded() {
    let origin = Origin::start();
    let target = origin.addr.to_string();
    let rest = format!(" HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    let pieces: [&[u8]; 3] = [b"GET /spl", b"it?n=1", rest.as_bytes()];
    let send = |mut s: TcpStream| {
        for (i, p) in pieces.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            s.write_all(p).expect("write");
        }
        let resp = String::from_utf8_lossy(&read_to_end(&mut s)).into_owned();
        // The Date header differs between the two answers; the rest must not.
        resp.lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("date:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let direct = send(raw_connect(origin.addr));
    assert!(direct.starts_with("HTTP/1.1 200"), "{direct}");
    assert!(direct.contains("\"target\":\"/split?n=1\""), "{direct}");
    let proxy = Proxy::explicit();
    let via = send(connect_through(proxy.addr, &target));
    assert_eq!(via, direct);
    proxy.wait_for("the tunnel's conn_close", Duration::from_secs(10), |r| {
        count(r, "conn_close") == 1
    });
    let c = proxy.stop().capture;
    let t = c.of_type("tunnel_open");
    assert_eq!(t.len(), 1, "{}", c.summary());
    assert_eq!(
        (t[0]["content"].as_str(), t[0]["decoded"].as_bool()),
        (Some("http"), Some(true))
    );
    assert!(
        c.of_type("http_request")
            .iter()
            .any(|r| r["method"] == "GET"
                && r["url"] == format!("http://{target}/split?n=1").as_str()),
        "the GET inside was decoded:\n{}",
        c.summary()
    );
}

// ---------------------------------------------------------------------------------------------
// A refused CONNECT closes the connection

#[test]
fn refused_connect_closes_instead_of_serving_early_bytes() {
    let origin = Origin::start();
    // 127.0.0.1 may be dialled; blocked.test may not.
    let proxy = Proxy::start(&["--allow-hosts", r"^127\.0\.0\.1$"]);
    let dead = format!("127.0.0.1:{}", unused_port());
    let cases = [
        ("blocked.test:443", "403 Forbidden"),
        (dead.as_str(), "502 Bad Gateway"),
        ("/", "400 Bad Request"),
    ];
    // Bytes a client sends right after its CONNECT head, before the answer: a request an origin
    // would serve (through this very proxy, were it read as one), and a TLS ClientHello.
    let early_get = format!(
        "GET http://{}/early HTTP/1.1\r\nHost: {}\r\n\r\n",
        origin.addr, origin.addr
    );
    let early_tls: &[u8] = &[0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00];
    let mut n = 0;
    for _ in 0..3 {
        for (target, status) in cases {
            for early in [early_get.as_bytes(), early_tls] {
                let mut s = raw_connect(proxy.addr);
                let mut msg =
                    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").into_bytes();
                msg.extend_from_slice(early);
                s.write_all(&msg).expect("write CONNECT and early bytes");
                let (resp, after, closed) = refusal_and_after(&mut s);
                n += 1;
                assert!(
                    resp.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                    "{target}: {resp}"
                );
                assert!(
                    resp.to_ascii_lowercase()
                        .contains("\r\nconnection: close\r\n"),
                    "{target}: the refusal says it closes: {resp}"
                );
                assert!(
                    after.is_empty(),
                    "{target}: nothing after the refusal, got {:?}",
                    String::from_utf8_lossy(&after)
                );
                assert!(closed, "{target}: the proxy closed the connection");
            }
        }
    }
    assert!(
        origin.requests().is_empty(),
        "the early GET never reached the origin"
    );
    proxy.wait_for("every connection's close", Duration::from_secs(10), |r| {
        count(r, "conn_close") == n
    });
    let c = proxy.stop().capture;
    assert_eq!(
        count(&c.records, "http_request"),
        n,
        "one request per connection:\n{}",
        c.summary()
    );
    assert_eq!(
        count(&c.records, "http_response"),
        n,
        "one answer per connection:\n{}",
        c.summary()
    );
    for r in c.of_type("http_response") {
        let names: Vec<&str> = r["headers"]
            .as_array()
            .map(|h| h.iter().filter_map(|p| p[0].as_str()).collect())
            .unwrap_or_default();
        assert!(
            names.iter().any(|n| n.eq_ignore_ascii_case("connection")),
            "recorded as sent: {r}"
        );
    }
}

#[test]
fn ignore_hosts_matches_the_sni_of_an_ip_connect() {
    let dir = TempDir::new("tunnel-ignore-sni");
    let (cert, key) = origin_test_cert(dir.path());
    let (_origin, port) = sni_origin(&cert, &key, &[]);
    let origin_addr = format!("127.0.0.1:{port}");
    let host = format!("origin.test:{port}");
    let direct = sni_client(&origin_addr, None, "origin.test", &cert, "/i", &host);
    assert_eq!(direct.get("error"), None, "direct: {direct}");
    // The client trusts only the origin's own certificate: it succeeds only if sockscope stays
    // out of the TLS session, as --ignore-hosts origin.test asks.
    let proxy = Proxy::start(&["--ignore-hosts", r"^origin\.test$"]);
    let proxy_addr = proxy.addr.to_string();
    let via = sni_client(
        &proxy_addr,
        Some(&origin_addr),
        "origin.test",
        &cert,
        "/i",
        &host,
    );
    assert_eq!(via.get("error"), None, "through the proxy: {via}");
    assert_eq!(
        (&via["status"], &via["body"]),
        (&direct["status"], &direct["body"])
    );
    proxy.wait_for("the tunnel's end", Duration::from_secs(10), |r| {
        count(r, "tunnel_close") == 1
    });
    let c = proxy.stop().capture;
    let t = c.of_type("tunnel_open");
    assert_eq!(t.len(), 1, "{}", c.summary());
    assert_eq!(
        (t[0]["content"].as_str(), t[0]["decoded"].as_bool()),
        (Some("tls"), Some(false)),
        "{}",
        t[0]
    );
    assert_eq!(t[0]["tls"]["sni"], "origin.test", "{}", t[0]);
}
