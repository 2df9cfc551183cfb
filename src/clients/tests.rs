//! Unit tests of the client helpers: finding the proxy, the variables, shell quoting, prefs.

use super::env::{Inputs, NAMES, node_options, node_quote, variables};
use super::shell::{Shell, render};
use super::*;
use crate::control::{ControlFile, write_control_file};

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "sockscope-clients-test-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn control(pid: u32, proxy: &str) -> ControlFile {
    ControlFile {
        addr: "127.0.0.1:1".into(),
        token: "t".into(),
        pid,
        proxy: proxy.into(),
    }
}

#[test]
fn the_running_proxy_is_found_through_control_json() {
    let home = temp("running");
    write_control_file(&home, &control(std::process::id(), "127.0.0.1:4567")).unwrap();
    let t = locate(&home, None).unwrap();
    assert_eq!(t.addr, "127.0.0.1:4567");
    assert_eq!(
        t.source,
        Source::Running {
            pid: std::process::id()
        }
    );
    assert!(
        t.describe(&home)
            .contains("running proxy at 127.0.0.1:4567")
    );
    // An unspecified listening address is dialled on loopback.
    write_control_file(&home, &control(std::process::id(), "0.0.0.0:9999")).unwrap();
    assert_eq!(locate(&home, None).unwrap().addr, "127.0.0.1:9999");
    write_control_file(&home, &control(std::process::id(), "[::]:9999")).unwrap();
    assert_eq!(locate(&home, None).unwrap().addr, "[::1]:9999");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_dead_proxy_or_no_file_gives_the_default_and_a_named_proxy_wins() {
    let home = temp("dead");
    let t = locate(&home, None).unwrap();
    assert_eq!(
        (t.addr.as_str(), &t.source),
        (DEFAULT_PROXY, &Source::Default)
    );
    // A pid that cannot exist (above the kernel's pid_max limit of 2^22).
    write_control_file(&home, &control(4_194_305, "127.0.0.1:4567")).unwrap();
    assert_eq!(locate(&home, None).unwrap().source, Source::Default);
    write_control_file(&home, &control(std::process::id(), "127.0.0.1:4567")).unwrap();
    let t = locate(&home, Some("127.0.0.1:9000")).unwrap();
    assert_eq!(
        (t.addr.as_str(), &t.source),
        ("127.0.0.1:9000", &Source::Named)
    );
    std::fs::write(home.join(CONTROL_FILE), "{not json").unwrap();
    assert_eq!(locate(&home, None).unwrap().source, Source::Default);
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn proxy_arguments() {
    assert_eq!(
        parse_proxy_arg("127.0.0.1:8080").unwrap(),
        ("127.0.0.1:8080".into(), None)
    );
    assert_eq!(
        parse_proxy_arg("http://u:p@localhost:3128/").unwrap(),
        ("localhost:3128".into(), Some("u:p".into()))
    );
    assert_eq!(parse_proxy_arg("[::1]:80").unwrap().0, "[::1]:80");
    for bad in [
        "localhost",
        "https://h:1",
        "h:1/x",
        "u@h:1",
        "::1:80",
        "h:99999",
    ] {
        assert!(parse_proxy_arg(bad).is_err(), "{bad} accepted");
    }
    let t = ProxyTarget {
        addr: "[::1]:81".into(),
        credentials: Some("a:b".into()),
        source: Source::Named,
    };
    assert_eq!(t.url(), "http://a:b@[::1]:81");
    assert_eq!(t.host_port(), ("::1".into(), 81));
}

fn inputs<'a>(node: Option<&'a str>) -> Inputs<'a> {
    Inputs {
        proxy_url: "http://127.0.0.1:8080",
        ca: Path::new("/h/ca.pem"),
        node_extra: Path::new("/h/ca.pem"),
        bundle: Path::new("/h/clients/ca-bundle.pem"),
        preload: Path::new("/h/clients/node-preload.js"),
        node_options: node,
        python_dir: Path::new("/h/clients/python"),
        python_path: Some("/a:/h/clients/python:/b"),
        proxy_host: "127.0.0.1",
        proxy_port: 8080,
        java_truststore: Some(Path::new("/h/clients/java-truststore.p12")),
        java_tool_options: None,
    }
}

#[test]
fn variables_cover_every_client_family() {
    let vars = variables(&inputs(None));
    let get = |n: &str| {
        vars.iter()
            .find(|v| v.name == n)
            .map(|v| v.value.as_str())
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    assert_eq!(
        vars.iter().map(|v| v.name).collect::<Vec<_>>(),
        NAMES.to_vec()
    );
    for n in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
        assert_eq!(get(n), "http://127.0.0.1:8080");
    }
    for n in ["WS_PROXY", "ws_proxy", "WSS_PROXY", "wss_proxy"] {
        assert_eq!(get(n), "http://127.0.0.1:8080");
    }
    assert_eq!((get("NO_PROXY"), get("no_proxy")), ("", ""));
    assert_eq!(get("PYTHONPATH"), "/h/clients/python:/a:/b");
    assert_eq!(
        get("JAVA_TOOL_OPTIONS"),
        "-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=8080 -Dhttps.proxyHost=127.0.0.1 \
         -Dhttps.proxyPort=8080 -Dhttp.nonProxyHosts= \
         -Djavax.net.ssl.trustStore=/h/clients/java-truststore.p12 \
         -Djavax.net.ssl.trustStorePassword=changeit -Djavax.net.ssl.trustStoreType=PKCS12"
    );
    assert_eq!(get("NODE_EXTRA_CA_CERTS"), "/h/ca.pem");
    assert_eq!(get("NODE_OPTIONS"), "--require /h/clients/node-preload.js");
    for n in [
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
    ] {
        assert_eq!(get(n), "/h/clients/ca-bundle.pem");
    }
}

