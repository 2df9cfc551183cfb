//! Matching live units: each layer type seen as its record (HTTP requests with their body,
//! responses, WebSocket messages and control frames, Engine.IO packets by type name, Socket.IO
//! packets by event and namespace), negation, regexes, sessions, and `could_match`.

use crate::engineio::{EioVersion, PacketType};
use crate::event::{ConnId, ControlKind, Dir, Payload};
use crate::rules::{ConnFacts, Layer, Unit, parse_rule};
use crate::socketio::{SioPacket, SioVersion, decode_packet};

const C2S: Dir = Dir::ClientToServer;
const S2C: Dir = Dir::ServerToClient;

fn m(rule: &str, unit: &Unit<'_>) -> bool {
    let spec = parse_rule(&format!("{rule} => pass")).unwrap_or_else(|e| panic!("{rule}: {e}"));
    crate::rules::matching::matches(&spec, unit)
}

fn sio(text: &str) -> SioPacket {
    decode_packet(text, SioVersion::V5).unwrap()
}

/// A WebSocket text message carrying an Engine.IO packet (and the Socket.IO packet in it).
struct WsUnit {
    text: String,
    data: Payload,
    ptype: PacketType,
    sio: Option<SioPacket>,
}

impl WsUnit {
    fn new(text: &str) -> WsUnit {
        let ptype = PacketType::from_char(text.chars().next().unwrap()).unwrap();
        let data = Payload::Text(text[1..].to_owned());
        let sio = (ptype == PacketType::Message).then(|| sio(&text[1..]));
        WsUnit {
            text: text.to_owned(),
            data,
            ptype,
            sio,
        }
    }

    fn layers(&self) -> Vec<Layer<'_>> {
        let mut l = vec![
            Layer::WsMessage {
                binary: false,
                payload: self.text.as_bytes(),
            },
            Layer::Eio {
                version: EioVersion::V4,
                ptype: self.ptype,
                data: &self.data,
            },
        ];
        if let Some(p) = &self.sio {
            l.push(Layer::Sio { packet: p });
        }
        l
    }
}

fn unit<'a>(conn: ConnId, dir: Dir, sid: Option<&'a str>, layers: &'a [Layer<'a>]) -> Unit<'a> {
    Unit {
        conn,
        dir,
        sid,
        layers,
    }
}

