//! LLM providers: OpenAI chat completions (and any compatible server),
//! Anthropic messages, and an offline deterministic `mock`. Each call is one
//! outbound request; errors are classified so callers know what is retryable.

use std::time::Duration;

use serde_json::{Map, Value as Json, json};

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::ports::{Http, HttpError, MAX_PROVIDER_RESPONSE_BYTES, Timeout};
use crate::registry::ChatMessage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Anthropic,
    Mock,
}

impl Provider {
    pub fn parse(name: &str) -> Option<Provider> {
        match name {
            "openai" => Some(Provider::OpenAi),
            "anthropic" => Some(Provider::Anthropic),
            "mock" => Some(Provider::Mock),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Mock => "mock",
        }
    }

    /// The provider a bare model name implies (`gpt-4o` → openai).
    pub fn infer(model_name: &str) -> Option<Provider> {
        let m = model_name.to_ascii_lowercase();
        if m.starts_with("gpt-")
            || m.starts_with("o1")
            || m.starts_with("o3")
            || m.starts_with("o4")
            || m.starts_with("chatgpt")
        {
            Some(Provider::OpenAi)
        } else if m.starts_with("claude") {
            Some(Provider::Anthropic)
        } else if m.starts_with("mock") {
            Some(Provider::Mock)
        } else {
            None
        }
    }

    /// # Errors
    /// 422 when the provider needs a key that is not configured. An OpenAI
    /// base URL other than the official one may run without a key (Ollama, vLLM).
    pub fn check_configured(self, config: &Config) -> ApiResult<()> {
        let missing = match self {
            Provider::OpenAi => {
                config.openai_api_key.is_empty() && config.openai_base_url == crate::config::DEFAULT_OPENAI_BASE_URL
            }
            Provider::Anthropic => config.anthropic_api_key.is_empty(),
            Provider::Mock => false,
        };
        if missing {
            let variable = if self == Provider::OpenAi { "OPENAI_API_KEY" } else { "ANTHROPIC_API_KEY" };
            return Err(ApiError::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "provider_not_configured",
                format!("provider `{}` has no API key configured (set {variable})", self.as_str()),
            )
            .with_details(json!({ "field": "model.provider", "provider": self.as_str() })));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub prompt_tokens: i64,
    pub response_tokens: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Timeout,
    RateLimited,
    ServerError,
    Connection,
    ClientError,
    BadResponse,
}

impl FailureKind {
    /// What a transport error means for the run: a timeout, a connection
    /// that failed (retryable), or an answer too large to read (not).
    pub fn of_transport(e: &HttpError) -> Self {
        match e {
            HttpError::Timeout => FailureKind::Timeout,
            HttpError::Connect(_) | HttpError::Other(_) => FailureKind::Connection,
            HttpError::TooLarge(_) => FailureKind::BadResponse,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "provider_timeout",
            FailureKind::RateLimited => "provider_rate_limited",
            FailureKind::ServerError => "provider_server_error",
            FailureKind::Connection => "provider_unreachable",
            FailureKind::ClientError => "provider_rejected",
            FailureKind::BadResponse => "provider_bad_response",
        }
    }

    /// Worth another attempt later: the request itself was not at fault.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            FailureKind::Timeout | FailureKind::RateLimited | FailureKind::ServerError | FailureKind::Connection
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub provider_status: Option<u16>,
    /// Seconds the provider asked us to wait (429 `Retry-After`).
    pub retry_after_s: Option<u64>,
}

/// Parameters callers may not override: they are the call itself.
const RESERVED_PARAMS: &[&str] = &["model", "messages", "prompt", "stream", "system"];

/// # Errors
/// 422 naming the parameter when `params` tries to set a reserved field or
/// to stream (the ledger records whole responses).
pub fn validate_params(params: &Map<String, Json>) -> ApiResult<()> {
    for key in params.keys() {
        if RESERVED_PARAMS.contains(&key.as_str()) {
            return Err(ApiError::invalid(&format!("params.{key}"), "is set by PromptLedger and cannot be overridden"));
        }
    }
    Ok(())
}

pub struct Call<'a> {
    pub provider: Provider,
    pub model_name: &'a str,
    pub messages: &'a [ChatMessage],
    pub params: &'a Map<String, Json>,
    pub timeout: Duration,
}

