//! Alice's own web page (`GET /` and `GET /assets/{file}`): a chat for every user and a live
//! dashboard for admins. The files in `crates/alice-server/web/` are compiled into the binary,
//! so running Alice needs no web server, Node or build step; the page is plain HTML, CSS and
//! JavaScript modules.
//!
//! Every file is sent with a Content-Security-Policy that allows scripts, styles and requests
//! from Alice herself only: whatever a model's answer holds, no inline script, event handler
//! or outside resource in it can run or load, on top of the server-side sanitising of
//! answers ([`crate::api::render`]).

use crate::error::ApiError;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// What a browser may load and run on the page: Alice's own files, nothing inline, nothing
/// from elsewhere, and never inside another site's frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// One file of the page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// An [`Asset`] from `crates/alice-server/web/NAME`.
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../web/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

/// The files under `/assets/`.
const ASSETS: &[Asset] = &[
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("chat.js", JS),
    asset!("dashboard.js", JS),
    asset!("i18n.js", JS),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// A strong ETag per file (its SHA-256, shortened), so a browser revalidates cheaply with
/// `If-None-Match` and never runs an old script after an upgrade.
static ETAGS: LazyLock<Vec<(&'static str, HeaderValue)>> = LazyLock::new(|| {
    std::iter::once(&INDEX)
        .chain(ASSETS)
        .map(|asset| {
            let digest = Sha256::digest(asset.body);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            let tag = HeaderValue::from_str(&format!("\"{hex}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
            (asset.name, tag)
        })
        .collect()
});

/// `GET /`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

/// `GET /assets/{file}`: a script, the style sheet or the icon.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => serve(asset, &headers),
        None => ApiError::RouteNotFound {
            method: "GET".to_owned(),
            path: format!("/assets/{file}"),
        }
        .into_response(),
    }
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = ETAGS
        .iter()
        .find(|(name, _)| *name == asset.name)
        .map(|(_, tag)| tag.clone());
    let unchanged = etag.as_ref().is_some_and(|tag| {
        request
            .get(header::IF_NONE_MATCH)
            .is_some_and(|presented| presented == tag)
    });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let headers = response.headers_mut();
    if let Some(tag) = etag {
        headers.insert(header::ETAG, tag);
    }
    // Revalidate every time: the ETag makes that a 304 without a body.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_served() {
        let sources = std::iter::once(&INDEX).chain(ASSETS);
        for asset in sources {
            let text = std::str::from_utf8(asset.body).unwrap();
            for piece in text.split("from \"./").skip(1) {
                let name = piece.split('"').next().unwrap();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{} imports {name}, which /assets/ does not serve",
                    asset.name
                );
            }
            for piece in text.split("\"/assets/").skip(1) {
                let name = piece.split('"').next().unwrap();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{} links /assets/{name}, which is not served",
                    asset.name
                );
            }
        }
    }
}
