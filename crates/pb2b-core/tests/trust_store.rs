//! Corporate networks (issue 14, item 10): TLS trusts the operating system's trust store, so a
//! root CA that IT installs (a TLS-inspecting proxy's) is trusted, and a certificate the OS does
//! not trust is refused. A real TLS server on 127.0.0.1 with a certificate from a test root CA
//! (`fixtures/tls`, made for these tests only); `SSL_CERT_FILE` stands for "the OS store with
//! that CA installed", as the OS store reader (rustls-native-certs) honours it on every platform.
//!
//! One test in its own binary: `SSL_CERT_FILE` is process-wide and read when a client is built.

use std::path::PathBuf;
use std::sync::Arc;

use pb2b_core::api::{Client, ClientConfig, NoopObserver};
use pb2b_core::secret::SecretString;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// An HTTPS server on 127.0.0.1 answering every request with `200 ok`.
async fn start_tls_server() -> u16 {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn client(port: u16) -> Client {
    Client::new(
        ClientConfig::new(format!("https://127.0.0.1:{port}/api/public/v1")),
        SecretString::new("pb2b_test_ab12cd_secret".to_owned()),
        Arc::new(NoopObserver),
    )
    .unwrap()
}

#[tokio::test]
async fn tls_trusts_the_os_trust_store_and_nothing_else() {
    let port = start_tls_server().await;
    let url = format!("https://127.0.0.1:{port}/files/report.csv");

    // The test CA is not in this machine's store: refused, as a TLS failure.
    std::env::remove_var("SSL_CERT_DIR");
    std::env::remove_var("SSL_CERT_FILE");
    let mut out = Vec::new();
    let err = client(port)
        .download_file(&url, &mut out, |_, _| {})
        .await
        .expect_err("a certificate the OS does not trust is refused");
    assert_eq!(err.code, "tls_error", "{err:?}");

    // The same CA installed in the store the OS reader uses: trusted.
    std::env::set_var("SSL_CERT_FILE", fixture("ca.pem"));
    let mut out = Vec::new();
    let written = client(port)
        .download_file(&url, &mut out, |_, _| {})
        .await
        .expect("the OS store's CA is trusted");
    assert_eq!((written, out.as_slice()), (2, b"ok".as_slice()));
}
