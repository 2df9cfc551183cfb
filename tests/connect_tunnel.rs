//! CONNECT tunnels through the explicit proxy: plaintext HTTP inside a tunnel is decoded like a
//! direct request; TLS that is not intercepted (`--no-mitm`, `--ignore-hosts`) is relayed
//! opaquely and byte-exactly. Interception itself is tested in `tls_mitm.rs`.

mod common;

use common::origin::Origin;
use common::*;
use rand::{Rng, SeedableRng};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

fn connect_through(proxy: SocketAddr, target: &str) -> std::net::TcpStream {
    let mut s = raw_connect(proxy);
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").expect("write CONNECT");
    let (head, rest) = read_head(&mut s);
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "CONNECT answered {head:?}"
    );
    assert!(rest.is_empty(), "no bytes after the 200 before we speak");
    s
}

#[test]
fn plaintext_http_inside_a_tunnel_is_decoded() {
    let origin = Origin::start();
    let proxy = Proxy::explicit();
    let target = origin.addr.to_string();
    let mut s = connect_through(proxy.addr, &target);
    write!(
        s,
        "GET /inside?t=1 HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    )
    .expect("write inner request");
    let resp = String::from_utf8_lossy(&read_to_end(&mut s)).into_owned();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"target\":\"/inside?t=1\""), "{resp}");
    drop(s);
    proxy.wait_for("the tunnel's conn_close", Duration::from_secs(10), |r| {
        count(r, "conn_close") == 1
    });
    let c = proxy.stop().capture;
    let t = c.of_type("tunnel_open");
    assert_eq!(t.len(), 1, "{}", c.summary());
    assert_eq!(t[0]["content"], "http");
    assert_eq!(t[0]["decoded"], true);
    assert_eq!(t[0]["host"], "127.0.0.1");
    assert_eq!(u(t[0], "port"), origin.addr.port() as u64);
    let reqs = c.of_type("http_request");
    assert_eq!(reqs.len(), 2, "CONNECT and the inner GET:\n{}", c.summary());
    assert_eq!(reqs[0]["method"], "CONNECT");
    assert_eq!(reqs[1]["method"], "GET");
    assert_eq!(
        reqs[1]["url"],
        format!("http://{target}/inside?t=1").as_str()
    );
    let inner = u(reqs[1], "exchange");
    let resp = c
        .of_type("http_response")
        .into_iter()
        .find(|r| r["exchange"] == inner)
        .unwrap_or_else(|| panic!("no response for the inner GET:\n{}", c.summary()));
    assert_eq!(resp["status"], 200);
}

#[test]
fn curl_proxytunnel_plain_http_is_decoded() {
    let origin = Origin::start();
    let proxy = Proxy::explicit();
    let url = format!("{}/via-tunnel", origin.url());
    let out = curl()
        .args(["-p", "-x", &proxy.url(), &url])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("/via-tunnel"));
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
            .any(|r| r["method"] == "GET" && r["url"] == url.as_str()),
        "inner GET decoded:\n{}",
        c.summary()
    );
}

/// An echo server for one connection that records every byte it receives.
fn echo_server() -> (SocketAddr, mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
        let mut got = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = s.shutdown(Shutdown::Write);
        let _ = tx.send(got);
    });
    (addr, rx)
}

