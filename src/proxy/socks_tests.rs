//! Tests of the SOCKS5 parsers: every message split at every offset, and the error replies.

use super::*;

/// Parses `msg` fed in two pieces split at every offset: incomplete until the last byte, then
/// the same result; a trailing byte is left unused.
fn every_split<T: PartialEq + std::fmt::Debug>(
    msg: &[u8],
    parse: impl Fn(&[u8]) -> Result<Option<(T, usize)>, Malformed>,
) -> T {
    for cut in 0..msg.len() {
        assert_eq!(
            parse(&msg[..cut]).unwrap(),
            None,
            "complete at {cut} of {msg:?}"
        );
    }
    let (whole, used) = parse(msg).unwrap().unwrap();
    assert_eq!(used, msg.len());
    let mut more = msg.to_vec();
    more.push(0x16);
    let (again, used) = parse(&more).unwrap().unwrap();
    assert_eq!(used, msg.len());
    assert_eq!(again, whole);
    whole
}

#[test]
fn greeting() {
    assert_eq!(every_split(&[5, 2, 0, 2], parse_greeting), vec![0, 2]);
    assert_eq!(every_split(&[5, 0], parse_greeting), Vec::<u8>::new());
    let e = parse_greeting(&[4, 1, 0]).unwrap_err();
    assert!(e.message.contains("version 4"), "{e:?}");
}

#[test]
fn user_pass() {
    let msg = [&[1u8, 3][..], b"bob", &[4], b"s3cr"].concat();
    let got = every_split(&msg, |b| {
        parse_user_pass(b).map(|o| o.map(|(u, p, n)| ((u, p), n)))
    });
    assert_eq!(got, (b"bob".to_vec(), b"s3cr".to_vec()));
    let empty = every_split(&[1, 0, 0], |b| {
        parse_user_pass(b).map(|o| o.map(|(u, p, n)| ((u, p), n)))
    });
    assert_eq!(empty, (Vec::new(), Vec::new()));
    assert!(parse_user_pass(&[5, 0, 0]).is_err());
}

#[test]
fn requests_by_ipv4_ipv6_and_name() {
    let v4 = every_split(&[5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90], parse_request);
    assert_eq!(
        v4,
        Request {
            cmd: 1,
            host: Host::Ip("127.0.0.1".parse().unwrap()),
            port: 8080
        }
    );
    let mut v6 = vec![5, 1, 0, 4];
    v6.extend_from_slice(&"::1".parse::<Ipv6Addr>().unwrap().octets());
    v6.extend_from_slice(&[1, 187]);
    let got = every_split(&v6, parse_request);
    assert_eq!(got.host, Host::Ip("::1".parse().unwrap()));
    assert_eq!(got.port, 443);
    let name = [&[5u8, 2, 0, 3, 9][..], b"localhost", &[0, 80]].concat();
    let got = every_split(&name, parse_request);
    assert_eq!(
        got,
        Request {
            cmd: 2,
            host: Host::Name("localhost".into()),
            port: 80
        }
    );
}

#[test]
fn request_errors_carry_reply_codes() {
    let e = parse_request(&[5, 1, 0, 9, 0, 0]).unwrap_err();
    assert_eq!(e.reply, Some(reply::ADDRESS_TYPE_NOT_SUPPORTED));
    let e = parse_request(&[5, 1, 0, 3, 0, 0, 80]).unwrap_err();
    assert_eq!(e.reply, Some(reply::HOST_UNREACHABLE));
    let e = parse_request(&[4, 1]).unwrap_err();
    assert_eq!(e.reply, Some(reply::GENERAL_FAILURE));
}

#[test]
fn replies() {
    assert_eq!(
        reply_bytes(reply::SUCCEEDED, "127.0.0.1:8080".parse().unwrap()),
        vec![5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]
    );
    let v6 = reply_bytes(reply::CONNECTION_REFUSED, "[::1]:1".parse().unwrap());
    assert_eq!(&v6[..4], &[5, 5, 0, 4]);
    assert_eq!(v6.len(), 4 + 16 + 2);
    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    assert_eq!(dial_reply(&refused), reply::CONNECTION_REFUSED);
    let other = io::Error::other("weird");
    assert_eq!(dial_reply(&other), reply::GENERAL_FAILURE);
}

#[test]
fn credentials() {
    // `Basic base64("bob:s3cr")`, as the CLI stores `--auth bob:s3cr`.
    let expected = "Basic Ym9iOnMzY3I=";
    assert!(credentials_match(expected, b"bob", b"s3cr"));
    assert!(!credentials_match(expected, b"bob", b"s3cX"));
    assert!(!credentials_match(expected, b"bo", b"b:s3cr"));
    assert!(!credentials_match("Bearer x", b"bob", b"s3cr"));
}
