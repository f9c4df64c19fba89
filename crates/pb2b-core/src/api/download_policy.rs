//! Where an export file may be downloaded from: the one check of a server-given `download_url`,
//! made before anything is sent to it (issue 14, item 1).
//!
//! The probe's `download_url` is signed by the server, so a compromised or impostor server (or a
//! proxy rewriting answers) chooses it. Fetched as is, it could send the app to any host over
//! plain http (lead data readable and alterable on the way, the file replaced by anything), or
//! to a service on this computer or the local network. So:
//!
//! | base URL of the profile         | download_url accepted                                 |
//! |---------------------------------|-------------------------------------------------------|
//! | `https://host[:port]/…`         | `https://` on the same host and port                  |
//! | `http://<loopback>[:port]/…`    | `http://` or `https://` on the same host and port      |
//! | anything else                   | nothing                                               |
//!
//! Also refused: a link that is not an absolute URL, and one carrying a user name or password.
//! A refusal is the error `unsafe_download` (not retryable: asking again gives the same link),
//! naming the host the link pointed to and never the link itself (it is signed, a secret).

use url::Url;

use super::{ApiError, ApiErrorKind};
use crate::webhooks::is_loopback;

/// The error code of a refused download link.
pub const UNSAFE_DOWNLOAD: &str = "unsafe_download";

/// `scheme://host[:port]` of a URL: what a message may show of a signed link.
fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("(no host)");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Checks a server-given download link against the API's base URL (the table above). Returns the
/// parsed URL to fetch, or the `unsafe_download` error; nothing is sent either way.
pub fn check_download_url(base: &Url, link: &str) -> Result<Url, ApiError> {
    let refuse = |what: String| {
        let mut e = ApiError::local(
            ApiErrorKind::UnsafeDownload,
            UNSAFE_DOWNLOAD,
            format!(
                "{what} Files are only downloaded over https from the API's own host ({}); \
                 nothing was downloaded. Check the profile's base URL (a proxy or another \
                 server may be answering for the API), and report this to ProspectB2B support \
                 if the base URL is right.",
                origin(base)
            ),
        );
        e.retryable = false;
        e
    };
    let Ok(url) = Url::parse(link.trim()) else {
        return Err(refuse(
            "The server's download link is not a valid URL.".into(),
        ));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(format!(
            "The server's download link to {} carries a user name or password.",
            origin(&url)
        )));
    }
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => base.scheme() == "http" && is_loopback(base) && is_loopback(&url),
        _ => false,
    };
    let base_ok = match base.scheme() {
        "https" => true,
        "http" => is_loopback(base),
        _ => false,
    };
    let same_place = url.host() == base.host()
        && url.host().is_some()
        && url.port_or_known_default() == base.port_or_known_default();
    if !(scheme_ok && base_ok && same_place) {
        return Err(refuse(format!(
            "The server's download link points to {}.",
            origin(&url)
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(base: &str, link: &str) -> Result<Url, ApiError> {
        check_download_url(&Url::parse(base).unwrap(), link)
    }

    #[test]
    fn links_on_the_apis_own_host_over_https_are_accepted() {
        let base = "https://api.prospectb2b.example/api/public/v1";
        for link in [
            "https://api.prospectb2b.example/files/exports/exp_1?expires=1&signature=ab",
            "https://API.prospectb2b.example:443/files/exports/exp_1",
        ] {
            assert!(check(base, link).is_ok(), "{link}");
        }
        // The sandbox: http on its own loopback address and port.
        let sandbox = "http://127.0.0.1:4010/api/public/v1";
        assert!(check(sandbox, "http://127.0.0.1:4010/files/exports/exp_1?s=1").is_ok());
        assert!(check("http://localhost:4010/", "http://localhost:4010/f").is_ok());
    }

    #[test]
    fn other_hosts_ports_schemes_and_credentials_are_refused() {
        let base = "https://api.prospectb2b.example/api/public/v1";
        let sandbox = "http://127.0.0.1:4010/api/public/v1";
        for (base, link) in [
            // Plain http from an https API.
            (base, "http://api.prospectb2b.example/files/exports/exp_1"),
            // Another host, a look-alike, a loopback or private address.
            (base, "https://evil.example/files/exports/exp_1"),
            (base, "https://api.prospectb2b.example.evil.example/f"),
            (base, "https://127.0.0.1/f"),
            (base, "https://10.0.0.1/f"),
            // Another port on the same host.
            (base, "https://api.prospectb2b.example:8443/f"),
            // Credentials, other schemes, relative or broken links.
            (base, "https://user:pw@api.prospectb2b.example/f"),
            (base, "file:///etc/passwd"),
            (base, "ftp://api.prospectb2b.example/f"),
            (base, "/files/exports/exp_1"),
            (base, ""),
            // The sandbox: another loopback port or address, or a host off this computer.
            (sandbox, "http://127.0.0.1:4011/files/exports/exp_1"),
            (sandbox, "http://127.0.0.2:4010/f"),
            (sandbox, "http://localhost:4010/f"),
            (sandbox, "http://192.168.1.10:4010/f"),
            (sandbox, "https://evil.example/f"),
            // An http base off loopback is never a download source.
            (
                "http://api.prospectb2b.example/",
                "http://api.prospectb2b.example/f",
            ),
        ] {
            let err = check(base, link).expect_err(link);
            assert_eq!(err.code, UNSAFE_DOWNLOAD, "{link}");
            assert!(!err.retryable);
            assert!(
                err.message.contains("nothing was downloaded"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn the_message_names_the_host_never_the_signed_link() {
        let err = check(
            "https://api.prospectb2b.example/",
            "http://evil.example:8080/files/exports/exp_1?expires=99&signature=deadbeef",
        )
        .unwrap_err();
        assert!(
            err.message.contains("http://evil.example:8080"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("https://api.prospectb2b.example"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("deadbeef") && !err.message.contains("expires"));
        // The message tells what to do.
        assert!(err.message.contains("Check the profile's base URL"));
        // It crosses IPC with its own code.
        let report = crate::error::ErrorReport::from(err);
        assert_eq!(report.code, crate::error::Code::UnsafeDownload);
    }
}
