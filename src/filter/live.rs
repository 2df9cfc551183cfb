//! The filter on the live path: a rule's MATCH evaluated on the layers of a unit the proxy is
//! about to forward ([`Filter::matches_unit`]), what it can select at all ([`Filter::reach`],
//! used to refuse rules that can never act), and whether it could select anything on a
//! connection ([`Filter::could_select`]).
//!
//! A layer is seen as the record it would become (`http_request`, `ws_message`, `eio_packet`,
//! ...), through the same [`View`] and term logic as records. The view is built without
//! allocating: summaries, payload text and decoded names are made only when a term asks.
//!
//! An HTTP layer of a unit that is one packet of a polling body (it has Engine.IO/Socket.IO
//! layers) stands for that packet: its payload text is the packet's data and its events are the
//! packet's, so a term never selects every packet of a body for what one of them holds. An HTTP
//! layer alone (a whole body) is searched and decoded whole, like an `http_body` record.

use super::state::{self, Names, View};
use super::{Filter, Term, term_matches};
use crate::engineio::{self, EioVersion};
use crate::event::{ConnId, ControlKind, Dir};
use crate::rules::{Layer, Unit};
use crate::socketio::{SioPacket, SioType, SioVersion};
use serde_json::Value;
use std::borrow::Cow;

/// Classes of unit layers, as bits: what a MATCH can select.
pub mod reach {
    pub const HTTP_REQ: u16 = 1 << 0;
    pub const HTTP_RESP: u16 = 1 << 1;
    pub const HTTP: u16 = HTTP_REQ | HTTP_RESP;
    pub const WS_TEXT: u16 = 1 << 2;
    pub const WS_BINARY: u16 = 1 << 3;
    pub const WS_PING: u16 = 1 << 4;
    pub const WS_PONG: u16 = 1 << 5;
    pub const WS: u16 = WS_TEXT | WS_BINARY | WS_PING | WS_PONG;
    pub const EIO: u16 = 1 << 6;
    pub const SIO: u16 = 1 << 7;
    pub const ALL: u16 = HTTP | WS | EIO | SIO;

    /// The classes in words: `WebSocket messages and Engine.IO packets`.
    pub fn describe(bits: u16) -> String {
        let names: [(u16, &str); 6] = [
            (HTTP_REQ, "HTTP requests"),
            (HTTP_RESP, "HTTP responses"),
            (WS_TEXT | WS_BINARY, "WebSocket messages"),
            (WS_PING | WS_PONG, "WebSocket pings and pongs"),
            (EIO, "Engine.IO packets"),
            (SIO, "Socket.IO packets"),
        ];
        let parts: Vec<&str> = names
            .iter()
            .filter(|(b, _)| bits & b != 0)
            .map(|&(_, n)| n)
            .collect();
        match parts.split_last() {
            None => "nothing".to_owned(),
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        }
    }
}

/// The layer classes a `kind:` term selects.
fn kind_reach(mask: u32, types: &[String]) -> u16 {
    let mut r = 0;
    let pairs: [(u32, u16); 6] = [
        (state::HTTP_REQUEST | state::BODY_C2S, reach::HTTP_REQ),
        (state::HTTP_RESPONSE | state::BODY_S2C, reach::HTTP_RESP),
        (state::WS_TEXT, reach::WS_TEXT),
        (state::WS_BINARY, reach::WS_BINARY),
        (state::PING, reach::WS_PING),
        (state::PONG, reach::WS_PONG),
    ];
    for (bits, class) in pairs {
        if mask & bits != 0 {
            r |= class;
        }
    }
    for t in types {
        r |= match t.as_str() {
            "http_request" => reach::HTTP_REQ,
            "http_response" => reach::HTTP_RESP,
            "http_body" => reach::HTTP,
            "ws_message" => reach::WS_TEXT | reach::WS_BINARY,
            "ws_control" => reach::WS_PING | reach::WS_PONG,
            "eio_packet" => reach::EIO,
            "sio_packet" => reach::SIO,
            _ => 0,
        };
    }
    r
}

