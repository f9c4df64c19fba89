//! How the client reaches the API from a corporate network: which certificates it trusts and
//! which proxy a request goes through. The client ([`Http`]) and the Diagnostics line
//! ([`describe`]) both read these rules, so what Diagnostics says is what the client does.
//!
//! Trust: TLS is rustls with the **operating system's trust store** (`rustls-native-certs`): the
//! keychain on macOS, the certificate store on Windows, the distribution's CA bundle on Linux
//! (`SSL_CERT_FILE` / `SSL_CERT_DIR` override it). A root CA that IT installs for a TLS-inspecting
//! proxy is trusted like any other; nothing is trusted that the OS does not trust.
//!
//! Proxy, per request, first rule that matches:
//!
//! | destination | route |
//! |-------------|-------|
//! | a loopback host (`127.0.0.0/8`, `::1`, `localhost`: the local sandbox, the test receiver) | direct, always: a proxy cannot reach this computer's loopback, and a sandbox key must never leave it |
//! | a host in `NO_PROXY` / `no_proxy` (names match subdomains, IPs and CIDR ranges, `*` = all) | direct |
//! | `https://…` | `HTTPS_PROXY` / `https_proxy`, else `ALL_PROXY` / `all_proxy` |
//! | `http://…` | `HTTP_PROXY` / `http_proxy`, else `ALL_PROXY` / `all_proxy` |
//! | none of those variables set | the OS proxy settings on macOS (System Settings → Network → Proxies) and Windows (Internet Options); direct on Linux, where desktop proxy settings reach programs as these variables |
//!
//! A proxy URL may carry `user:password@`; the password is sent to the proxy only (Basic auth)
//! and never shown: [`describe`] names the proxy with its credentials redacted. The variables
//! are read when a client is built (a workspace is opened), as reqwest (`hyper-util`'s matcher)
//! reads them; [`describe`] asks the same matcher.

use hyper_util::client::proxy::matcher::Matcher;
use serde::Serialize;
use url::Url;

use crate::webhooks::is_loopback;

/// The trust store line of the Diagnostics screen.
pub const TRUST_STORE: &str = "The operating system's trust store (rustls with native roots)";

/// The variables that name a proxy, in the order they are looked at.
const PROXY_VARIABLES: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Where requests to one URL go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProxyRoute {
    /// Straight to the host; `reason` says why (loopback, `NO_PROXY`, no proxy configured).
    Direct { reason: String },
    /// Through a proxy: its URL without credentials, whether it has some, and where the setting
    /// came from (`HTTPS_PROXY`, ... or the system settings).
    Proxy {
        proxy: String,
        with_credentials: bool,
        source: String,
    },
}

impl std::fmt::Display for ProxyRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyRoute::Direct { reason } => write!(f, "none, direct connection ({reason})"),
            ProxyRoute::Proxy {
                proxy,
                with_credentials,
                source,
            } => {
                write!(f, "{proxy}")?;
                if *with_credentials {
                    write!(f, " (with a user name and password, not shown)")?;
                }
                write!(f, ", from {source}")
            }
        }
    }
}

/// The two clients behind [`super::Client`]: `direct` for loopback hosts (never a proxy), and
/// `proxied` with reqwest's environment and system proxy settings for everything else.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    direct: reqwest::Client,
    proxied: reqwest::Client,
}

impl Http {
    /// Builds both from the same settings (`configure` sets timeouts, user agent, redirects).
    pub(crate) fn new(
        configure: impl Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Result<Self, reqwest::Error> {
        let base = || configure(reqwest::Client::builder().use_rustls_tls());
        Ok(Http {
            direct: base().no_proxy().build()?,
            proxied: base().build()?,
        })
    }

    /// The client for a request to `url`: loopback goes direct, whatever the proxy settings.
    pub(crate) fn client_for(&self, url: &Url) -> &reqwest::Client {
        if is_loopback(url) {
            &self.direct
        } else {
            &self.proxied
        }
    }
}

/// Where a request to `url` goes, by the rules above, as the client decides it now.
pub fn route(url: &Url) -> ProxyRoute {
    if is_loopback(url) {
        return ProxyRoute::Direct {
            reason: "loopback address, never through a proxy".into(),
        };
    }
    let set: Vec<&str> = PROXY_VARIABLES
        .iter()
        .copied()
        .filter(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
        .collect();
    let Ok(uri) = url.as_str().parse::<http::Uri>() else {
        return ProxyRoute::Direct {
            reason: "not a URL a proxy applies to".into(),
        };
    };
    match Matcher::from_system().intercept(&uri) {
        Some(proxy) => {
            let scheme_vars: &[&str] = if url.scheme() == "https" {
                &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
            } else {
                &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
            };
            let source = scheme_vars
                .iter()
                .find(|v| set.contains(v))
                .map(|v| format!("the {v} environment variable"))
                .unwrap_or_else(|| "the system proxy settings".into());
            let shown = proxy.uri().to_string();
            ProxyRoute::Proxy {
                proxy: shown.strip_suffix('/').unwrap_or(&shown).to_owned(),
                with_credentials: proxy.basic_auth().is_some() || proxy.raw_auth().is_some(),
                source,
            }
        }
        None => ProxyRoute::Direct {
            reason: if set.iter().any(|v| v.eq_ignore_ascii_case("no_proxy")) {
                "no proxy for this host (NO_PROXY) or none configured".into()
            } else if set.is_empty() {
                "no proxy configured".into()
            } else {
                format!("no proxy configured for {} URLs", url.scheme())
            },
        },
    }
}

/// The Diagnostics lines for requests to `base_url`: the trust store and the proxy route.
pub fn describe(base_url: &str) -> (String, String) {
    let proxy = match Url::parse(base_url.trim()) {
        Ok(url) => route(&url).to_string(),
        Err(_) => "unknown (the base URL is not a valid URL)".into(),
    };
    (TRUST_STORE.to_owned(), proxy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_never_shows_proxy_credentials() {
        let route = ProxyRoute::Proxy {
            proxy: "http://proxy.corp:3128".into(),
            with_credentials: true,
            source: "the HTTPS_PROXY environment variable".into(),
        };
        assert_eq!(
            route.to_string(),
            "http://proxy.corp:3128 (with a user name and password, not shown), from the HTTPS_PROXY environment variable"
        );
    }

    #[test]
    fn loopback_is_direct_whatever_the_settings() {
        for url in [
            "http://127.0.0.1:8080/api",
            "http://127.0.0.2/",
            "http://[::1]:3000/",
            "http://localhost/",
        ] {
            assert!(
                matches!(route(&Url::parse(url).unwrap()), ProxyRoute::Direct { .. }),
                "{url}"
            );
        }
    }
}
