//! The route table: every operation the API serves, as a method, a path
//! template and the query parameters it reads. The router admits a request
//! only when it fits a row here, so the table is the served surface: a
//! handler left out of it cannot be reached, and a query parameter left out
//! of it is refused. `openapi.json` describes exactly these rows; the drift
//! test in the scenarios crate compares the two both ways.
//!
//! Templates are written as in the spec: `{name}` is a whole path segment,
//! `{name}:action` a segment ending in `:action` (custom methods, AIP-136).

use super::request::ApiRequest;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key needed.
    Public,
    /// An API key (`X-API-Key` or `Authorization: Bearer`) of some scope.
    Key,
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub query: &'static [&'static str],
    pub access: Access,
}

const fn public(method: &'static str, path: &'static str) -> Route {
    Route { method, path, query: &[], access: Access::Public }
}

const fn keyed(method: &'static str, path: &'static str, query: &'static [&'static str]) -> Route {
    Route { method, path, query, access: Access::Key }
}

const PAGE: &[&str] = &["limit", "cursor"];
const WINDOW: &[&str] = &["since", "until"];

pub const ROUTES: &[Route] = &[
    public("GET", "/health"),
    public("HEAD", "/health"),
    public("GET", "/openapi.json"),
    keyed("POST", "/api/v1/prompts/execute", &[]),
    // API keys
    keyed("GET", "/v1/api-keys", &["include_revoked"]),
    keyed("POST", "/v1/api-keys", &[]),
    keyed("GET", "/v1/api-keys/{id}", &[]),
    keyed("PATCH", "/v1/api-keys/{id}", &[]),
    keyed("DELETE", "/v1/api-keys/{id}", &[]),
    // Prompts, versions, labels
    keyed("GET", "/v1/prompts", &["limit", "cursor", "mode", "prefix", "owner_team", "include_archived"]),
    keyed("POST", "/v1/prompts", &[]),
    keyed("POST", "/v1/prompts:register", &[]),
    keyed("GET", "/v1/prompts/{name}", &[]),
    keyed("PATCH", "/v1/prompts/{name}", &[]),
    keyed("POST", "/v1/prompts/{name}:archive", &[]),
    keyed("POST", "/v1/prompts/{name}:unarchive", &[]),
    keyed("POST", "/v1/prompts/{name}:render", &[]),
    keyed("GET", "/v1/prompts/{name}/versions", PAGE),
    keyed("POST", "/v1/prompts/{name}/versions", &[]),
    keyed("GET", "/v1/prompts/{name}/versions/{version}", &[]),
    keyed("POST", "/v1/prompts/{name}/versions/{version}:activate", &[]),
    keyed("GET", "/v1/prompts/{name}/labels", &[]),
    keyed("GET", "/v1/prompts/{name}/labels/{label}", &[]),
    keyed("PUT", "/v1/prompts/{name}/labels/{label}", &[]),
    keyed("DELETE", "/v1/prompts/{name}/labels/{label}", &[]),
    keyed("GET", "/v1/prompts/{name}/diff", &["from", "to"]),
    // Executions
    keyed("POST", "/v1/executions:run", &[]),
    keyed(
        "GET",
        "/v1/executions",
        &[
            "limit",
            "cursor",
            "status",
            "prompt",
            "prompt_name",
            "version",
            "provider",
            "model",
            "model_name",
            "correlation_id",
            "since",
            "until",
        ],
    ),
    keyed("GET", "/v1/executions/{id}", &[]),
    keyed("POST", "/v1/executions/{id}:cancel", &[]),
    // Models and prices
    keyed("GET", "/v1/models", &[]),
    keyed("GET", "/v1/models/{provider}/{model_name}", &[]),
    keyed("PUT", "/v1/models/{provider}/{model_name}", &[]),
    // Traces and spans
    keyed("GET", "/v1/traces", &["limit", "cursor", "service", "status", "has_error", "since", "until"]),
    keyed("POST", "/v1/traces", &["atomic"]),
    keyed("POST", "/v1/spans", &["atomic"]),
    keyed("GET", "/v1/traces/{trace_id}", &[]),
    // Analytics
    keyed("GET", "/v1/analytics/summary", WINDOW),
    keyed("GET", "/v1/analytics/prompts/{name}", &["since", "until", "bucket"]),
    // Gateway: the vendors' request and response shapes
    keyed("POST", "/v1/chat/completions", &[]),
    keyed("POST", "/v1/messages", &[]),
    // Operations
    keyed("POST", "/v1/internal/beat", &[]),
];

/// How well one template segment fits one request segment: `None` when it
/// does not, else the number of literal bytes it matched (more is a closer fit).
fn segment_fit(template: &str, segment: &str) -> Option<usize> {
    match template.strip_prefix('{').and_then(|t| t.split_once('}')) {
        None => (template == segment).then_some(template.len()),
        Some((_, "")) => Some(0),
        Some((_, suffix)) => segment.ends_with(suffix).then_some(suffix.len()),
    }
}