/// True when `s` looks like a session label of the session stage (`s3`), not a sid.
fn is_label(s: &str) -> bool {
    s.len() > 1 && s.starts_with('s') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

impl Filter {
    /// The classes of layers ([`reach`]) the filter's positive `kind:` and `dir:` terms let
    /// through (negated terms are not used: conservative).
    pub fn reach(&self) -> u16 {
        let mut r = reach::ALL;
        for t in &self.terms {
            match t {
                Term::Kind(mask, types, _) => r &= kind_reach(*mask, types),
                Term::Dir(Dir::ClientToServer) => r &= !reach::HTTP_RESP,
                Term::Dir(Dir::ServerToClient) => r &= !reach::HTTP_REQ,
                _ => {}
            }
        }
        r
    }

    /// The positive `kind:` and `dir:` terms as written, for messages about [`Filter::reach`].
    pub fn reach_terms(&self) -> String {
        let shown: Vec<String> = self
            .terms
            .iter()
            .filter(|t| matches!(t, Term::Kind(..) | Term::Dir(_)))
            .map(|t| Filter {
                terms: vec![t.clone()],
            })
            .map(|f| f.to_string())
            .collect();
        if shown.is_empty() {
            "the match".to_owned()
        } else {
            shown.join(" ")
        }
    }

    /// False only when no unit of a connection with these facts can be selected: a `conn:`
    /// without `conn`, a `dir:` other than `dir`, a `session:` sid other than `sid` (labels
    /// are not known on the live path: assumed possible), kinds of the other transport,
    /// Engine.IO/Socket.IO terms when the connection carries no Engine.IO. Negated terms are
    /// assumed possible.
    pub fn could_select(
        &self,
        conn: ConnId,
        dir: Option<Dir>,
        sid: Option<&str>,
        websocket: bool,
        eio: bool,
    ) -> bool {
        let mut r = self.reach();
        r &= if websocket { !reach::HTTP } else { !reach::WS };
        if !eio {
            r &= !(reach::EIO | reach::SIO);
        }
        match dir {
            Some(Dir::ClientToServer) => r &= !reach::HTTP_RESP,
            Some(Dir::ServerToClient) => r &= !reach::HTTP_REQ,
            None => {}
        }
        if r == 0 {
            return false;
        }
        self.terms.iter().all(|t| match t {
            Term::Conn(ids) => ids.contains(&conn),
            Term::Dir(d) => dir.is_none_or(|x| x == *d),
            Term::Event(_) | Term::Ns(_) => eio,
            Term::Session(s) => eio && (is_label(s) || sid.is_none_or(|x| x == s.as_str())),
            _ => true,
        })
    }

    /// True when the filter selects some layer of `unit` (every term on the same layer). No
    /// allocation unless a text, regex or (on HTTP bodies) event/namespace term needs one.
    pub fn matches_unit(&self, unit: &Unit<'_>) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        unit.layers.iter().any(|layer| {
            let v = layer_view(layer, unit);
            self.terms.iter().all(|t| term_matches(t, &v, None))
        })
    }
}

/// Where a layer's view takes its lazy parts from.
pub(super) struct LayerSrc<'a> {
    layer: &'a Layer<'a>,
    all: &'a [Layer<'a>],
}

fn layer_view<'a>(layer: &'a Layer<'a>, unit: &Unit<'a>) -> View<'a> {
    let (kind, type_name, alt) = match layer {
        Layer::HttpRequest { body, .. } => match body {
            Some(_) => (
                state::HTTP_REQUEST | state::BODY_C2S,
                "http_request",
                Some("http_body"),
            ),
            None => (state::HTTP_REQUEST, "http_request", None),
        },
        Layer::HttpResponse { body, .. } => match body {
            Some(_) => (
                state::HTTP_RESPONSE | state::BODY_S2C,
                "http_response",
                Some("http_body"),
            ),
            None => (state::HTTP_RESPONSE, "http_response", None),
        },
        Layer::WsMessage { binary: false, .. } => (state::WS_TEXT, "ws_message", None),
        Layer::WsMessage { binary: true, .. } => (state::WS_BINARY, "ws_message", None),
        Layer::WsControl {
            kind: ControlKind::Ping,
            ..
        } => (state::PING, "ws_control", None),
        Layer::WsControl {
            kind: ControlKind::Pong,
            ..
        } => (state::PONG, "ws_control", None),
        Layer::Eio { .. } => (0, "eio_packet", None),
        Layer::Sio { .. } => (0, "sio_packet", None),
    };
    let mut v = View::new(kind, Cow::Borrowed(type_name), unit.conn);
    v.alt_type = alt;
    v.dir = Some(unit.dir);
    v.sid = unit.sid.map(Cow::Borrowed);
    v.layer = Some(LayerSrc {
        layer,
        all: unit.layers,
    });
    v
}

fn utf8(b: &[u8]) -> Option<Cow<'_, str>> {
    std::str::from_utf8(b).ok().map(Cow::Borrowed)
}

/// The Engine.IO version of the unit, from its Engine.IO layer or its request URL (v4 else).
fn version_of(all: &[Layer<'_>]) -> EioVersion {
    for l in all {
        match l {
            Layer::Eio { version, .. } => return *version,
            Layer::HttpRequest { url, .. } => {
                if let Some(q) = engineio::detect(url) {
                    return q.eio;
                }
            }
            _ => {}
        }
    }
    EioVersion::V4
}

fn sio_event_is(p: &SioPacket, e: &str) -> bool {
    if !matches!(p.ptype, SioType::Event | SioType::BinaryEvent) {
        return false;
    }
    match p
        .data
        .as_ref()
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        Some(Value::String(s)) => s == e,
        Some(Value::Number(n)) => n.to_string() == e,
        _ => false,
    }
}