/// A minimal TLS 1.2-style ClientHello record with the given SNI name.
fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sni_ext = Vec::new();
    sni_ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    let mut ext = Vec::new();
    ext.extend_from_slice(&0u16.to_be_bytes());
    ext.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    ext.extend_from_slice(&sni_ext);
    let mut hello = vec![0x03, 0x03];
    hello.extend_from_slice(&[7u8; 32]);
    hello.push(0);
    hello.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    hello.extend_from_slice(&ext);
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&hello);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn tls_looking_tunnel_is_relayed_opaquely_and_byte_exact() {
    let (server, received) = echo_server();
    // --no-mitm: TLS is never decrypted (this ClientHello is a fake one anyway).
    let proxy = Proxy::start(&["--no-mitm"]);
    let mut s = connect_through(proxy.addr, &server.to_string());
    let mut sent = client_hello("tunnel.test");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut tail = vec![0u8; 200 * 1024];
    rng.fill(&mut tail[..]);
    sent.extend_from_slice(&tail);

    // Write from a thread while reading the echo here, so neither side's buffers fill up.
    let mut w = s.try_clone().expect("clone");
    let to_send = sent.clone();
    let writer = std::thread::spawn(move || {
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let mut i = 0;
        while i < to_send.len() {
            let n = rng.random_range(1..=9000).min(to_send.len() - i);
            w.write_all(&to_send[i..i + n]).expect("write tunnel bytes");
            i += n;
        }
        w.shutdown(Shutdown::Write).expect("half-close");
    });
    let echoed = read_to_end(&mut s);
    writer.join().expect("writer thread");
    let at_server = received
        .recv_timeout(Duration::from_secs(20))
        .expect("server finished");
    assert_eq!(
        sha256_hex(&at_server),
        sha256_hex(&sent),
        "server got the bytes unchanged"
    );
    assert_eq!(
        sha256_hex(&echoed),
        sha256_hex(&sent),
        "client got the echo unchanged"
    );

    let recs = proxy.wait_for("tunnel_close", Duration::from_secs(10), |r| {
        count(r, "tunnel_close") == 1
    });
    let t = of_type(&recs, "tunnel_open");
    assert_eq!(t.len(), 1, "{}", summarize(&recs));
    assert_eq!(t[0]["content"], "tls");
    assert_eq!(t[0]["decoded"], false);
    assert_eq!(t[0]["tls"]["sni"], "tunnel.test");
    let close = of_type(&recs, "tunnel_close")[0];
    assert_eq!(u(close, "bytes_c2s"), sent.len() as u64);
    assert_eq!(u(close, "bytes_s2c"), sent.len() as u64);
    assert_eq!(
        count(&recs, "http_request"),
        1,
        "only the CONNECT: {}",
        summarize(&recs)
    );
}

#[test]
fn curl_https_through_the_tunnel_is_opaque() {
    // curl speaks real TLS into the tunnel; the echo server is no TLS server, so the handshake
    // fails, but the proxy must have relayed curl's ClientHello untouched and recorded a tls tunnel.
    // The host is exempted from interception with --ignore-hosts.
    let (server, received) = echo_server();
    let proxy = Proxy::start(&["--ignore-hosts", r"^127\.0\.0\.1$"]);
    let out = curl()
        .args(["-k", "-x", &proxy.url(), &format!("https://{server}/")])
        .output()
        .expect("curl");
    assert!(!out.status.success(), "the fake server cannot complete TLS");
    let at_server = received
        .recv_timeout(Duration::from_secs(20))
        .expect("server finished");
    assert!(
        at_server.len() > 5 && at_server[0] == 0x16 && at_server[1] == 0x03,
        "server got a TLS record: {:02x?}",
        &at_server[..at_server.len().min(8)]
    );
    let recs = proxy.wait_for("tunnel_close", Duration::from_secs(10), |r| {
        count(r, "tunnel_close") == 1
    });
    let t = of_type(&recs, "tunnel_open");
    assert_eq!(t.len(), 1, "{}", summarize(&recs));
    assert_eq!(
        (t[0]["content"].as_str(), t[0]["decoded"].as_bool()),
        (Some("tls"), Some(false))
    );
    let close = of_type(&recs, "tunnel_close")[0];
    assert_eq!(u(close, "bytes_c2s"), at_server.len() as u64);
}

#[test]
fn connect_to_an_unreachable_port_gives_502() {
    let proxy = Proxy::explicit();
    let dead = format!("127.0.0.1:{}", unused_port());
    let mut s = raw_connect(proxy.addr);
    write!(s, "CONNECT {dead} HTTP/1.1\r\nHost: {dead}\r\n\r\n").expect("write");
    let (head, _) = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 502"), "{head}");
    drop(s);
    let c = proxy.stop().capture;
    assert_eq!(count(&c.records, "tunnel_open"), 0);
    let resp = c.of_type("http_response");
    assert_eq!(resp.len(), 1, "{}", c.summary());
    assert_eq!(
        (resp[0]["status"].as_u64(), resp[0]["generated"].as_bool()),
        (Some(502), Some(true))
    );
}
