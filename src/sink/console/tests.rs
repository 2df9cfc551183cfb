//! The console's marks for origins sockscope did not verify (`--insecure-upstream`).

use super::*;
use crate::event::TlsInfo;

fn tunnel(unverified: bool) -> Event {
    Event {
        seq: 1,
        ts: 0,
        mono_us: 0,
        conn: 3,
        kind: EventKind::TunnelOpen {
            host: "h.test".into(),
            port: 443,
            content: "tls".into(),
            tls: Some(TlsInfo {
                sni: Some("h.test".into()),
                origin_unverified: unverified,
                ..Default::default()
            }),
            decoded: true,
            via: None,
        },
    }
}

#[test]
fn unverified_tunnels_are_marked() {
    let line = describe(&tunnel(true)).expect("line");
    assert!(line.contains(UNVERIFIED_MARK), "{line}");
    let line = describe(&tunnel(false)).expect("line");
    assert!(!line.contains(UNVERIFIED_MARK), "{line}");
}

fn response(conn: u64, unverified: bool) -> Event {
    Event {
        seq: 2,
        ts: 0,
        mono_us: 0,
        conn,
        kind: EventKind::HttpResponse {
            exchange: 1,
            status: 200,
            reason: "OK".into(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
            generated: false,
            elapsed_us: 10,
            origin_unverified: unverified,
        },
    }
}

#[test]
fn responses_from_unverified_origins_are_marked() {
    let mut sink = ConsoleSink::new(true);
    assert!(sink.mark(&response(5, true)));
    assert!(!sink.mark(&response(5, false)));
    // Inside a decrypted tunnel to an unverified origin, every response is.
    assert!(!sink.mark(&tunnel(true)));
    assert!(sink.mark(&response(3, false)));
}