impl<'a> LayerSrc<'a> {
    /// The Socket.IO packets among the unit's layers.
    fn sio_packets(&self) -> impl Iterator<Item = &'a SioPacket> + 'a {
        self.all.iter().filter_map(|l| match l {
            Layer::Sio { packet } => Some(*packet),
            _ => None,
        })
    }

    /// The data of the unit's Engine.IO packet, when the unit is one packet.
    fn eio_data(&self) -> Option<&'a crate::event::Payload> {
        self.all.iter().find_map(|l| match l {
            Layer::Eio { data, .. } => Some(*data),
            _ => None,
        })
    }

    /// `event:` / `ns:` on an HTTP layer: the unit's own Socket.IO packets when it is one
    /// packet (`sio`), nothing without a body, else `None`: decode the whole polling body.
    fn http_answer(&self, has_body: bool, sio: impl FnOnce() -> bool) -> Option<bool> {
        let packet_unit = self
            .all
            .iter()
            .any(|l| matches!(l, Layer::Eio { .. } | Layer::Sio { .. }));
        if packet_unit {
            Some(sio())
        } else if has_body {
            None
        } else {
            Some(false)
        }
    }

    pub(super) fn summary(&self) -> Cow<'a, str> {
        match self.layer {
            Layer::HttpRequest { method, url, .. } => Cow::Owned(format!("{method} {url}")),
            Layer::HttpResponse {
                status, headers, ..
            } => {
                let reason = http::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                let ct = headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                Cow::Owned(format!("{status} {reason} {ct}"))
            }
            Layer::WsMessage { .. } | Layer::WsControl { .. } => Cow::Borrowed(""),
            Layer::Eio { ptype, .. } => Cow::Borrowed(ptype.name()),
            Layer::Sio { packet } => {
                let version = SioVersion::for_eio(version_of(self.all));
                let event = packet.event_name().unwrap_or_default();
                Cow::Owned(format!(
                    "{} {} {event}",
                    packet.ptype.name(version),
                    packet.nsp
                ))
            }
        }
    }

    pub(super) fn payload(&self) -> Option<Cow<'a, str>> {
        match self.layer {
            // A unit for one packet of a polling body: the packet's own text, not the whole
            // body (a term must not select every packet of a body for what one of them holds).
            Layer::HttpRequest { body, .. } | Layer::HttpResponse { body, .. } => {
                match self.eio_data() {
                    Some(d) => d.as_text().map(Cow::Borrowed),
                    None => body.and_then(utf8),
                }
            }
            Layer::WsMessage {
                binary: false,
                payload,
            } => utf8(payload),
            Layer::WsMessage { binary: true, .. } => None,
            Layer::WsControl { payload, .. } => utf8(payload),
            Layer::Eio { data, .. } => data.as_text().map(Cow::Borrowed),
            Layer::Sio { packet } => packet.data.as_ref().map(|d| Cow::Owned(d.to_string())),
        }
    }

    /// `Some(answer)` when it can be told without decoding; `None`: decode ([`Self::names`]).
    pub(super) fn has_event(&self, e: &str) -> Option<bool> {
        match self.layer {
            Layer::Eio { ptype, .. } => Some(ptype.name() == e),
            Layer::Sio { packet } => Some(sio_event_is(packet, e)),
            Layer::WsControl { .. } => Some(false),
            Layer::HttpRequest { body, .. } | Layer::HttpResponse { body, .. } => self
                .http_answer(body.is_some(), || {
                    self.sio_packets().any(|p| sio_event_is(p, e))
                }),
            Layer::WsMessage { .. } => Some(self.sio_packets().any(|p| sio_event_is(p, e))),
        }
    }

    /// Like [`Self::has_event`], for namespaces.
    pub(super) fn has_ns(&self, ns: &str) -> Option<bool> {
        match self.layer {
            Layer::Eio { .. } | Layer::WsControl { .. } => Some(false),
            Layer::Sio { packet } => Some(packet.nsp == ns),
            Layer::HttpRequest { body, .. } | Layer::HttpResponse { body, .. } => {
                self.http_answer(body.is_some(), || self.sio_packets().any(|p| p.nsp == ns))
            }
            Layer::WsMessage { .. } => Some(self.sio_packets().any(|p| p.nsp == ns)),
        }
    }

    /// The names in an HTTP body that the unit did not come with decoded (a whole polling
    /// body), decoded as a polling payload.
    pub(super) fn names(&self) -> Names {
        let mut out = Names::default();
        let (body, headers) = match self.layer {
            Layer::HttpRequest {
                body: Some(b),
                headers,
                ..
            }
            | Layer::HttpResponse {
                body: Some(b),
                headers,
                ..
            } => (*b, *headers),
            _ => return out,
        };
        let version = version_of(self.all);
        let ct = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let d = engineio::decode_polling(version, ct, body);
        state::names_of_packets(version, &d.packets, &mut out);
        out
    }
}
