//! Tests of the send dialog's request and answer words.

use super::*;

#[test]
fn the_input_makes_the_api_body_or_says_why_not() {
    let mut st = SendState {
        target: Some(SendTarget::Conn(4)),
        to_client: true,
        mode: WsMode::Hex,
        hex: "01 02 ff".into(),
        ..SendState::default()
    };
    let b = st.body().unwrap();
    assert_eq!((b.conn, b.to.as_str()), (Some(4), "client"));
    assert_eq!(b.base64.as_deref(), Some("AQL/"));
    st.hex = "01 0".into();
    assert!(st.body().unwrap_err().contains("odd"));
    st.mode = WsMode::File;
    st.file = "/nonexistent/sockscope/frame.bin".into();
    assert!(st.body().unwrap_err().contains("not a readable file"));

    st.target = Some(SendTarget::Session("s1".into()));
    st.to_client = false;
    st.joined = vec!["/".into(), "/chat".into()];
    st.nsp = "/admin".into();
    st.event = "news".into();
    st.args = "[1]".into();
    assert!(st.body().unwrap_err().contains("/admin is not joined"));
    st.nsp = "/chat".into();
    st.args = "[1,".into();
    assert!(st.body().unwrap_err().starts_with("line 1"));
    st.args = "[1, {\"$binary\": \"AQID\"}]".into();
    let b = st.body().unwrap();
    assert_eq!(b.session.as_deref(), Some("s1"));
    assert_eq!((b.to.as_str(), b.nsp.as_deref()), ("server", Some("/chat")));
    assert_eq!(b.args, Some(serde_json::json!([1, {"$binary": "AQID"}])));
    st.joined.clear();
    assert!(st.body().unwrap_err().contains("joined no namespace"));
}

#[test]
fn answers_in_words() {
    let v = serde_json::json!({"injected": true, "ack": [1], "latency_ms": 4.25});
    assert_eq!(answer_words(&v), "ack [1] after 4.2 ms");
    assert_eq!(answer_words(&serde_json::json!({"injected": true})), "sent");
}
