//! Writing one direction: unchanged messages as their original bytes, everything else encoded
//! afresh (frames towards the server masked with a CSPRNG key, towards the client unmasked), and
//! permessage-deflate kept consistent for the receiver.
//!
//! Compression: in a direction with context takeover the receiver's inflater follows every
//! compressed message it gets. While it got exactly the sender's compressed messages, in order,
//! once each, original bytes stay valid ("in sync"). The first time that breaks (a compressed
//! message dropped, edited, duplicated or reordered, or a message the proxy compressed itself),
//! the proxy owns the direction's compression for good: every later compressed message is
//! written from its inflated payload with the proxy's own deflater (window bits within what the
//! receiver agreed to; none with 8 bits, which zlib cannot make: those go uncompressed). A
//! message over the decode limit is not kept whole: it goes uncompressed then, from what it
//! inflated to (whole, or fragment by fragment as it streams), which leaves the receiver's context
//! alone. With `*_no_context_takeover` every message stands alone: originals always stay valid,
//! and a changed message is compressed alone.

use super::read::{Msg, Piece, StreamPart};
use crate::event::{DeflateParams, Dir, EventKind, Payload, WsMessage, WsOpcode, mask_hex};
use crate::ws::deflater::Deflater;
use crate::ws::encode_frame;
use bytes::Bytes;

/// Random masking keys, drawn from the system CSPRNG in batches.
struct MaskRng {
    rng: ring::rand::SystemRandom,
    buf: [u8; 256],
    pos: usize,
}

impl MaskRng {
    fn new() -> MaskRng {
        MaskRng {
            rng: ring::rand::SystemRandom::new(),
            buf: [0; 256],
            pos: 256,
        }
    }

    fn key(&mut self) -> [u8; 4] {
        use ring::rand::SecureRandom;
        if self.pos + 4 > self.buf.len() {
            if self.rng.fill(&mut self.buf).is_err() {
                // The system generator failed (it does not on supported systems): the clock's
                // nanoseconds are still not predictable by a page script.
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                return t.to_le_bytes();
            }
            self.pos = 0;
        }
        let mut k = [0u8; 4];
        if let Some(s) = self.buf.get(self.pos..self.pos + 4) {
            k.copy_from_slice(s);
        }
        self.pos += 4;
        k
    }
}

/// The writing side of one direction.
pub(super) struct Writer {
    dir: Dir,
    /// permessage-deflate negotiated.
    deflate: bool,
    /// This direction's `*_no_context_takeover`.
    nct: bool,
    window_bits: u8,
    deflater: Option<Deflater>,
    /// The receiver's context still follows the sender's (see the module docs).
    in_sync: bool,
    /// The compressed message the receiver's context expects next while in sync.
    next_seq: u64,
    rng: MaskRng,
    /// A message re-encoded as it streams ([`Piece::Stream`]): frames written so far and the
    /// first one's mask.
    stream_frames: u32,
    stream_mask: Option<[u8; 4]>,
    /// That message goes as received (the receiver's context expected it).
    stream_raw: bool,
}

impl Writer {
    pub fn new(dir: Dir, deflate: Option<&DeflateParams>) -> Writer {
        let (nct, bits) = match (deflate, dir) {
            (Some(p), Dir::ClientToServer) => {
                (p.client_no_context_takeover, p.client_max_window_bits)
            }
            (Some(p), Dir::ServerToClient) => {
                (p.server_no_context_takeover, p.server_max_window_bits)
            }
            (None, _) => (false, None),
        };
        Writer {
            dir,
            deflate: deflate.is_some(),
            nct,
            window_bits: bits.unwrap_or(15),
            deflater: None,
            in_sync: true,
            next_seq: 0,
            rng: MaskRng::new(),
            stream_frames: 0,
            stream_mask: None,
            stream_raw: true,
        }
    }

    /// The proxy may come to own this direction's compression (permessage-deflate with
    /// context takeover).
    pub fn may_own_compression(&self) -> bool {
        self.deflate && !self.nct
    }

    /// The proxy writes this direction's compressed messages itself from now on.
    pub fn owns_compression(&self) -> bool {
        self.deflate && !self.nct && !self.in_sync
    }

    /// Writes a piece: its bytes to `fw`, then the records of what the receiver got to `ev`.
    pub fn write(&mut self, piece: Piece, fw: &mut Vec<Bytes>, ev: &mut Vec<EventKind>) {
        match piece {
            Piece::Raw { bytes, events } => {
                fw.push(bytes);
                ev.extend(events);
            }
            Piece::New {
                opcode,
                payload,
                compress,
                origin,
            } => {
                let (bytes, mut rec) = self.message(opcode, &payload, compress);
                rec.origin = origin.map(str::to_owned);
                fw.push(bytes);
                ev.push(EventKind::WsMessage(rec));
            }
            Piece::Msg(m) => self.original(*m, fw, ev),
            Piece::Stream(p) => self.stream(*p, fw, ev),
        }
    }

