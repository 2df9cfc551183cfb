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
