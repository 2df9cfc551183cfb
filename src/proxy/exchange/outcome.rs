//! The packets of a polling body on the intercept path, once the interceptor decided on them:
//! records, waits, holds (released unchanged, dropped or edited: the body re-framed), the answer
//! or cut a packet's rule asks for.

use super::super::body::ProxyBody;
use super::super::forward::ConnCtx;
use super::acting::{Acting, Step, anomaly};
use super::park::{Held, HeldInfo, Verdict, answer, wait_hold};
use crate::event::{Dir, EventKind, ExchangeId};
use crate::intercept::Kill;
use crate::intercept::polling::{BodyOutcome, Park, respond_body};
use http::{Response, StatusCode};
use std::sync::Arc;

impl Acting {
    /// Carries out what the polling interceptor decided on a body: its records, waits, answer
    /// or cut. Returns the new body (`Some(empty)`: every packet dropped) and a pace.
    pub(super) async fn body_outcome(
        &self,
        ctx: &Arc<ConnCtx>,
        exchange: ExchangeId,
        started: u64,
        out: BodyOutcome,
        dir: Dir,
    ) -> Step<(Option<Vec<u8>>, Option<u64>)> {
        let mut held = Vec::new();
        for e in out.events {
            if let EventKind::RuleHit(r) = &e
                && let Some(h) = r.hold
            {
                held.push((h, HeldInfo::of(r)));
            }
            ctx.events.emit(ctx.conn, e);
        }
        if out.kill.is_some() || out.respond.is_some() {
            // Packets held before the exchange was answered or cut never go.
            let by = if out.kill.is_some() {
                "kill"
            } else {
                "respond"
            };
            for p in &out.parks {
                if let Park::Hold { hold, rule, .. } = p {
                    super::park::never_sent(ctx, *hold, rule, dir, by);
                }
            }
        }
        if let Some(k) = out.kill {
            if k == Kill::Rst {
                anomaly(
                    ctx,
                    dir,
                    "kill rst on a polling packet: the client socket is not reachable from an HTTP exchange, closed with FIN".into(),
                );
            }
            ctx.counters.cut();
            return Step::Answer(Box::new(Response::new(ProxyBody::empty())));
        }
        if let Some((status, body)) = out.respond {
            let (text, ct) = respond_body(body.as_deref());
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Step::Answer(Box::new(answer(ctx, exchange, started, status, ct, text)));
        }
        let mut pace = None;
        let mut packets = out.packets;
        // Where the held units now are: edits before them moved them by this much.
        let mut shift: isize = 0;
        let mut edited = false;
        for p in out.parks {
            match p {
                Park::Delay(d) => tokio::time::sleep(d).await,
                Park::Hold { hold, rule, at } => {
                    let info = held
                        .iter()
                        .position(|(h, _)| *h == hold)
                        .map(|i| held.swap_remove(i).1);
                    let start = at.start.saturating_add_signed(shift);
                    let end = at.end.saturating_add_signed(shift);
                    let unit = match (out.form, packets.get(start..end)) {
                        (Some(_), Some(u)) => Held::Packets {
                            version: self.version(),
                            packets: u.to_vec(),
                        },
                        _ => Held::Opaque,
                    };
                    let new = match wait_hold(ctx, hold, &rule, dir, info, unit).await {
                        Verdict::Drop => Some(Vec::new()),
                        Verdict::Packets(p) => Some(p),
                        Verdict::Forward | Verdict::Http { .. } => None,
                    };
                    if let Some(new) = new
                        && end <= packets.len()
                    {
                        shift += new.len() as isize - (end - start) as isize;
                        packets.splice(start..end, new);
                        edited = true;
                    }
                }
                Park::Throttle(r) => pace = Some(r),
            }
        }
        let mut body = out.body;
        let mut emptied = out.emptied;
        if edited && let Some(form) = out.form {
            let framed = if packets.is_empty() {
                emptied = true;
                if dir == Dir::ServerToClient {
                    let noop = [crate::engineio::Packet::text(
                        crate::engineio::PacketType::Noop,
                        "",
                    )];
                    crate::engineio::encode::encode_polling(form, &noop)
                } else {
                    Ok(Vec::new())
                }
            } else {
                emptied = false;
                crate::engineio::encode::encode_polling(form, &packets)
            };
            match framed {
                Ok(b) => body = Some(b),
                Err(e) => anomaly(
                    ctx,
                    dir,
                    format!(
                        "the polling body of exchange {exchange} could not be re-framed after a held unit was released edited ({e}): sent without the edit"
                    ),
                ),
            }
        }
        let body = if emptied && dir == Dir::ClientToServer {
            Some(Vec::new())
        } else {
            body
        };
        Step::Go((body, pace))
    }
}
