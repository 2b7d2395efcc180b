//! Plain HTTP for the web page: `GET /`, `/index.html`, `/app.js` and
//! `/style.css`, built into the binary from `web/`. The path is matched
//! against this fixed list and nothing else, so no request can name a file
//! on disk (no `..`, no path built from input). Other paths are the app's
//! to answer ([`crate::app::App::http_get`]: `/healthz`, `/metrics`); this
//! module writes every response, with the same headers.

use crate::outqueue::OutQueue;

/// The page's files: path, content type, bytes.
const FILES: [(&str, &str, &[u8]); 4] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../web/index.html"),
    ),
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_bytes!("../web/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/app.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_bytes!("../web/style.css"),
    ),
];

/// Looks up a page file by request path.
pub fn static_file(path: &str) -> Option<(&'static str, &'static [u8])> {
    FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, content_type, body)| (*content_type, *body))
}

/// The reason phrase of a status this server answers plain GETs with.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Queues a whole response (only its head for `HEAD`); returns `status`.
pub fn write_response(
    out: &mut OutQueue,
    status: u16,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> u16 {
    out.append(|buf| {
        buf.extend_from_slice(
            format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
                reason(status),
                body.len()
            )
            .as_bytes(),
        );
        if !head_only {
            buf.extend_from_slice(body);
        }
    });
    status
}

/// Queues the 404 for a path nobody serves.
pub fn write_not_found(out: &mut OutQueue, head_only: bool) -> u16 {
    write_response(
        out,
        404,
        "text/plain; charset=utf-8",
        b"not found\n",
        head_only,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_files_are_served() {
        assert!(static_file("/").is_some());
        assert_eq!(
            static_file("/app.js").unwrap().0,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            static_file("/style.css").unwrap().0,
            "text/css; charset=utf-8"
        );
        for bad in [
            "/../Cargo.toml",
            "/web/index.html",
            "/app.js/",
            "//app.js",
            "/etc/passwd",
        ] {
            assert!(static_file(bad).is_none(), "{bad}");
        }
    }
}
