//! Tests of URL parsing, the no-proxy list and both handshakes against scripted proxies whose
//! answers arrive split at every offset.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

#[test]
fn parses_urls() {
    let p = UpstreamProxy::parse("http://us%40r:p%3Ass@corp:3128").unwrap();
    assert_eq!(p.scheme, Scheme::Http);
    assert_eq!((p.host.as_str(), p.port), ("corp", 3128));
    assert_eq!(p.credentials, Some(("us@r".into(), "p:ss".into())));
    assert_eq!(p.name(), "http://corp:3128");
    let s = UpstreamProxy::parse("socks5h://[::1]:1080/").unwrap();
    assert_eq!(
        (s.scheme, s.host.as_str(), s.port),
        (Scheme::Socks5h, "::1", 1080)
    );
    assert_eq!(s.name(), "socks5h://[::1]:1080");
    assert_eq!(
        UpstreamProxy::parse("socks5://h:1").unwrap().scheme,
        Scheme::Socks5
    );
    for bad in [
        "corp:3128",
        "ftp://h:1",
        "http://h",
        "http://h:x",
        "http://:1",
        "http://h:1/p",
    ] {
        assert!(UpstreamProxy::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn no_proxy_matches_hosts_suffixes_and_ips() {
    let n = NoProxy::parse(" 127.0.0.1, .corp.example ,intra, [::1]");
    assert!(n.matches("127.0.0.1"));
    assert!(!n.matches("27.0.0.1"));
    assert!(!n.matches("10.127.0.0.1"));
    assert!(n.matches("a.corp.example"));
    assert!(n.matches("corp.example"));
    assert!(!n.matches("xcorp.example"));
    assert!(n.matches("INTRA"));
    assert!(n.matches("x.intra."));
    assert!(!n.matches("extra"));
    assert!(n.matches("[::1]"));
    assert!(!NoProxy::default().matches("a"));
    assert!(NoProxy::parse("*").matches("anything"));
}

/// Runs `proxy.handshake` against a peer that expects `want` and answers `reply`, written in
/// two pieces split at `cut`, followed by tunnel bytes that must stay unread.
async fn run(
    proxy: &UpstreamProxy,
    host: &str,
    want: &[u8],
    reply: &[u8],
    cut: usize,
) -> Result<Vec<u8>, String> {
    let (mut ours, mut theirs) = duplex(4096);
    let want = want.to_vec();
    let reply = reply.to_vec();
    let peer = tokio::spawn(async move {
        // The answers are queued ahead: the handshake must read exactly its share of them.
        theirs.write_all(&reply[..cut]).await.unwrap();
        tokio::task::yield_now().await;
        theirs.write_all(&reply[cut..]).await.unwrap();
        theirs.write_all(b"TUNNEL").await.unwrap();
        let mut got = vec![0u8; want.len()];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(got, want);
        theirs
    });
    let r = proxy.handshake(&mut ours, host, 443).await;
    let _keep = peer.await.unwrap();
    r?;
    let mut rest = [0u8; 6];
    ours.read_exact(&mut rest)
        .await
        .map_err(|e| e.to_string())?;
    Ok(rest.to_vec())
}

#[tokio::test]
async fn http_connect_with_basic_auth_at_every_split() {
    let p = UpstreamProxy::parse("http://user:pass@proxy:3128").unwrap();
    let want = b"CONNECT origin:443 HTTP/1.1\r\nHost: origin:443\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n";
    let reply = b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n";
    for cut in 0..=reply.len() {
        assert_eq!(
            run(&p, "origin", want, reply, cut).await.unwrap(),
            b"TUNNEL"
        );
    }
}

#[tokio::test]
async fn http_407_and_other_refusals_name_the_proxy() {
    let p = UpstreamProxy::parse("http://proxy:3128").unwrap();
    let want = b"CONNECT origin:443 HTTP/1.1\r\nHost: origin:443\r\n\r\n";
    let reply = b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n";
    for cut in 0..=reply.len() {
        let e = run(&p, "origin", want, reply, cut).await.unwrap_err();
        assert_eq!(
            e,
            "the upstream proxy http://proxy:3128 refused the credentials (407 Proxy Authentication Required)"
        );
    }
    let e = run(&p, "origin", want, b"HTTP/1.1 403 Forbidden\r\n\r\n", 5)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        "the upstream proxy http://proxy:3128 refused CONNECT origin:443 (403 Forbidden)"
    );
    let e = run(&p, "origin", want, b"SSH-2.0-x\r\n\r\n", 3)
        .await
        .unwrap_err();
    assert!(e.contains("sent no HTTP answer"), "{e}");
}

#[tokio::test]
async fn socks5h_sends_the_name_with_auth_at_every_split() {
    let p = UpstreamProxy::parse("socks5h://u:pw@proxy:1080").unwrap();
    // One conversation: greeting, auth, connect.
    let mut want = vec![5, 2, 0, 2, 1, 1, b'u', 2, b'p', b'w', 5, 1, 0, 3, 6];
    want.extend_from_slice(b"origin");
    want.extend_from_slice(&443u16.to_be_bytes());
    let reply = [5, 2, 1, 0, 5, 0, 0, 3, 2, b'h', b'x', 0, 80];
    for cut in 0..=reply.len() {
        assert_eq!(
            run(&p, "origin", &want, &reply, cut).await.unwrap(),
            b"TUNNEL"
        );
    }
}

#[tokio::test]
async fn socks5_resolves_here_and_reports_refusals() {
    let p = UpstreamProxy::parse("socks5://proxy:1080").unwrap();
    let mut want = vec![5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1];
    want.extend_from_slice(&443u16.to_be_bytes());
    let ok = [5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for cut in 0..=ok.len() {
        assert_eq!(
            run(&p, "localhost", &want, &ok, cut).await.unwrap(),
            b"TUNNEL"
        );
    }
    let refused = [5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0];
    let e = run(&p, "127.0.0.1", &want, &refused, 3).await.unwrap_err();
    assert_eq!(
        e,
        "the upstream proxy socks5://proxy:1080 refused CONNECT 127.0.0.1:443 (SOCKS5 status 5: connection refused)"
    );
    let e = run(&p, "127.0.0.1", &[5, 1, 0], &[5, 0xff], 1)
        .await
        .unwrap_err();
    assert!(e.contains("accepts none of our SOCKS5 methods"), "{e}");
}