#[test]
fn websocket_engineio_and_socketio_layers() {
    let pong = WsUnit::new("3");
    let l = pong.layers();
    let up = unit(7, C2S, Some("abc"), &l);
    let down = unit(7, S2C, Some("abc"), &l);
    assert!(m("kind:eio event:pong dir:c2s", &up));
    assert!(!m("kind:eio event:pong dir:c2s", &down));
    assert!(!m("kind:eio event:ping", &up));
    assert!(m("kind:text", &up));
    assert!(!m("kind:binary", &up));
    assert!(!m("kind:sio", &up), "a pong carries no Socket.IO packet");
    assert!(
        !m("kind:text event:pong", &up),
        "event: on messages names Socket.IO events"
    );
    assert!(m("conn:7", &up) && m("conn:1,7", &up) && !m("conn:8", &up));
    assert!(m("session:abc", &up) && !m("session:xyz", &up) && !m("session:s1", &up));
    assert!(m("kind:eio -event:ping", &up));
    assert!(!m("kind:eio -event:pong", &up));
    assert!(
        m("-kind:eio", &up),
        "the message layer is not an Engine.IO packet"
    );
    assert!(!m("-kind:eio -kind:text", &up));
    assert!(!m("event:never-sent", &up));

    let chat = WsUnit::new(r#"42/admin,["chat",{"msg":"fatal error"}]"#);
    let l = chat.layers();
    let down = unit(3, S2C, None, &l);
    assert!(m("event:chat dir:s2c", &down));
    assert!(
        m("event:chat kind:text", &down),
        "as the filter shows ws_message records"
    );
    assert!(m("event:chat kind:sio ns:/admin", &down));
    assert!(!m("event:chat ns:/", &down));
    assert!(m("kind:eio event:message", &down));
    assert!(!m("kind:eio event:chat", &down));
    assert!(m("kind:text /fatal/", &down));
    assert!(
        m("kind:sio /\"msg\":\"fatal/", &down),
        "the packet's JSON is its payload"
    );
    assert!(!m("FATAL", &down) && m("fatal", &down) && m("/FATAL/i", &down));
    assert!(!m("event:chat dir:c2s", &down));
    assert!(!m("session:abc", &down), "no sid: no session matches");
    assert!(
        m("-event:chat -kind:text -kind:sio", &down),
        "the Engine.IO layer is neither"
    );

    let n = WsUnit::new(r#"42[7,"x"]"#);
    let l = n.layers();
    assert!(
        m("event:7", &unit(1, C2S, None, &l)),
        "numeric event names as JSON writes them"
    );
}

#[test]
fn binary_messages_and_control_frames() {
    let bin = [0u8, 159, 146, 150];
    let l = [Layer::WsMessage {
        binary: true,
        payload: &bin,
    }];
    let u = unit(1, C2S, None, &l);
    assert!(m("kind:binary", &u) && m("kind:msg", &u) && m("kind:ws_message", &u));
    assert!(
        !m("kind:text", &u) && !m("/./", &u),
        "binary payloads are not text"
    );
    let l = [Layer::WsControl {
        kind: ControlKind::Ping,
        payload: b"are you there",
    }];
    let u = unit(1, S2C, None, &l);
    assert!(m("kind:ping", &u) && m("kind:control", &u) && m("kind:ws", &u));
    assert!(m("kind:ws_control there", &u));
    assert!(!m("kind:pong", &u) && !m("kind:msg", &u) && !m("event:ping", &u));
}

#[test]
fn http_requests_and_responses() {
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, "text/plain".parse().unwrap());
    let url = "http://h/socket.io/?EIO=4&transport=websocket&sid=abc";
    let l = [Layer::HttpRequest {
        method: "GET",
        url,
        headers: &headers,
        body: None,
    }];
    let u = unit(2, C2S, Some("abc"), &l);
    assert!(m("kind:req /transport=websocket/", &u));
    assert!(m("kind:req GET", &u) && m("kind:http", &u) && m("kind:http_request", &u));
    assert!(!m("kind:req /transport=polling/", &u));
    assert!(!m("kind:resp", &u) && !m("kind:http_body", &u) && !m("event:x", &u));
    assert!(m("session:abc kind:req", &u));

    // A polling POST read whole: its body is searched and decoded (v4 records, 0x1E-joined).
    let body = "42[\"order\",{\"qty\":3}]\u{1e}3";
    let url = "http://h/socket.io/?EIO=4&transport=polling&sid=abc";
    let l = [Layer::HttpRequest {
        method: "POST",
        url,
        headers: &headers,
        body: Some(body.as_bytes()),
    }];
    let u = unit(2, C2S, Some("abc"), &l);
    assert!(m("kind:req event:order", &u) && m("kind:http_body ns:/", &u));
    assert!(m("kind:req /\"qty\":\\d+/", &u));
    assert!(!m("event:chat", &u) && !m("ns:/admin", &u));
    // v3 length-prefixed payloads too.
    let body = "19:42[\"order\",{\"a\":1}]1:3";
    let url3 = "http://h/socket.io/?EIO=3&transport=polling&sid=abc";
    let l = [Layer::HttpRequest {
        method: "POST",
        url: url3,
        headers: &headers,
        body: Some(body.as_bytes()),
    }];
    assert!(m("event:order", &unit(2, C2S, None, &l)));

    let l = [Layer::HttpResponse {
        status: 400,
        headers: &headers,
        body: Some(b"{\"code\":1}"),
    }];
    let u = unit(2, S2C, None, &l);
    assert!(m("kind:resp 400", &u) && m("\"Bad Request\"", &u) && m("text/plain", &u));
    assert!(m("kind:resp /\"code\":1/", &u) && !m("kind:req", &u));
}

#[test]
fn polling_packets_with_their_request() {
    // A unit for one packet of a polling body: the request, the Engine.IO and Socket.IO layers.
    let headers = http::HeaderMap::new();
    let data = Payload::Text("2[\"tick\"]".into());
    let packet = sio("2[\"tick\"]");
    let l = [
        Layer::Eio {
            version: EioVersion::V4,
            ptype: PacketType::Message,
            data: &data,
        },
        Layer::Sio { packet: &packet },
        Layer::HttpRequest {
            method: "POST",
            url: "http://h/?EIO=4&transport=polling&sid=q",
            headers: &headers,
            body: Some(b"42[\"tick\"]\x1e42[\"tock\",\"fatal\"]"),
        },
    ];
    let u = unit(4, C2S, Some("q"), &l);
    assert!(m("event:tick", &u) && m("kind:req event:tick", &u) && m("kind:eio event:message", &u));
    assert!(m("kind:req tick", &u) && m("kind:req /transport=polling/", &u));
    // The other packets of the body are not this unit's.
    assert!(!m("kind:req event:tock", &u) && !m("event:tock", &u));
    assert!(!m("kind:req fatal", &u) && !m("fatal", &u));
}

fn facts(websocket: bool, eio: bool, dir: Option<Dir>, sid: Option<&str>) -> ConnFacts<'_> {
    ConnFacts {
        conn: 7,
        dir,
        sid,
        websocket,
        eio,
    }
}

