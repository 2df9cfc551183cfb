//! Random bodies in every form: nothing decided leaves the bytes alone; dropping any set of
//! units re-frames exactly the packets kept.

use super::*;
use crate::engineio::encode::encode_polling;
use proptest::prelude::*;

fn packet() -> impl Strategy<Value = Packet> {
    let text = "[a-z\"{}:,0-9 é😀\\\\\n]{0,10}";
    prop_oneof![
        (0u8..=6, text).prop_map(|(t, s)| Packet::text(PacketType::from_u8(t).unwrap(), &s)),
        text.prop_map(|s| Packet::text(PacketType::Message, &format!("2[\"ev\",\"{s}\"]"))),
        proptest::collection::vec(any::<u8>(), 0..8)
            .prop_map(|b| Packet::binary(PacketType::Message, &b)),
    ]
}

fn form() -> impl Strategy<Value = (BodyForm, Option<&'static str>)> {
    prop_oneof![
        Just((BodyForm::V4, None)),
        Just((BodyForm::V3String, None)),
        Just((BodyForm::V3Binary, Some("application/octet-stream"))),
        Just((
            BodyForm::Jsonp {
                version: EioVersion::V3,
                index: 4
            },
            None
        )),
        Just((
            BodyForm::Form {
                version: EioVersion::V3
            },
            None
        )),
    ]
}

/// Drops the units whose index is in the set.
struct DropSome(Vec<bool>, usize, Arc<Rule>);

impl Decide for DropSome {
    fn decide(&mut self, _u: &Unit<'_>, _now: Instant) -> Option<Hit> {
        let i = self.1;
        self.1 += 1;
        self.0.get(i).copied().unwrap_or(false).then(|| Hit {
            rule: self.2.clone(),
        })
    }
}

proptest! {
    #[test]
    fn unchanged_or_exactly_reframed(
        ps in proptest::collection::vec(packet(), 1..8),
        (form, ct) in form(),
        drops in proptest::collection::vec(any::<bool>(), 8),
        dir_s2c in any::<bool>(),
    ) {
        let body = encode_polling(form, &ps).unwrap();
        let decoded = decode_polling(form.version(), ct, &body);
        // The newline escaping of form POSTs cannot carry a backslash before a newline.
        prop_assume!(decoded.error.is_none() && decoded.packets == ps);
        let dir = if dir_s2c { Dir::ServerToClient } else { Dir::ClientToServer };
        let c = ctx(form.version(), dir, ct);
        // Nothing decided: the original bytes go.
        let o = run(&c, &body, &mut When(|_: &Unit<'_>| false, rule(Action::Drop)));
        prop_assert!(o.body.is_none());
        let o = run(&c, &body, &mut When(|_: &Unit<'_>| true, rule(Action::Pass)));
        prop_assert!(o.body.is_none());
        // Some units dropped: the packets of the others, in order, in the same form.
        let groups = units::group(form.version(), &ps);
        let mut kept = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            if !drops.get(i).copied().unwrap_or(false) {
                kept.extend_from_slice(&ps[g.range.clone()]);
            }
        }
        let o = run(&c, &body, &mut DropSome(drops.clone(), 0, rule(Action::Drop)));
        let dropped_any = (0..groups.len()).any(|i| drops.get(i).copied().unwrap_or(false));
        match o.body {
            None => prop_assert!(!dropped_any),
            Some(new) if kept.is_empty() => {
                prop_assert!(o.emptied);
                if dir_s2c {
                    let d = decode_form(form, &new);
                    prop_assert_eq!(d.packets, vec![Packet::text(PacketType::Noop, "")]);
                } else {
                    prop_assert!(new.is_empty());
                }
            }
            Some(new) => {
                prop_assert_eq!(BodyForm::detect(form.version(), ct, &new), form);
                let d = decode_form(form, &new);
                prop_assert_eq!(d.error, None);
                prop_assert_eq!(d.packets, kept);
            }
        }
    }
}
