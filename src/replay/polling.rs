//! The polling side of the replay's Engine.IO client: the long-poll loop, posts, and the
//! payload encoding (EIO4: packets joined by 0x1E, binary as `b<base64>`; EIO3 with `b64=1`:
//! `<length>:<packet>` records, lengths in UTF-16 units as engine.io counts them, binary as
//! `b4<base64>`).

use super::eio::{Cmd, EioIn, Options, http, message, received};
use crate::engineio::{EioVersion, Handshake, Packet, PacketType, decode_polling};
use crate::event::Payload;
use base64::Engine as _;
use bytes::Bytes;
use std::time::Duration;
use tokio::sync::mpsc;

/// A polling payload of packets.
pub fn encode_payload(eio: EioVersion, packets: &[Packet]) -> Vec<u8> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match eio {
        EioVersion::V4 => {
            let parts: Vec<String> = packets
                .iter()
                .map(|p| match &p.data {
                    Payload::Text(t) => format!("{}{t}", p.ptype.id()),
                    Payload::Binary(b) => format!("b{}", b64(b)),
                })
                .collect();
            parts.join("\u{1e}").into_bytes()
        }
        EioVersion::V3 => {
            let mut out = String::new();
            for p in packets {
                let s = match &p.data {
                    Payload::Text(t) => format!("{}{t}", p.ptype.id()),
                    Payload::Binary(b) => format!("b{}{}", p.ptype.id(), b64(b)),
                };
                out.push_str(&format!("{}:{s}", s.encode_utf16().count()));
            }
            out.into_bytes()
        }
    }
}

pub(crate) async fn polling_task(
    o: Options,
    hs: Handshake,
    initial: Vec<Packet>,
    in_tx: mpsc::UnboundedSender<EioIn>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
) {
    let mut reply = Vec::new();
    for p in initial {
        if !received(p, o.eio, &in_tx, &mut reply) {
            return;
        }
    }
    // The long poll runs on its own task and hands its packets over.
    let (poll_tx, mut poll_rx) = mpsc::unbounded_channel::<Result<Vec<Packet>, String>>();
    let po = o.clone();
    let sid = hs.sid.clone();
    let poller = tokio::spawn(async move {
        loop {
            let r = http(&po, "GET", &po.target("polling", Some(&sid)), Bytes::new()).await;
            let r = match r {
                Ok((200, ct, body)) => {
                    let d = decode_polling(po.eio, ct.as_deref(), &body);
                    match d.error {
                        Some(e) if d.packets.is_empty() => Err(e),
                        _ => Ok(d.packets),
                    }
                }
                Ok((status, _, body)) => Err(format!(
                    "a poll was answered {status}: {}",
                    String::from_utf8_lossy(&body)
                )),
                Err(e) => Err(e),
            };
            let stop = r.is_err();
            if poll_tx.send(r).is_err() || stop {
                return;
            }
        }
    });
    let mut ping = tokio::time::interval(Duration::from_millis(hs.ping_interval.max(100)));
    ping.tick().await;
    let post = |packets: Vec<Packet>| {
        let o = o.clone();
        let target = o.target("polling", Some(&hs.sid));
        async move {
            let body = Bytes::from(encode_payload(o.eio, &packets));
            match http(&o, "POST", &target, body).await {
                Ok((200, _, _)) => Ok(()),
                Ok((status, _, body)) => Err(format!(
                    "a post was answered {status}: {}",
                    String::from_utf8_lossy(&body)
                )),
                Err(e) => Err(e),
            }
        }
    };
    loop {
        if !reply.is_empty()
            && let Err(e) = post(std::mem::take(&mut reply)).await
        {
            let _ = in_tx.send(EioIn::Closed(e));
            break;
        }
        tokio::select! {
            r = poll_rx.recv() => match r {
                Some(Ok(packets)) => {
                    let mut open = true;
                    for p in packets {
                        open &= received(p, o.eio, &in_tx, &mut reply);
                    }
                    if !open {
                        break;
                    }
                }
                Some(Err(e)) => {
                    let _ = in_tx.send(EioIn::Closed(e));
                    break;
                }
                None => break,
            },
            c = rx.recv() => match c {
                Some(Cmd::Send(d)) => reply.push(message(d)),
                Some(Cmd::Close) | None => {
                    let _ = post(vec![Packet::text(PacketType::Close, "")]).await;
                    break;
                }
            },
            _ = ping.tick(), if o.eio == EioVersion::V3 => reply.push(Packet::text(PacketType::Ping, "")),
        }
    }
    poller.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_polling_payloads_read_back_with_the_stage_decoder() {
        let packets = vec![
            Packet::text(PacketType::Message, "2[\"é😀\",1]"),
            Packet::binary(PacketType::Message, &[0, 1, 0x1e, 255]),
            Packet::text(PacketType::Ping, ""),
        ];
        for eio in [EioVersion::V4, EioVersion::V3] {
            let body = encode_payload(eio, &packets);
            let d = decode_polling(eio, Some("text/plain;charset=UTF-8"), &body);
            assert_eq!(d.error, None, "{eio:?}: {}", String::from_utf8_lossy(&body));
            assert_eq!(d.packets, packets, "{eio:?}");
        }
        // EIO3 lengths count UTF-16 units, as engine.io does: `42["` 4, `é` 1, `😀` 2, `",1]` 4.
        let v3 = encode_payload(EioVersion::V3, &packets[..1]);
        assert!(v3.starts_with(b"11:42"), "{}", String::from_utf8_lossy(&v3));
    }
}
