//! HTTP component: the web dashboard. Its files are compiled in (see the
//! `ui-assets` crate); it needs no database, variables or outbound hosts.

use bytes::Bytes;
use http_body_util::Full;

#[spin_sdk::http_service]
async fn handle(req: spin_sdk::http::Request) -> impl spin_sdk::http::IntoResponse {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let response = ui_assets::serve(&method, &path).unwrap_or_else(|| ui_assets::not_served(&method, &path));
    response.map(|body| Full::new(Bytes::from(body)))
}
