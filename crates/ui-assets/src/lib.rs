//! The dashboard's static files, compiled in from `ui/dist`, and the one
//! function that answers a browser's request for them. The `ui` component
//! and the native live host both call [`serve`]; API paths are never
//! answered here, so they keep reaching the API.

use http::{HeaderValue, Method, Response, StatusCode, header};

mod files {
    include!(concat!(env!("OUT_DIR"), "/files.rs"));
}

/// Scripts, styles, images and API calls from this origin only; no inline
/// code, no framing, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Files whose names carry a content hash (Vite's `assets/` folder).
const HASHED_PREFIX: &str = "/assets/";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

const NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>PromptLedger: dashboard not built</title></head><body>\
<h1>Dashboard not built</h1>\
<p>This build of PromptLedger has no dashboard assets. Run <code>npm ci &amp;&amp; npm run build</code> \
in <code>ui/</code>, then rebuild the <code>ui</code> component. The API is unaffected.</p>\
</body></html>\n";

/// Whether the path belongs to the API (or the health check and the spec),
/// which the dashboard must never shadow.
pub fn is_api_path(path: &str) -> bool {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    under("/v1") || under("/api") || path == "/health" || path == "/openapi.json"
}

/// Whether the dashboard was built into this binary.
pub fn is_built() -> bool {
    !files::FILES.is_empty()
}

/// The answer for a dashboard request: a built file, `index.html` for any
/// client-side route (so deep links work), 404 for a missing hashed asset.
/// `None` for API paths and for methods other than GET and HEAD: the
/// caller answers those (the API, or a 405).
pub fn serve(method: &Method, path: &str) -> Option<Response<Vec<u8>>> {
    if is_api_path(path) || (method != Method::GET && method != Method::HEAD) {
        return None;
    }
    let response = match lookup(path) {
        Found::File(name, body) => file(name, body),
        Found::MissingAsset => plain(StatusCode::NOT_FOUND, "not found\n"),
        Found::NotBuilt => page(StatusCode::SERVICE_UNAVAILABLE, NOT_BUILT.as_bytes()),
    };
    if method == Method::HEAD {
        let length = response.body().len();
        let mut head = response.map(|_| Vec::new());
        head.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        return Some(head);
    }
    Some(response)
}

/// What the `ui` component answers when [`serve`] does not: 405 for other
/// methods, the API's JSON 404 shape for API paths that reached it anyway.
pub fn not_served(method: &Method, path: &str) -> Response<Vec<u8>> {
    if is_api_path(path) {
        let body = format!(r#"{{"error":{{"code":"not_found","message":"no route for {}"}}}}"#, path.escape_default());
        let mut response = Response::new(body.into_bytes());
        *response.status_mut() = StatusCode::NOT_FOUND;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return response;
    }
    let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, &format!("{method} is not allowed here\n"));
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

enum Found {
    File(&'static str, &'static [u8]),
    MissingAsset,
    NotBuilt,
}

fn lookup(path: &str) -> Found {
    let wanted = if path.is_empty() || path == "/" { "/index.html" } else { path };
    if let Some((name, body)) = files::FILES.iter().find(|(name, _)| *name == wanted) {
        return Found::File(name, body);
    }
    if wanted.starts_with(HASHED_PREFIX) {
        return Found::MissingAsset;
    }
    match files::FILES.iter().find(|(name, _)| *name == "/index.html") {
        Some((name, body)) => Found::File(name, body),
        None => Found::NotBuilt,
    }
}

fn file(name: &str, body: &'static [u8]) -> Response<Vec<u8>> {
    let mut response = with_security_headers(body.to_vec(), StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    let caching = if name.starts_with(HASHED_PREFIX) { IMMUTABLE } else { REVALIDATE };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(caching));
    response
}

fn page(status: StatusCode, body: &[u8]) -> Response<Vec<u8>> {
    let mut response = with_security_headers(body.to_vec(), status);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    response
}

fn plain(status: StatusCode, body: &str) -> Response<Vec<u8>> {
    let mut response = with_security_headers(body.as_bytes().to_vec(), status);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    response
}

fn with_security_headers(body: Vec<u8>, status: StatusCode) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The media type for a built file, by extension.
pub fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or_default();
    match extension.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_left_to_the_api() {
        for path in ["/v1", "/v1/prompts", "/v1/unknown/thing", "/health", "/openapi.json", "/api/v1/prompts/execute"] {
            assert!(serve(&Method::GET, path).is_none(), "{path}");
        }
        assert!(!is_api_path("/v1beta"));
        assert!(!is_api_path("/prompts/v1"));
    }

    #[test]
    fn only_reads_are_served() {
        assert!(serve(&Method::POST, "/").is_none());
        let refused = not_served(&Method::POST, "/prompts");
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(refused.headers()[header::ALLOW], "GET, HEAD");
        let api = not_served(&Method::GET, "/v1/nothing");
        assert_eq!(api.status(), StatusCode::NOT_FOUND);
        assert!(String::from_utf8(api.into_body()).unwrap().contains(r#""code":"not_found""#));
    }

    #[test]
    fn client_routes_fall_back_to_the_page_and_missing_assets_do_not() {
        let page = serve(&Method::GET, "/prompts/a.b-c").unwrap();
        assert!(page.status() == StatusCode::OK || page.status() == StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(page.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        assert!(page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'self'"));
        let missing = serve(&Method::GET, "/assets/none-1234.js").unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn head_has_headers_and_no_body() {
        let head = serve(&Method::HEAD, "/").unwrap();
        assert!(head.body().is_empty());
        let full = serve(&Method::GET, "/").unwrap();
        assert_eq!(head.headers()[header::CONTENT_LENGTH], full.body().len().to_string().as_str());
        assert!(head.headers().contains_key(header::CONTENT_TYPE));
    }

    #[test]
    fn built_files_carry_their_type_and_caching() {
        for (name, _) in files::FILES {
            let response = serve(&Method::GET, name).unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            let caching = response.headers()[header::CACHE_CONTROL].to_str().unwrap().to_owned();
            if name.starts_with("/assets/") {
                assert_eq!(caching, IMMUTABLE);
            } else {
                assert_eq!(caching, "no-cache");
            }
        }
        assert_eq!(content_type("/assets/index-abc.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/assets/index-abc.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("/favicon.svg"), "image/svg+xml");
    }

    #[test]
    fn without_a_build_the_page_says_how_to_build() {
        if !is_built() {
            let page = serve(&Method::GET, "/").unwrap();
            assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(String::from_utf8(page.into_body()).unwrap().contains("npm ci &amp;&amp; npm run build"));
        }
    }
}
