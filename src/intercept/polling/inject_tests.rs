//! Tests of the polling injection rewrite and registry: bodies as bytes, in every form.

use super::*;
use crate::engineio::PacketType;

const V4: EioVersion = EioVersion::V4;
const V3: EioVersion = EioVersion::V3;
const S2C: Dir = Dir::ServerToClient;
const C2S: Dir = Dir::ClientToServer;

fn msg(t: &str) -> Packet {
    Packet::text(PacketType::Message, t)
}

#[test]
fn nothing_pending_leaves_the_body_alone() {
    let none = |w: Result<Rewritten, String>| w.unwrap().body.is_none();
    assert!(none(rewrite(V4, S2C, None, b"2", &[], &[], None)));
    let acks = [("/".to_string(), 8_000_000_000_000_000)];
    assert!(none(rewrite(
        V4,
        S2C,
        None,
        b"2\x1e42[\"x\"]",
        &acks,
        &[],
        None
    )));
}

/// The new body (which must have changed).
fn body_of(w: &Rewritten) -> Vec<u8> {
    w.body.clone().expect("the body changed")
}

#[test]
fn packets_join_a_v4_body_with_binary_as_base64() {
    let append = [
        msg(r#"51-["news",{"_placeholder":true,"num":0}]"#),
        Packet::binary(PacketType::Message, &[1, 2, 3]),
    ];
    let w = rewrite(V4, S2C, Some("text/plain"), b"2", &[], &append, None).unwrap();
    assert_eq!(
        body_of(&w),
        b"2\x1e451-[\"news\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID".to_vec()
    );
    assert!(!w.emptied);
    assert!(w.replies.is_empty());
}

#[test]
fn packets_join_v3_bodies_in_their_own_form() {
    // String payload (the client cannot take binary): the attachment as `b4<base64>`.
    let append = [
        msg(r#"2["news",1]"#),
        Packet::binary(PacketType::Message, &[9]),
    ];
    let w = rewrite(
        V3,
        S2C,
        Some("text/plain; charset=UTF-8"),
        b"1:6",
        &[],
        &append,
        None,
    )
    .unwrap();
    assert_eq!(body_of(&w), b"1:612:42[\"news\",1]6:b4CQ==".to_vec());
    // Binary payload: length-prefixed records, the attachment raw.
    let body = [0u8, 1, 0xff, b'6'];
    let w = rewrite(
        V3,
        S2C,
        Some("application/octet-stream"),
        &body,
        &[],
        &append,
        None,
    )
    .unwrap();
    let mut want = vec![0u8, 1, 0xff, b'6', 0, 1, 2, 0xff];
    want.extend_from_slice(b"42[\"news\",1]");
    want.extend_from_slice(&[1, 2, 0xff, 4, 9]);
    assert_eq!(body_of(&w), want);
}

#[test]
fn the_reply_to_an_injected_event_leaves_the_body() {
    let id = 8_000_000_000_000_001u64;
    let acks = [("/".to_string(), 7), ("/".to_string(), id)];
    let body = format!("43{id}[\"ok\",2]\x1e42[\"chat\",\"hi\"]");
    let w = rewrite(V4, S2C, None, body.as_bytes(), &acks, &[], None).unwrap();
    assert_eq!(body_of(&w), b"42[\"chat\",\"hi\"]".to_vec());
    assert_eq!(w.replies.len(), 1);
    assert_eq!(w.replies[0].id, id);
    assert_eq!(w.replies[0].args, serde_json::json!(["ok", 2]));
    // Another namespace's ack with the same id is the app's: it stays.
    let acks = [("/admin".to_string(), id)];
    let w = rewrite(V4, S2C, None, body.as_bytes(), &acks, &[], None).unwrap();
    assert!(w.body.is_none() && w.replies.is_empty());
}

#[test]
fn a_binary_reply_comes_back_with_its_attachment_and_an_emptied_body_says_so() {
    let id = 8_000_000_000_000_002u64;
    let acks = [("/".to_string(), id)];
    // v4 GET response with only the binary ack: a noop goes instead.
    let body = format!("461-{id}[{{\"_placeholder\":true,\"num\":0}}]\x1ebAQI=");
    let w = rewrite(V4, S2C, None, body.as_bytes(), &acks, &[], None).unwrap();
    assert!(w.emptied);
    assert_eq!(body_of(&w), b"6".to_vec());
    assert_eq!(w.replies[0].args, serde_json::json!([{"base64": "AQI="}]));
    // The same in a POST (the client answering): the body is empty, the caller answers `ok`.
    let w = rewrite(V4, C2S, None, body.as_bytes(), &acks, &[], None).unwrap();
    assert!(w.emptied);
    assert!(body_of(&w).is_empty());
    // v3 string payload.
    let record = format!("43{id}[1]");
    let body = format!("{}:{record}", record.len());
    let w = rewrite(
        V3,
        S2C,
        Some("text/plain"),
        body.as_bytes(),
        &acks,
        &[],
        None,
    )
    .unwrap();
    assert_eq!(body_of(&w), b"1:6".to_vec());
    assert_eq!(w.replies[0].args, serde_json::json!([1]));
}

#[test]
fn attachments_of_a_reply_that_come_in_later_bodies_are_taken_out_too() {
    let id = 8_000_000_000_000_003u64;
    let acks = [("/".to_string(), id)];
    // engine.io flushes the BINARY_ACK alone to the waiting poll; its attachments follow in
    // the next responses (here one per response, the last one ahead of an app event).
    let first = format!(
        "462-{id}[{{\"_placeholder\":true,\"num\":0}},{{\"_placeholder\":true,\"num\":1}}]"
    );
    let w = rewrite(V4, S2C, None, first.as_bytes(), &acks, &[], None).unwrap();
    assert!(w.replies.is_empty());
    assert_eq!(
        body_of(&w),
        b"6".to_vec(),
        "a noop keeps the poll loop going"
    );
    let partial = w.partial.clone().expect("waiting for 2 attachments");
    let w = rewrite(V4, S2C, None, b"bAQ==", &acks, &[], Some(partial)).unwrap();
    assert_eq!(body_of(&w), b"6".to_vec());
    let partial = w.partial.clone().expect("one attachment to go");
    assert_eq!(partial.packet.attachments.len(), 1);
    let w = rewrite(
        V4,
        S2C,
        None,
        b"bAg==\x1e42[\"app\"]",
        &acks,
        &[],
        Some(partial),
    )
    .unwrap();
    assert!(w.partial.is_none());
    assert_eq!(
        w.replies[0].args,
        serde_json::json!([{"base64": "AQ=="}, {"base64": "Ag=="}])
    );
    assert_eq!(body_of(&w), b"42[\"app\"]".to_vec());
    // A reply whose attachments do not come next is given up (handed over as it is).
    let w = rewrite(V4, S2C, None, first.as_bytes(), &acks, &[], None).unwrap();
    let w = rewrite(V4, S2C, None, b"2", &acks, &[], w.partial).unwrap();
    assert!(w.partial.is_none() && w.replies.len() == 1, "{w:?}");
    assert!(w.body.is_none());
}

#[test]
fn a_body_that_does_not_decode_is_refused() {
    assert!(rewrite(V4, S2C, None, b"", &[], &[msg("2[\"x\"]")], None).is_err());
    assert!(rewrite(V3, S2C, Some("text/plain"), b"9:4", &[], &[msg("x")], None).is_err());
}

#[test]
fn the_registry_delivers_once_and_hands_the_ack_over() {
    let reg = PollingInjects::default();
    assert!(!reg.any());
    assert!(!reg.wants(Some("abc"), S2C));
    let (batch, mut delivered) = reg.queue_to_client("abc", vec![msg("2[\"x\"]")]).unwrap();
    assert!(reg.any());
    assert!(reg.wants(Some("abc"), S2C));
    assert!(!reg.wants(Some("abc"), C2S));
    assert!(!reg.wants(Some("other"), S2C));
    let mut ack = reg.expect_ack("abc", S2C, "/", 77).unwrap();
    let a = reg.apply("abc", V4, S2C, None, b"43077[5]\x1e2", 9);
    assert_eq!(a.body, Some(b"2\x1e42[\"x\"]".to_vec()));
    assert_eq!(delivered.try_recv(), Ok(9));
    assert_eq!(ack.try_recv().map(|r| r.args), Ok(serde_json::json!([5])));
    // Both records: the consumed ack and the delivery.
    assert_eq!(a.events.len(), 2);
    assert!(!reg.any(), "nothing left pending");
    assert!(!reg.withdraw("abc", batch), "already delivered");
    let a = reg.apply("abc", V4, S2C, None, b"2", 10);
    assert!(a.body.is_none() && a.events.is_empty());
}

#[test]
fn a_withdrawn_batch_is_never_sent_and_a_bad_body_keeps_the_queue() {
    let reg = PollingInjects::default();
    let (batch, _rx) = reg.queue_to_client("s", vec![msg("x")]).unwrap();
    let a = reg.apply("s", V4, S2C, None, b"", 1);
    assert!(a.body.is_none());
    assert_eq!(a.events.len(), 1, "an anomaly says why");
    assert!(reg.wants(Some("s"), S2C), "still queued");
    assert!(reg.withdraw("s", batch));
    assert!(!reg.any());
    let _ack = reg.expect_ack("s", C2S, "/", 1).unwrap();
    reg.forget_ack("s", "/", 1);
    assert!(!reg.any());
}

#[tokio::test]
async fn posts_of_one_sid_take_turns() {
    let reg = Arc::new(PollingInjects::default());
    let first = reg.post_turn("s").await;
    let r2 = reg.clone();
    let second = tokio::spawn(async move {
        let _t = r2.post_turn("s").await;
    });
    // Another sid does not wait.
    let _other = reg.post_turn("t").await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!second.is_finished(), "the second POST waits for the first");
    drop(first);
    tokio::time::timeout(std::time::Duration::from_secs(5), second)
        .await
        .unwrap()
        .unwrap();
    drop(_other);
    assert!(reg.posts.lock().unwrap().is_empty(), "turns are forgotten");
}