    /// A part of a compressed message streaming through past the decode limit: as received while
    /// the receiver's context expects exactly that message (decided at its first part), else
    /// uncompressed from what it inflated to, one frame per part (the receiver's compression
    /// context is left alone, as for injected messages).
    fn stream(&mut self, p: StreamPart, fw: &mut Vec<Bytes>, ev: &mut Vec<EventKind>) {
        if p.first.is_some() {
            // As received only while the receiver's context expects exactly this message.
            self.stream_raw = self.nct || (self.in_sync && p.seq == self.next_seq);
            if self.stream_raw {
                if !self.nct {
                    self.next_seq += 1;
                }
            } else {
                self.in_sync = false;
            }
        }
        if self.stream_raw {
            for (_, piece) in p.raw {
                self.write(piece, fw, ev);
            }
            ev.extend(p.rec.map(EventKind::WsMessage));
            return;
        }
        let opcode = match p.first {
            Some(op) => {
                self.stream_frames = 0;
                op
            }
            None => 0,
        };
        if p.first.is_some() || p.last || !p.plain.is_empty() {
            let mask = (self.dir == Dir::ClientToServer).then(|| self.rng.key());
            if p.first.is_some() {
                self.stream_mask = mask;
            }
            fw.push(Bytes::from(encode_frame(
                p.last, false, opcode, mask, &p.plain,
            )));
            self.stream_frames += 1;
        }
        // Control frames that came inside the message follow the fragment.
        for (own, piece) in p.raw {
            if !own {
                self.write(piece, fw, ev);
            }
        }
        if let Some(mut rec) = p.rec {
            rec.compressed = false;
            rec.wire_len = rec.len;
            rec.frames = self.stream_frames;
            rec.mask = self.stream_mask.map(mask_hex);
            ev.push(EventKind::WsMessage(rec));
        }
    }

    fn original(&mut self, m: Msg, fw: &mut Vec<Bytes>, ev: &mut Vec<EventKind>) {
        let valid = match m.seq {
            None => true,
            Some(_) if self.nct => true,
            Some(s) => self.in_sync && s == self.next_seq,
        };
        if valid {
            if m.seq.is_some() && !self.nct {
                self.next_seq += 1;
            }
            let mut m = m;
            let rec = m.rec.take();
            m.into_wire(fw, ev);
            if let Some(rec) = rec {
                ev.push(EventKind::WsMessage(rec));
            }
            return;
        }
        self.in_sync = false;
        if let (Some(rec), Some(spill)) = (&m.rec, &m.spill)
            && rec.truncated
        {
            // Over the decode limit: what it inflated to is all here, sent uncompressed.
            let opcode = if rec.opcode == WsOpcode::Text { 1 } else { 2 };
            let (bytes, new) = self.message(opcode, spill, false);
            let mut rec = rec.clone();
            rec.compressed = false;
            rec.wire_len = new.wire_len;
            rec.frames = 1;
            rec.mask = new.mask;
            for (_, p) in m.inner {
                self.write(p, fw, ev);
            }
            fw.push(bytes);
            ev.push(EventKind::WsMessage(rec));
            return;
        }
        let Some(rec) = m.rec.as_ref().filter(|r| !r.truncated) else {
            ev.push(EventKind::Anomaly {
                layer: "rules".into(),
                dir: Some(self.dir),
                message: "a compressed message the proxy could not inflate whole was forwarded as received after the proxy took over this direction's compression; the receiver may fail to inflate it".into(),
            });
            // Written as received: recorded as such (its record says what was decoded of it).
            let mut m = m;
            let rec = m.rec.take();
            m.into_wire(fw, ev);
            if let Some(rec) = rec {
                ev.push(EventKind::WsMessage(rec));
            }
            return;
        };
        let opcode = match rec.opcode {
            WsOpcode::Text => 1,
            WsOpcode::Binary => 2,
        };
        let payload = rec.payload.as_bytes().to_vec();
        for (_, p) in m.inner {
            self.write(p, fw, ev);
        }
        let (bytes, rec) = self.message(opcode, &payload, true);
        fw.push(bytes);
        ev.push(EventKind::WsMessage(rec));
    }

    /// One new single-frame message and its record.
    pub fn message(&mut self, opcode: u8, payload: &[u8], compress: bool) -> (Bytes, WsMessage) {
        let mut body = Vec::new();
        let compressed = compress && self.deflate && self.compress(payload, &mut body);
        let body: &[u8] = if compressed { &body } else { payload };
        let mask = (self.dir == Dir::ClientToServer).then(|| self.rng.key());
        let frame = encode_frame(true, compressed, opcode, mask, body);
        let (op, p) = if opcode == 1 {
            (WsOpcode::Text, Payload::from_bytes(payload))
        } else {
            (WsOpcode::Binary, Payload::binary(payload))
        };
        let rec = WsMessage {
            dir: self.dir,
            opcode: op,
            len: payload.len() as u64,
            wire_len: body.len() as u64,
            compressed,
            frames: 1,
            mask: mask.map(mask_hex),
            truncated: false,
            origin: None,
            payload: p,
        };
        (Bytes::from(frame), rec)
    }

    /// Compresses with the proxy's deflater; false when it cannot (8 window bits, an error).
    fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) -> bool {
        if self.deflater.is_none() {
            self.deflater = Deflater::new(self.window_bits, self.nct);
        }
        let Some(d) = &mut self.deflater else {
            return false;
        };
        if d.compress(payload, out).is_err() {
            out.clear();
            // The deflater's state is unknown after an error: start a new one next time.
            self.deflater = None;
            return false;
        }
        if !self.nct {
            self.in_sync = false;
        }
        true
    }

    /// A close frame with this code and reason, masked when it goes towards the server.
    pub fn close_frame(&mut self, towards_server: bool, code: u16, reason: &str) -> Bytes {
        let mut payload = code.to_be_bytes().to_vec();
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        payload.extend_from_slice(reason.get(..end).unwrap_or_default().as_bytes());
        let mask = towards_server.then(|| self.rng.key());
        Bytes::from(encode_frame(true, false, 8, mask, &payload))
    }
}