/// How well `template` fits `path` (trailing `/` ignored), or `None`.
fn path_fit(template: &str, path: &str) -> Option<usize> {
    let wanted: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let given: Vec<&str> = path.trim_end_matches('/').trim_start_matches('/').split('/').collect();
    if wanted.len() != given.len() {
        return None;
    }
    wanted.iter().zip(&given).map(|(t, s)| segment_fit(t, s)).sum()
}

/// Whether some template has a `{..}:action` segment at `index`, after the
/// same segments as `template`: there a bare parameter takes no `:` (an
/// unknown action is no route), elsewhere it may (`llama3:8b`).
fn has_actions_at<'a>(templates: impl Iterator<Item = &'a str>, template: &str, index: usize) -> bool {
    let prefix: Vec<&str> = template.split('/').take(index).collect();
    templates.into_iter().any(|other| {
        let segments: Vec<&str> = other.split('/').collect();
        segments.len() > index
            && segments[..index] == prefix[..]
            && segments[index].starts_with('{')
            && segments[index].contains("}:")
    })
}

/// The template among `templates` that fits `path` most closely.
pub fn closest<'a, I>(templates: I, path: &str) -> Option<&'a str>
where
    I: Iterator<Item = &'a str> + Clone,
{
    let given: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    templates
        .clone()
        .filter(|template| {
            template.split('/').enumerate().all(|(i, segment)| {
                let bare = segment.starts_with('{') && segment.ends_with('}');
                !(bare
                    && given.get(i).is_some_and(|s| s.contains(':'))
                    && has_actions_at(templates.clone(), template, i))
            })
        })
        .filter_map(|template| path_fit(template, path).map(|fit| (fit, template)))
        .max_by_key(|(fit, _)| *fit)
        .map(|(_, template)| template)
}

/// The route-table template that fits `path` most closely.
pub fn template_of(path: &str) -> Option<&'static str> {
    closest(ROUTES.iter().map(|r| r.path), path)
}

/// The route a request may take: 404 when no template fits its path, 405
/// (with `Allow`) when its method is not served there, 422 for a query
/// parameter the operation does not read.
pub fn admit(req: &ApiRequest) -> ApiResult<&'static Route> {
    let template = template_of(&req.path).ok_or_else(|| ApiError::not_found(format!("no route for {}", req.path)))?;
    let mut here = ROUTES.iter().filter(|r| r.path == template);
    let Some(route) = here.clone().find(|r| r.method == req.method.as_str()) else {
        let allow: Vec<&str> = here.by_ref().map(|r| r.method).collect();
        return Err(ApiError::method_not_allowed(&allow));
    };
    if let Some((name, _)) = req.query.iter().find(|(name, _)| !route.query.contains(&name.as_str())) {
        let known = if route.query.is_empty() { "none".to_owned() } else { route.query.join(", ") };
        return Err(ApiError::invalid(name, format!("is not a query parameter of this operation (known: {known})")));
    }
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, uri: &str) -> ApiRequest {
        let req = http::Request::builder().method(method).uri(uri).body(Vec::new()).unwrap();
        ApiRequest::from_http(req)
    }

    #[test]
    fn the_closest_template_wins() {
        assert_eq!(template_of("/v1/prompts/greet:render"), Some("/v1/prompts/{name}:render"));
        assert_eq!(template_of("/v1/prompts/greet"), Some("/v1/prompts/{name}"));
        assert_eq!(template_of("/v1/prompts:register"), Some("/v1/prompts:register"));
        assert_eq!(template_of("/v1/prompts/"), Some("/v1/prompts"));
        assert_eq!(template_of("/v1/models/openai/llama3:8b"), Some("/v1/models/{provider}/{model_name}"));
        assert_eq!(template_of("/v1/nothing"), None);
        assert_eq!(template_of("/v1/prompts/:render"), Some("/v1/prompts/{name}:render"));
        assert_eq!(template_of("/v1/prompts/greet:explode"), None);
        assert_eq!(template_of("/v1/prompts/greet/versions/2:explode"), None);
    }

    #[test]
    fn methods_and_query_parameters_are_checked() {
        assert_eq!(admit(&request("GET", "/v1/prompts?limit=2")).unwrap().path, "/v1/prompts");
        let e = admit(&request("DELETE", "/v1/prompts")).unwrap_err();
        assert_eq!(e.status, 405);
        assert_eq!(e.headers[0].1, "GET, POST");
        let e = admit(&request("GET", "/v1/prompts?limt=2")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.details.unwrap()["field"].as_str().unwrap()), (422, "limt"));
        assert_eq!(admit(&request("GET", "/v1/absent")).unwrap_err().status, 404);
    }

    #[test]
    fn every_row_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(!ROUTES[..i].iter().any(|b| a.method == b.method && a.path == b.path), "{} {}", a.method, a.path);
        }
    }
}