#[test]
fn node_options_keep_what_was_there_once() {
    let p = Path::new("/h/clients/node-preload.js");
    assert_eq!(
        node_options(p, Some("--max-old-space-size=100")),
        "--require /h/clients/node-preload.js --max-old-space-size=100"
    );
    let once = node_options(p, Some("--inspect"));
    assert_eq!(node_options(p, Some(&once)), once);
    assert_eq!(node_quote("/a b/c\"d\\e"), r#""/a b/c\"d\\e""#);
    assert_eq!(
        node_options(Path::new("/my dir/p.js"), None),
        "--require \"/my dir/p.js\""
    );
}

#[test]
fn java_options_keep_the_users_and_do_not_pile_up() {
    let first = env::java_tool_options(&Inputs {
        java_tool_options: Some("-Xmx1g -Dhttp.proxyHost=old"),
        ..inputs(None)
    });
    assert!(first.ends_with(" -Xmx1g"), "{first}");
    assert!(!first.contains("old"), "{first}");
    let again = env::java_tool_options(&Inputs {
        java_tool_options: Some(&first),
        ..inputs(None)
    });
    assert_eq!(again, first);
    let spaced = env::java_tool_options(&Inputs {
        java_truststore: Some(Path::new("/my home/ts.p12")),
        ..inputs(None)
    });
    assert!(
        spaced.contains("\"-Djavax.net.ssl.trustStore=/my home/ts.p12\""),
        "{spaced}"
    );
    let again = env::java_tool_options(&Inputs {
        java_truststore: Some(Path::new("/my home/ts.p12")),
        java_tool_options: Some(&spaced),
        ..inputs(None)
    });
    assert_eq!(again, spaced);
}

#[test]
fn shell_output_quotes_and_undoes() {
    let vars = vec![env::Var {
        name: "HTTP_PROXY",
        value: "it's $HOME".into(),
    }];
    let prev = vec![("HTTP_PROXY", Some("old'v".to_owned())), ("NO_PROXY", None)];
    let sh = render(Shell::Posix, "http://x:1", &vars, &prev);
    assert!(sh.contains(r"export HTTP_PROXY='it'\''s $HOME'"), "{sh}");
    assert!(sh.contains(r"  export HTTP_PROXY='old'\''v'"), "{sh}");
    assert!(sh.contains("  unset NO_PROXY\n"), "{sh}");
    let fish = render(Shell::Fish, "http://x:1", &vars, &prev);
    assert!(fish.contains(r"set -gx HTTP_PROXY 'it\'s $HOME'"), "{fish}");
    assert!(fish.contains("  set -e NO_PROXY\n"), "{fish}");
    let ps = render(Shell::PowerShell, "http://x:1", &vars, &prev);
    assert!(ps.contains("$env:HTTP_PROXY = 'it''s $HOME'"), "{ps}");
    assert!(
        ps.contains("Remove-Item Env:NO_PROXY -ErrorAction SilentlyContinue"),
        "{ps}"
    );
}

/// The POSIX output, run by a real `sh`: the values arrive intact and the undo restores.
#[test]
fn posix_output_round_trips_through_sh() {
    let tricky = "a'b\"c $d `e` \\f\n g";
    let vars = vec![env::Var {
        name: "SOCKSCOPE_PROXY",
        value: tricky.into(),
    }];
    let prev = vec![("SOCKSCOPE_PROXY", Some("before".to_owned()))];
    let script = format!(
        "{}\nprintf '%s|' \"$SOCKSCOPE_PROXY\"\nsockscope_env_off\nprintf '%s' \"$SOCKSCOPE_PROXY\"\n",
        render(Shell::Posix, "http://x:1", &vars, &prev)
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{tricky}|before")
    );
}

#[test]
fn bundle_has_system_roots_then_our_ca() {
    let b = files::bundle_text(Some("SYS"), "CA\n");
    assert_eq!(b, "SYS\n# sockscope CA\nCA\n");
    assert_eq!(files::bundle_text(None, "CA"), "# sockscope CA\nCA\n");
}

#[test]
fn files_are_written_once_and_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = temp("files");
    let p = files::node_preload(&home).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), files::NODE_PRELOAD);
    let mode = std::fs::metadata(p.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let (b, _) = files::ca_bundle(&home, "-----BEGIN CERTIFICATE-----\nX\n").unwrap();
    assert!(
        std::fs::read_to_string(&b)
            .unwrap()
            .ends_with("# sockscope CA\n-----BEGIN CERTIFICATE-----\nX\n")
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn firefox_prefs_proxy_everything_including_localhost() {
    let js = launch::firefox::user_js("127.0.0.1", 8123);
    for line in [
        r#"user_pref("network.proxy.type", 1);"#,
        r#"user_pref("network.proxy.http", "127.0.0.1");"#,
        r#"user_pref("network.proxy.ssl_port", 8123);"#,
        r#"user_pref("network.proxy.no_proxies_on", "");"#,
        r#"user_pref("network.proxy.allow_hijacking_localhost", true);"#,
    ] {
        assert!(js.contains(line), "{line} missing from:\n{js}");
    }
}
