//! Corporate networks (issue 14, item 10): the client goes through the proxy the environment
//! names, never for loopback, not for a `NO_PROXY` host; Diagnostics names the proxy without its
//! password. A real forward/CONNECT proxy on 127.0.0.1 (a few lines of tokio below) relays to the
//! real sandbox on 127.0.0.1.
//!
//! One test in its own binary: the proxy variables are process-wide, and reqwest reads them when a
//! client is built. The destination that is not loopback by the rules is `0.0.0.0`, which Linux
//! connects to the local host: everything stays on this machine. The sandbox answers only
//! requests addressed to its own address (issue 14, item 4), so a request for `0.0.0.0:PORT`
//! that reaches it gets its 403 naming that Host: proof that it arrived, by whichever path.
#![cfg(target_os = "linux")]

mod common;

use std::sync::{Arc, Mutex};

use pb2b_core::api::network;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy saw: the request target of each connection and its Proxy-Authorization.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    target: String,
    proxy_authorization: Option<String>,
}

/// A forward proxy (absolute-form requests) and a CONNECT tunnel, one connection at a time per
/// task, relaying bytes both ways after the first request head.
async fn start_proxy() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let mut lines = text.split("\r\n");
                let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
                let (method, target) = (first[0].to_owned(), first[1].to_owned());
                let mut auth = None;
                let mut rest = String::new();
                for line in lines.filter(|l| !l.is_empty()) {
                    match line.split_once(':') {
                        Some((n, v)) if n.eq_ignore_ascii_case("proxy-authorization") => {
                            auth = Some(v.trim().to_owned())
                        }
                        _ => rest.push_str(&format!("{line}\r\n")),
                    }
                }
                log.lock().unwrap().push(Seen {
                    method: method.clone(),
                    target: target.clone(),
                    proxy_authorization: auth,
                });
                if method == "CONNECT" {
                    let Ok(mut upstream) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let _ = client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                } else {
                    let url = url::Url::parse(&target).unwrap();
                    let host = format!(
                        "{}:{}",
                        url.host_str().unwrap(),
                        url.port_or_known_default().unwrap()
                    );
                    let mut upstream = TcpStream::connect(host).await.unwrap();
                    let origin_form = &url[url::Position::BeforePath..];
                    let forwarded = format!("{method} {origin_form} HTTP/1.1\r\n{rest}\r\n");
                    upstream.write_all(forwarded.as_bytes()).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (format!("127.0.0.1:{}", addr.port()), seen)
}

fn set_proxy_env(proxy: &str, no_proxy: Option<&str>) {
    for v in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        std::env::remove_var(v);
    }
    std::env::set_var("HTTP_PROXY", format!("http://alice:s3cret@{proxy}"));
    std::env::set_var("HTTPS_PROXY", format!("http://alice:s3cret@{proxy}"));
    if let Some(list) = no_proxy {
        std::env::set_var("NO_PROXY", list);
    }
}

#[tokio::test]
async fn the_environment_proxy_is_used_except_for_loopback_and_no_proxy_hosts() {
    let sb = common::sandbox().await;
    let (proxy, seen) = start_proxy().await;
    let not_loopback = sb.base_url.replace("127.0.0.1", "0.0.0.0");
    let port = url::Url::parse(&sb.base_url).unwrap().port().unwrap();
    set_proxy_env(&proxy, None);

    // A host that is not loopback goes through the proxy, with the proxy's credentials.
    let (c, _) = common::client_with(common::config(&not_loopback), &sb.keys.full);
    let arrived = c
        .me()
        .await
        .expect_err("the sandbox refuses a foreign Host");
    assert_eq!(arrived.code, "forbidden", "{arrived:?}");
    assert!(arrived.message.contains("0.0.0.0"), "{arrived:?}");
    let through: Vec<Seen> = seen.lock().unwrap().clone();
    assert_eq!(through.len(), 1, "{through:?}");
    assert_eq!(through[0].method, "GET");
    assert_eq!(
        through[0].target,
        format!("http://0.0.0.0:{port}/api/public/v1/me")
    );
    // base64("alice:s3cret")
    assert_eq!(
        through[0].proxy_authorization.as_deref(),
        Some("Basic YWxpY2U6czNjcmV0")
    );

    // Diagnostics names that proxy, where it came from, and not its password.
    let keychain = pb2b_core::secret::OsKeychain::new("dev.prospectb2b.proxy-test");
    let report = pb2b_core::diagnostics::collect(
        "test",
        std::path::Path::new("."),
        &not_loopback,
        &keychain,
    );
    assert_eq!(
        report.proxy,
        format!("http://{proxy} (with a user name and password, not shown), from the HTTP_PROXY environment variable")
    );
    assert!(!report.proxy.contains("s3cret") && !report.proxy.contains("alice"));
    assert!(
        report.trust_store.contains("operating system"),
        "{}",
        report.trust_store
    );

    // https goes through HTTPS_PROXY as a CONNECT tunnel (the sandbox speaks plain HTTP, so the
    // TLS handshake inside the tunnel fails; the tunnel is what this checks).
    let https = not_loopback.replace("http://", "https://");
    let (c, _) = common::client_with(common::config(&https), &sb.keys.full);
    c.me().await.expect_err("no TLS on the sandbox");
    let connect = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(connect.method, "CONNECT");
    assert_eq!(connect.target, format!("0.0.0.0:{port}"));

    // Loopback (the local sandbox) never goes through the proxy, although one is set.
    let before = seen.lock().unwrap().len();
    let (c, _) = common::client(&sb, &sb.keys.full);
    c.me().await.expect("direct to the sandbox");
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "loopback went through the proxy"
    );
    let direct =
        pb2b_core::diagnostics::collect("test", std::path::Path::new("."), &sb.base_url, &keychain);
    assert!(
        direct
            .proxy
            .starts_with("none, direct connection (loopback"),
        "{}",
        direct.proxy
    );

    // A NO_PROXY host goes direct too.
    set_proxy_env(&proxy, Some("example.com, 0.0.0.0"));
    let (c, _) = common::client_with(common::config(&not_loopback), &sb.keys.full);
    let arrived = c
        .me()
        .await
        .expect_err("the sandbox refuses a foreign Host");
    assert_eq!(arrived.code, "forbidden", "{arrived:?}");
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "a NO_PROXY host went through the proxy"
    );
    assert!(network::describe(&not_loopback)
        .1
        .starts_with("none, direct connection"));
    sb.shutdown().await;
}
