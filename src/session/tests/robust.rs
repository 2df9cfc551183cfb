//! Robustness: splitting, caps and eviction, arbitrary input.

use super::*;
use proptest::prelude::*;

/// The Socket.IO view of a session, without where each packet came from.
fn view(h: &Harness) -> Vec<serde_json::Value> {
    h.records("sio_packet")
        .into_iter()
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                for k in ["seq", "ts", "mono_us", "conn", "raw_seq", "exchange"] {
                    o.remove(k);
                }
                if let Some(a) = o.get_mut("ack_of").and_then(|a| a.as_object_mut()) {
                    a.remove("raw_seq");
                }
            }
            v
        })
        .collect()
}

const PACKETS: &[&str] = &[
    r#"42["a",1]"#,
    r#"4212["b",{"x":[1,2]}]"#,
    r#"451-["c",{"_placeholder":true,"num":0}]"#,
    "bAQIDBA==",
    r#"42/chat,["d"]"#,
    r#"4312["ok"]"#,
    "2",
    "3",
];

#[test]
fn one_body_or_many_give_the_same_packets() {
    let mut whole = Harness::new();
    let url = whole.polling_session(1, "SPLIT", 25000, 20000);
    whole.poll_get(1, &url, &PACKETS.join("\x1e"));
    for cut in 1..PACKETS.len() {
        let mut split = Harness::new();
        let url = split.polling_session(1, "SPLIT", 25000, 20000);
        split.poll_get(1, &url, &PACKETS[..cut].join("\x1e"));
        split.poll_get(2, &url, &PACKETS[cut..].join("\x1e"));
        assert_eq!(view(&split), view(&whole), "cut at {cut}");
    }
    let mut ws = Harness::new();
    ws.polling_session(1, "SPLIT", 25000, 20000);
    ws.ws_connect(
        2,
        &format!("{BASE_URL}?EIO=4&transport=websocket&sid=SPLIT"),
        &[],
    );
    ws.ws_text(2, Dir::ClientToServer, "2probe");
    ws.ws_text(2, Dir::ServerToClient, "3probe");
    ws.ws_text(2, Dir::ClientToServer, "5");
    for p in PACKETS {
        match p.strip_prefix('b') {
            Some(_) => ws.ws_bin(2, Dir::ServerToClient, &[1, 2, 3, 4]),
            None => ws.ws_text(2, Dir::ServerToClient, p),
        }
    }
    let strip_transport = |v: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        v.into_iter()
            .map(|mut x| {
                if let Some(o) = x.as_object_mut() {
                    o.remove("transport");
                }
                x
            })
            .collect()
    };
    assert_eq!(strip_transport(view(&ws)), strip_transport(view(&whole)));
}

#[test]
fn sessions_closed_before_joining_name_their_client() {
    let mut h = Harness::new();
    h.ws_connect(1, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
    h.ws_text(1, Dir::ServerToClient, &open4("Q", 25000, 20000, ""));
    h.ws_end(1);
    let types: Vec<String> = h
        .events
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok())
        .filter_map(|v| v["type"].as_str().map(str::to_owned))
        .filter(|t| t == "client_open" || t == "session_close")
        .collect();
    assert_eq!(types, ["client_open", "session_close"]);
    assert_eq!(h.records("session_close")[0]["client"], "c1");
}

#[test]
fn sessions_are_evicted_to_summaries() {
    let mut h = Harness::with(StageConfig {
        max_sessions: 3,
        max_history: 4,
        retain_closed_us: 10_000_000,
        ..StageConfig::default()
    });
    for i in 0..8u64 {
        h.at(1000 + i * 10);
        h.ws_connect(i + 1, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
        h.ws_text(
            i + 1,
            Dir::ServerToClient,
            &open4(&format!("E{i}"), 25000, 20000, ""),
        );
        if i % 2 == 0 {
            h.ws_end(i + 1);
        }
        h.tick();
    }
    assert!(h.stage.live_sessions() <= 3);
    let closes = h.closes();
    assert!(closes.iter().any(|(_, r)| r == "evicted"), "{closes:?}");
    let r = h.stage.report();
    assert_eq!(r.sessions, 3 + 4);
    assert_eq!(r.forgotten_sessions, 1);
    // Long after, every closed session is gone from memory.
    h.at(60_000);
    h.tick();
    assert!(h.stage.live_sessions() <= 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Arbitrary messages and bodies on Engine.IO transports never panic, and Socket.IO packets
    /// keep their numbering.
    #[test]
    fn arbitrary_traffic_is_survived(
        msgs in proptest::collection::vec((any::<bool>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..40),
        prefix in proptest::sample::select(vec!["", "4", "42", "45", "451-", "0", "2", "3", "b"]),
        eio3 in any::<bool>(),
    ) {
        let mut h = Harness::new();
        let v = if eio3 { 3 } else { 4 };
        let url = format!("{BASE_URL}?EIO={v}&transport=polling&sid=P");
        h.ws_connect(1, &format!("{BASE_URL}?EIO={v}&transport=websocket"), &[]);
        h.ws_text(1, Dir::ServerToClient, &open4("W", 1, 1, ""));
        for (i, (text, c2s, bytes)) in msgs.iter().enumerate() {
            let dir = if *c2s { Dir::ClientToServer } else { Dir::ServerToClient };
            let mut data = prefix.as_bytes().to_vec();
            data.extend_from_slice(bytes);
            h.at(2000 + i as u64);
            if *text {
                h.ws_text(1, dir, &String::from_utf8_lossy(&data));
            } else {
                h.ws_bin(1, dir, &data);
            }
            if i % 7 == 0 {
                h.poll_get(2, &url, &String::from_utf8_lossy(&data));
                h.tick();
            }
        }
        h.ws_end(1);
        let ns: Vec<u64> = h.sio().iter().filter(|p| p.session == "s1").map(|p| p.n).collect();
        prop_assert!(ns.windows(2).all(|w| w[1] == w[0] + 1), "{:?}", ns);
    }
}