pub async fn call<C: Http>(http: &C, config: &Config, call: &Call<'_>) -> Result<Completion, Failure> {
    let request = match call.provider {
        Provider::Mock => return Ok(mock(call.messages)),
        Provider::OpenAi => openai_request(config, call),
        Provider::Anthropic => anthropic_request(config, call),
    }
    .map_err(|message| Failure {
        kind: FailureKind::ClientError,
        message,
        provider_status: None,
        retry_after_s: None,
    })?;
    let mut request = request;
    request.extensions_mut().insert(Timeout(call.timeout));
    let response = http.send_bounded(request, MAX_PROVIDER_RESPONSE_BYTES).await.map_err(|e| Failure {
        kind: FailureKind::of_transport(&e),
        // Transport errors never carry the key; the URL host is enough.
        message: e.to_string(),
        provider_status: None,
        retry_after_s: None,
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(status_failure(&response));
    }
    let body: Json = serde_json::from_slice(response.body()).map_err(|e| Failure {
        kind: FailureKind::BadResponse,
        message: format!("provider returned invalid JSON: {e}"),
        provider_status: Some(status.as_u16()),
        retry_after_s: None,
    })?;
    let parsed = match call.provider {
        Provider::OpenAi => parse_openai(&body),
        Provider::Anthropic => parse_anthropic(&body),
        Provider::Mock => unreachable!("mock returns early"),
    };
    parsed.ok_or_else(|| Failure {
        kind: FailureKind::BadResponse,
        message: "provider response is missing the completion text".into(),
        provider_status: Some(status.as_u16()),
        retry_after_s: None,
    })
}

fn status_failure(response: &http::Response<Vec<u8>>) -> Failure {
    let status = response.status();
    let kind = match status.as_u16() {
        429 => FailureKind::RateLimited,
        408 => FailureKind::Timeout,
        500..=599 => FailureKind::ServerError,
        _ => FailureKind::ClientError,
    };
    let retry_after_s = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    // Keep the provider's own explanation, bounded; it never echoes our key.
    let detail = serde_json::from_slice::<Json>(response.body())
        .ok()
        .and_then(|b| b["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(response.body()).chars().take(300).collect());
    Failure {
        kind,
        message: format!("provider answered {}: {}", status.as_u16(), detail.chars().take(500).collect::<String>()),
        provider_status: Some(status.as_u16()),
        retry_after_s,
    }
}

fn openai_request(config: &Config, call: &Call<'_>) -> Result<http::Request<Vec<u8>>, String> {
    let mut body = call.params.clone();
    body.insert("model".into(), json!(call.model_name));
    body.insert("messages".into(), json!(call.messages));
    let mut builder = http::Request::post(format!("{}/chat/completions", config.openai_base_url))
        .header(http::header::CONTENT_TYPE, "application/json");
    if !config.openai_api_key.is_empty() {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {}", config.openai_api_key));
    }
    builder.body(serde_json::to_vec(&body).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

fn anthropic_request(config: &Config, call: &Call<'_>) -> Result<http::Request<Vec<u8>>, String> {
    let mut body = call.params.clone();
    // The messages API takes system prompts apart from the turns.
    let system: Vec<&str> = call.messages.iter().filter(|m| m.role == "system").map(|m| m.content.as_str()).collect();
    let turns: Vec<&ChatMessage> = call.messages.iter().filter(|m| m.role != "system").collect();
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    if let Some(stop) = body.remove("stop") {
        let stop = if stop.is_string() { json!([stop]) } else { stop };
        body.insert("stop_sequences".into(), stop);
    }
    body.entry("max_tokens").or_insert(json!(1024));
    body.insert("model".into(), json!(call.model_name));
    body.insert("messages".into(), json!(turns));
    http::Request::post(format!("{}/messages", config.anthropic_base_url))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("x-api-key", &config.anthropic_api_key)
        .header("anthropic-version", "2023-06-01")
        .body(serde_json::to_vec(&body).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())
}

/// A provider's text as the ledger can store it: PostgreSQL refuses U+0000
/// in text, so it becomes U+FFFD rather than losing the whole record.
pub(crate) fn storable(text: &str) -> String {
    if text.contains('\0') { text.replace('\0', "\u{FFFD}") } else { text.to_owned() }
}

fn parse_openai(body: &Json) -> Option<Completion> {
    let text = body["choices"][0]["message"]["content"].as_str()?;
    Some(Completion {
        text: storable(text),
        prompt_tokens: body["usage"]["prompt_tokens"].as_i64().unwrap_or(0),
        response_tokens: body["usage"]["completion_tokens"].as_i64().unwrap_or(0),
    })
}

fn parse_anthropic(body: &Json) -> Option<Completion> {
    let parts = body["content"].as_array()?;
    let text: String = parts.iter().filter(|p| p["type"] == "text").filter_map(|p| p["text"].as_str()).collect();
    Some(Completion {
        text: storable(&text),
        prompt_tokens: body["usage"]["input_tokens"].as_i64().unwrap_or(0),
        response_tokens: body["usage"]["output_tokens"].as_i64().unwrap_or(0),
    })
}

/// Deterministic and offline: the same messages always give the same answer.
/// Tokens are counted as whitespace-separated words.
pub fn mock(messages: &[ChatMessage]) -> Completion {
    let last_user = messages.iter().rev().find(|m| m.role == "user").map_or("", |m| m.content.as_str());
    let excerpt: String = last_user.chars().take(200).collect();
    let text = format!("Mock response to: {excerpt}");
    let words = |s: &str| s.split_whitespace().count() as i64;
    Completion { prompt_tokens: messages.iter().map(|m| words(&m.content)).sum(), response_tokens: words(&text), text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_inferred_from_model_names() {
        assert_eq!(Provider::infer("gpt-3.5-turbo"), Some(Provider::OpenAi));
        assert_eq!(Provider::infer("claude-3-5-haiku-latest"), Some(Provider::Anthropic));
        assert_eq!(Provider::infer("mock-1"), Some(Provider::Mock));
        assert_eq!(Provider::infer("llama3"), None);
    }

    #[test]
    fn failures_classify_retryability() {
        assert!(FailureKind::RateLimited.retryable());
        assert!(FailureKind::ServerError.retryable());
        assert!(FailureKind::Timeout.retryable());
        assert!(!FailureKind::ClientError.retryable());
        assert!(!FailureKind::BadResponse.retryable());
    }

    #[test]
    fn anthropic_gets_system_apart_and_stop_sequences() {
        let config =
            Config { anthropic_api_key: "k".into(), anthropic_base_url: "http://x/v1".into(), ..Config::default() };
        let messages = vec![
            ChatMessage { role: "system".into(), content: "be brief".into() },
            ChatMessage { role: "user".into(), content: "hi".into() },
        ];
        let params: Map<String, Json> = serde_json::from_value(json!({ "stop": "END", "temperature": 0.2 })).unwrap();
        let call = Call {
            provider: Provider::Anthropic,
            model_name: "claude-x",
            messages: &messages,
            params: &params,
            timeout: Duration::from_secs(1),
        };
        let req = anthropic_request(&config, &call).unwrap();
        let body: Json = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(body["system"], "be brief");
        assert_eq!(body["messages"].as_array().unwrap().len(), 1);
        assert_eq!(body["stop_sequences"], json!(["END"]));
        assert_eq!(body["max_tokens"], 1024);
        assert_eq!(req.headers()["anthropic-version"], "2023-06-01");
    }

    #[test]
    fn mock_is_deterministic() {
        let m = vec![ChatMessage { role: "user".into(), content: "say hello".into() }];
        assert_eq!(mock(&m), mock(&m));
        assert_eq!(mock(&m).prompt_tokens, 2);
    }

    #[test]
    fn reserved_params_are_refused() {
        let params: Map<String, Json> = serde_json::from_value(json!({ "stream": true })).unwrap();
        assert_eq!(validate_params(&params).unwrap_err().details.unwrap()["field"], "params.stream");
    }
}