fn could(rule: &str, f: &ConnFacts<'_>) -> bool {
    let spec = parse_rule(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
    crate::rules::matching::could_match(&spec, f)
}

#[test]
fn could_match_is_false_only_when_provable() {
    let ws_eio = facts(true, true, Some(C2S), Some("abc"));
    let ws_plain = facts(true, false, None, None);
    let http_eio = facts(false, true, None, Some("abc"));
    let http_plain = facts(false, false, Some(S2C), None);
    assert!(could("=> drop", &ws_plain) && could("=> drop", &http_plain));
    assert!(could("conn:7 => kill", &ws_plain) && !could("conn:8 => kill", &ws_plain));
    assert!(could("-conn:8 => kill", &ws_plain));
    assert!(could("dir:c2s => drop", &ws_eio) && !could("dir:s2c => drop", &ws_eio));
    assert!(could("dir:s2c => drop", &ws_plain), "both directions");
    assert!(
        could("-dir:c2s => drop", &ws_eio),
        "negated terms: assumed possible"
    );
    assert!(could("session:abc => drop", &ws_eio) && !could("session:xyz => drop", &ws_eio));
    assert!(
        could("session:s3 => drop", &ws_eio),
        "labels are not known live"
    );
    assert!(
        could("session:xyz => drop", &facts(true, true, None, None)),
        "sid not known yet"
    );
    assert!(
        !could("session:abc => drop", &ws_plain),
        "no Engine.IO, no session"
    );
    assert!(
        !could("kind:req => respond 400", &ws_eio),
        "after the 101: no HTTP"
    );
    assert!(could("kind:req => respond 400", &http_eio));
    assert!(!could(
        "kind:resp => drop",
        &facts(false, true, Some(C2S), None)
    ));
    assert!(
        !could("kind:text => drop", &http_eio),
        "no WebSocket messages on HTTP"
    );
    assert!(could("kind:text,req => drop", &http_eio));
    assert!(could("kind:eio event:pong dir:c2s => drop", &ws_eio));
    assert!(
        could("kind:eio event:pong => drop", &http_eio),
        "over polling too"
    );
    assert!(!could("kind:eio event:pong => drop", &ws_plain));
    assert!(!could("event:chat => drop", &ws_plain) && !could("ns:/ => drop", &http_plain));
    assert!(!could("kind:sio => drop", &http_plain));
    assert!(could("-event:chat => drop", &ws_plain));
    assert!(could("kind:text /x/ => drop", &ws_plain) && could("hello => drop", &http_plain));
    assert!(
        !could("kind:req dir:c2s => drop", &http_plain),
        "requests go c2s"
    );
}
