//! Translation between OpenAI chat completions and Anthropic messages, for
//! a caller of one API whose model is served by the other provider (or by
//! the offline mock), and the summary the ledger records of an answer.
//!
//! What has an equivalent is carried over (system prompts, text and image
//! parts, tools and tool choice, tool calls and results, stop sequences,
//! sampling); hints without one are dropped (`seed`, penalties, `top_k`);
//! anything that would change the answer's shape (`n` > 1, `logprobs`, a
//! JSON `response_format`) is refused with a 400 naming the parameter.

use serde_json::{Map, Value as Json, json};

use super::errors::GatewayError;

/// Anthropic requires `max_tokens`; OpenAI callers often leave it out.
pub const DEFAULT_MAX_TOKENS: i64 = 4096;

/// What the ledger records of an answer, whoever served it.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub text: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// The text of an OpenAI `content` (a string or a list of parts).
pub fn openai_text(content: &Json) -> String {
    match content {
        Json::String(s) => s.clone(),
        Json::Array(parts) => parts.iter().filter(|p| p["type"] == "text").filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// The text of an Anthropic `content` or `system` (a string or blocks).
pub fn anthropic_text(content: &Json) -> String {
    openai_text(content)
}

pub fn summary_openai(response: &Json) -> Option<Summary> {
    let message = response["choices"].get(0)?.get("message")?;
    let mut text = openai_text(&message["content"]);
    if text.is_empty()
        && let Some(calls) = message["tool_calls"].as_array().filter(|c| !c.is_empty())
    {
        text = Json::Array(calls.clone()).to_string();
    }
    Some(Summary {
        text,
        prompt_tokens: response["usage"]["prompt_tokens"].as_i64().unwrap_or(0),
        completion_tokens: response["usage"]["completion_tokens"].as_i64().unwrap_or(0),
    })
}

pub fn summary_anthropic(response: &Json) -> Option<Summary> {
    let blocks = response["content"].as_array()?;
    let mut text = anthropic_text(&response["content"]);
    let tool_uses: Vec<&Json> = blocks.iter().filter(|b| b["type"] == "tool_use").collect();
    if text.is_empty() && !tool_uses.is_empty() {
        text = json!(tool_uses).to_string();
    }
    Some(Summary {
        text,
        prompt_tokens: response["usage"]["input_tokens"].as_i64().unwrap_or(0),
        completion_tokens: response["usage"]["output_tokens"].as_i64().unwrap_or(0),
    })
}

fn take_max_tokens(body: &Map<String, Json>) -> Result<Json, GatewayError> {
    match body.get("max_completion_tokens").or(body.get("max_tokens")) {
        None | Some(Json::Null) => Ok(json!(DEFAULT_MAX_TOKENS)),
        Some(n) if n.as_i64().is_some_and(|n| n > 0) => Ok(n.clone()),
        Some(_) => Err(GatewayError::invalid("max_tokens", "must be a positive integer")),
    }
}

/// An OpenAI `image_url` part as an Anthropic image block.
fn image_block(part: &Json) -> Json {
    let url = part["image_url"]["url"].as_str().or(part["image_url"].as_str()).unwrap_or_default();
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((media_type, data)) = rest.split_once(";base64,")
    {
        return json!({ "type": "image", "source": { "type": "base64", "media_type": media_type, "data": data } });
    }
    json!({ "type": "image", "source": { "type": "url", "url": url } })
}

fn openai_parts_to_blocks(content: &Json, param: &str) -> Result<Vec<Json>, GatewayError> {
    match content {
        Json::Null => Ok(Vec::new()),
        Json::String(s) if s.is_empty() => Ok(Vec::new()),
        Json::String(s) => Ok(vec![json!({ "type": "text", "text": s })]),
        Json::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, p)| match p["type"].as_str() {
                Some("text") => Ok(json!({ "type": "text", "text": p["text"] })),
                Some("image_url") => Ok(image_block(p)),
                _ => Err(GatewayError::unsupported(&format!("{param}[{i}].type"), "anthropic")),
            })
            .collect(),
        _ => Err(GatewayError::invalid(param, "must be a string or a list of parts")),
    }
}

/// Chat completions request → Anthropic messages request (without `model`).
pub fn openai_to_anthropic_request(body: &Map<String, Json>) -> Result<Map<String, Json>, GatewayError> {
    let mut out = Map::new();
    let mut system: Vec<String> = Vec::new();
    let mut messages: Vec<Json> = Vec::new();
    let empty = Vec::new();
    for (i, m) in body.get("messages").and_then(Json::as_array).unwrap_or(&empty).iter().enumerate() {
        let param = format!("messages[{i}]");
        match m["role"].as_str() {
            Some("system") | Some("developer") => system.push(openai_text(&m["content"])),
            Some("user") => {
                messages.push(json!({ "role": "user", "content": openai_parts_to_blocks(&m["content"], &format!("{param}.content"))? }))
            }
            Some("assistant") => {
                let mut blocks = openai_parts_to_blocks(&m["content"], &format!("{param}.content"))?;
                for call in m["tool_calls"].as_array().unwrap_or(&empty) {
                    let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
                    let input: Json = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
                    blocks.push(json!({
                        "type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input,
                    }));
                }
                messages.push(json!({ "role": "assistant", "content": blocks }));
            }
            Some("tool") => {
                let result = json!({
                    "type": "tool_result", "tool_use_id": m["tool_call_id"], "content": openai_text(&m["content"]),
                });
                // Results of one assistant turn's calls go in one user turn.
                match messages.last_mut() {
                    Some(last)
                        if last["role"] == "user"
                            && last["content"].as_array().is_some_and(|c| c.iter().all(|b| b["type"] == "tool_result")) =>
                    {
                        if let Some(blocks) = last["content"].as_array_mut() {
                            blocks.push(result);
                        }
                    }
                    _ => messages.push(json!({ "role": "user", "content": [result] })),
                }
            }
            _ => return Err(GatewayError::invalid(&format!("{param}.role"), "must be system, developer, user, assistant or tool")),
        }
    }
    if !system.is_empty() {
        out.insert("system".into(), json!(system.join("\n\n")));
    }
    out.insert("messages".into(), Json::Array(messages));
    out.insert("max_tokens".into(), take_max_tokens(body)?);
    let mut parallel = true;
    for (key, value) in body {
        match key.as_str() {
            "model" | "messages" | "max_tokens" | "max_completion_tokens" | "stream" => {}
            "temperature" | "top_p" => {
                out.insert(key.clone(), value.clone());
            }
            "stop" => {
                let stop = if value.is_string() { json!([value]) } else { value.clone() };
                if !stop.is_null() {
                    out.insert("stop_sequences".into(), stop);
                }
            }
            "tools" => {
                let tools: Vec<Json> = value
                    .as_array()
                    .ok_or_else(|| GatewayError::invalid("tools", "must be a list"))?
                    .iter()
                    .map(|t| {
                        let f = &t["function"];
                        let mut tool = json!({
                            "name": f["name"],
                            "input_schema": if f["parameters"].is_object() { f["parameters"].clone() } else { json!({ "type": "object" }) },
                        });
                        if let Some(d) = f["description"].as_str() {
                            tool["description"] = json!(d);
                        }
                        tool
                    })
                    .collect();
                out.insert("tools".into(), Json::Array(tools));
            }
            "parallel_tool_calls" => parallel = value.as_bool().unwrap_or(true),
            "tool_choice" => {
                let choice = match value {
                    Json::String(s) if s == "auto" => json!({ "type": "auto" }),
                    Json::String(s) if s == "required" => json!({ "type": "any" }),
                    Json::String(s) if s == "none" => json!({ "type": "none" }),
                    Json::Object(o) if o.get("type").and_then(Json::as_str) == Some("function") => {
                        json!({ "type": "tool", "name": value["function"]["name"] })
                    }
                    _ => {
                        return Err(GatewayError::invalid("tool_choice", "must be auto, required, none or a function"));
                    }
                };
                out.insert("tool_choice".into(), choice);
            }
            "user" => {
                out.insert("metadata".into(), json!({ "user_id": value }));
            }
            "n" if value.as_i64().is_none_or(|n| n == 1) => {}
            "logprobs" if !value.as_bool().unwrap_or(false) => {}
            "response_format" if value["type"] == "text" => {}
            // Hints without an Anthropic equivalent.
            "seed" | "frequency_penalty" | "presence_penalty" | "logit_bias" | "top_logprobs" | "store"
            | "metadata" | "service_tier" | "stream_options" | "reasoning_effort" | "prediction" => {}
            other => return Err(GatewayError::unsupported(other, "anthropic")),
        }
    }
    if !parallel && let Some(choice) = out.get_mut("tool_choice").and_then(Json::as_object_mut) {
        choice.insert("disable_parallel_tool_use".into(), json!(true));
    } else if !parallel && out.contains_key("tools") {
        out.insert("tool_choice".into(), json!({ "type": "auto", "disable_parallel_tool_use": true }));
    }
    Ok(out)
}

fn finish_reason_of(stop_reason: &Json) -> &'static str {
    match stop_reason.as_str() {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// Anthropic message → chat completion.
pub fn anthropic_to_openai_response(response: &Json, created_s: i64) -> Json {
    let empty = Vec::new();
    let blocks = response["content"].as_array().unwrap_or(&empty);
    let text = anthropic_text(&response["content"]);
    let tool_calls: Vec<Json> = blocks
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| {
            json!({
                "id": b["id"], "type": "function",
                "function": { "name": b["name"], "arguments": b["input"].to_string() },
            })
        })
        .collect();
    let mut message = json!({ "role": "assistant", "content": if text.is_empty() && !tool_calls.is_empty() { Json::Null } else { json!(text) } });
    if !tool_calls.is_empty() {
        message["tool_calls"] = Json::Array(tool_calls);
    }
    let (input, output) = (
        response["usage"]["input_tokens"].as_i64().unwrap_or(0),
        response["usage"]["output_tokens"].as_i64().unwrap_or(0),
    );
    json!({
        "id": response["id"],
        "object": "chat.completion",
        "created": created_s,
        "model": response["model"],
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason_of(&response["stop_reason"]) }],
        "usage": { "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output },
    })
}

/// An Anthropic block list (or string) as OpenAI user content, and the tool
/// results it carries as separate `tool` messages.
fn anthropic_user_content(content: &Json, param: &str) -> Result<(Vec<Json>, Json), GatewayError> {
    let blocks = match content {
        Json::String(s) => return Ok((Vec::new(), json!(s))),
        Json::Array(blocks) => blocks,
        _ => return Err(GatewayError::invalid(param, "must be a string or a list of content blocks")),
    };
    let mut tool_messages = Vec::new();
    let mut parts = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        match b["type"].as_str() {
            Some("text") => parts.push(json!({ "type": "text", "text": b["text"] })),
            Some("image") => {
                let source = &b["source"];
                let url = match source["type"].as_str() {
                    Some("base64") => format!(
                        "data:{};base64,{}",
                        source["media_type"].as_str().unwrap_or("image/png"),
                        source["data"].as_str().unwrap_or_default()
                    ),
                    _ => source["url"].as_str().unwrap_or_default().to_owned(),
                };
                parts.push(json!({ "type": "image_url", "image_url": { "url": url } }));
            }
            Some("tool_result") => tool_messages.push(json!({
                "role": "tool", "tool_call_id": b["tool_use_id"], "content": anthropic_text(&b["content"]),
            })),
            _ => return Err(GatewayError::unsupported(&format!("{param}[{i}].type"), "openai")),
        }
    }
    // Plain text stays a string, which every OpenAI-compatible server takes.
    let content = if parts.iter().all(|p| p["type"] == "text") {
        json!(parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"))
    } else {
        Json::Array(parts)
    };
    let has_content = !blocks.iter().all(|b| b["type"] == "tool_result");
    Ok((tool_messages, if has_content { content } else { Json::Null }))
}

/// Anthropic messages request → chat completions request (without `model`).
pub fn anthropic_to_openai_request(body: &Map<String, Json>) -> Result<Map<String, Json>, GatewayError> {
    let mut messages: Vec<Json> = Vec::new();
    if let Some(system) = body.get("system").filter(|s| !s.is_null()) {
        messages.push(json!({ "role": "system", "content": anthropic_text(system) }));
    }
    let empty = Vec::new();
    for (i, m) in body.get("messages").and_then(Json::as_array).unwrap_or(&empty).iter().enumerate() {
        let param = format!("messages[{i}].content");
        match m["role"].as_str() {
            Some("user") => {
                let (tool_messages, content) = anthropic_user_content(&m["content"], &param)?;
                messages.extend(tool_messages);
                if !content.is_null() {
                    messages.push(json!({ "role": "user", "content": content }));
                }
            }
            Some("assistant") => {
                let blocks = match &m["content"] {
                    Json::String(s) => vec![json!({ "type": "text", "text": s })],
                    Json::Array(b) => b.clone(),
                    _ => return Err(GatewayError::invalid(&param, "must be a string or a list of content blocks")),
                };
                let text: String =
                    blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect();
                let calls: Vec<Json> = blocks
                    .iter()
                    .filter(|b| b["type"] == "tool_use")
                    .map(|b| json!({ "id": b["id"], "type": "function", "function": { "name": b["name"], "arguments": b["input"].to_string() } }))
                    .collect();
                let mut message =
                    json!({ "role": "assistant", "content": if text.is_empty() { Json::Null } else { json!(text) } });
                if !calls.is_empty() {
                    message["tool_calls"] = Json::Array(calls);
                }
                messages.push(message);
            }
            _ => return Err(GatewayError::invalid(&format!("messages[{i}].role"), "must be user or assistant")),
        }
    }
    let mut out = Map::new();
    out.insert("messages".into(), Json::Array(messages));
    for (key, value) in body {
        match key.as_str() {
            "model" | "messages" | "system" | "stream" => {}
            "max_tokens" | "temperature" | "top_p" => {
                out.insert(key.clone(), value.clone());
            }
            "stop_sequences" => {
                out.insert("stop".into(), value.clone());
            }
            "metadata" => {
                if let Some(user) = value["user_id"].as_str() {
                    out.insert("user".into(), json!(user));
                }
            }
            "tools" => {
                let tools = value.as_array().ok_or_else(|| GatewayError::invalid("tools", "must be a list"))?;
                let mut converted = Vec::with_capacity(tools.len());
                for (i, t) in tools.iter().enumerate() {
                    if t.get("type").is_some_and(|ty| ty != "custom") {
                        return Err(GatewayError::unsupported(&format!("tools[{i}].type"), "openai"));
                    }
                    let mut function = json!({ "name": t["name"], "parameters": t["input_schema"] });
                    if let Some(d) = t["description"].as_str() {
                        function["description"] = json!(d);
                    }
                    converted.push(json!({ "type": "function", "function": function }));
                }
                out.insert("tools".into(), Json::Array(converted));
            }
            "tool_choice" => {
                let choice = match value["type"].as_str() {
                    Some("auto") => json!("auto"),
                    Some("any") => json!("required"),
                    Some("none") => json!("none"),
                    Some("tool") => json!({ "type": "function", "function": { "name": value["name"] } }),
                    _ => return Err(GatewayError::invalid("tool_choice.type", "must be auto, any, tool or none")),
                };
                if value["disable_parallel_tool_use"] == json!(true) {
                    out.insert("parallel_tool_calls".into(), json!(false));
                }
                out.insert("tool_choice".into(), choice);
            }
            // Without an OpenAI equivalent.
            "top_k" | "service_tier" => {}
            other => return Err(GatewayError::unsupported(other, "openai")),
        }
    }
    Ok(out)
}

fn stop_reason_of(finish_reason: &Json) -> &'static str {
    match finish_reason.as_str() {
        Some("length") => "max_tokens",
        Some("tool_calls") | Some("function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Chat completion → Anthropic message.
pub fn openai_to_anthropic_response(response: &Json) -> Json {
    let choice = &response["choices"][0];
    let message = &choice["message"];
    let mut content = Vec::new();
    let text = openai_text(&message["content"]);
    if !text.is_empty() {
        content.push(json!({ "type": "text", "text": text }));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let input: Json =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or("{}")).unwrap_or_else(|_| json!({}));
        content.push(json!({ "type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input }));
    }
    let id = response["id"].as_str().unwrap_or_default();
    json!({
        "id": if id.starts_with("msg_") { id.to_owned() } else { format!("msg_{id}") },
        "type": "message",
        "role": "assistant",
        "model": response["model"],
        "content": content,
        "stop_reason": stop_reason_of(&choice["finish_reason"]),
        "stop_sequence": null,
        "usage": {
            "input_tokens": response["usage"]["prompt_tokens"].as_i64().unwrap_or(0),
            "output_tokens": response["usage"]["completion_tokens"].as_i64().unwrap_or(0),
        },
    })
}

/// The offline `mock` provider's chat completion for an OpenAI-shaped
/// request: deterministic, as `executions:run` answers with it.
pub fn mock_openai_response(body: &Map<String, Json>, model: &str, id: &str, created_s: i64) -> Json {
    let empty = Vec::new();
    let messages: Vec<crate::registry::ChatMessage> = body
        .get("messages")
        .and_then(Json::as_array)
        .unwrap_or(&empty)
        .iter()
        .map(|m| crate::registry::ChatMessage {
            role: m["role"].as_str().unwrap_or_default().to_owned(),
            content: openai_text(&m["content"]),
        })
        .collect();
    let c = crate::executions::providers::mock(&messages);
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": created_s,
        "model": model,
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": c.text }, "logprobs": null, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": c.prompt_tokens, "completion_tokens": c.response_tokens, "total_tokens": c.prompt_tokens + c.response_tokens },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn openai_tools_round_trip_through_anthropic() {
        let body = obj(json!({
            "model": "x",
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": "Weather in Paris?" },
                { "role": "assistant", "content": null, "tool_calls": [
                    { "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Paris\"}" } },
                    { "id": "call_2", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Lyon\"}" } },
                ]},
                { "role": "tool", "tool_call_id": "call_1", "content": "sunny" },
                { "role": "tool", "tool_call_id": "call_2", "content": "rain" },
            ],
            "tools": [{ "type": "function", "function": { "name": "weather", "description": "d", "parameters": { "type": "object" } } }],
            "tool_choice": "required",
            "stop": "END",
            "seed": 7,
        }));
        let out = openai_to_anthropic_request(&body).unwrap();
        assert_eq!(out["system"], "Be brief.");
        assert_eq!(out["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(out["stop_sequences"], json!(["END"]));
        assert_eq!(out["tool_choice"], json!({ "type": "any" }));
        assert_eq!(out["tools"][0]["input_schema"], json!({ "type": "object" }));
        let messages = out["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3, "the two tool results share one user turn");
        assert_eq!(messages[1]["content"][0]["input"], json!({ "city": "Paris" }));
        assert_eq!(messages[2]["content"][1]["tool_use_id"], "call_2");
        assert!(!out.contains_key("seed"));

        let back = anthropic_to_openai_response(
            &json!({
                "id": "msg_1", "model": "claude-x", "stop_reason": "tool_use",
                "content": [{ "type": "tool_use", "id": "toolu_1", "name": "weather", "input": { "city": "Rome" } }],
                "usage": { "input_tokens": 3, "output_tokens": 4 },
            }),
            0,
        );
        assert_eq!(back["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(back["choices"][0]["message"]["content"], Json::Null);
        assert_eq!(back["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Rome\"}");
        assert_eq!(back["usage"]["total_tokens"], 7);
    }

    #[test]
    fn shape_changing_parameters_are_refused() {
        let body = obj(json!({ "model": "x", "messages": [], "n": 2 }));
        assert_eq!(openai_to_anthropic_request(&body).unwrap_err().param.as_deref(), Some("n"));
        let body = obj(json!({ "model": "x", "messages": [], "n": 1, "logprobs": false }));
        assert!(openai_to_anthropic_request(&body).is_ok());
        let body = obj(json!({ "model": "x", "messages": [], "thinking": { "type": "enabled" } }));
        assert_eq!(anthropic_to_openai_request(&body).unwrap_err().param.as_deref(), Some("thinking"));
    }

    #[test]
    fn anthropic_requests_become_chat_completions() {
        let body = obj(json!({
            "model": "x", "max_tokens": 50, "system": [{ "type": "text", "text": "Sys" }],
            "messages": [
                { "role": "user", "content": "Hi" },
                { "role": "assistant", "content": [{ "type": "tool_use", "id": "t1", "name": "f", "input": { "a": 1 } }] },
                { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "t1", "content": "42" }] },
            ],
            "tools": [{ "name": "f", "input_schema": { "type": "object" } }],
            "tool_choice": { "type": "tool", "name": "f" },
            "stop_sequences": ["X"], "top_k": 5,
        }));
        let out = anthropic_to_openai_request(&body).unwrap();
        let m = out["messages"].as_array().unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[0], json!({ "role": "system", "content": "Sys" }));
        assert_eq!(m[2]["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
        assert_eq!(m[3], json!({ "role": "tool", "tool_call_id": "t1", "content": "42" }));
        assert_eq!(out["tool_choice"]["function"]["name"], "f");
        assert_eq!(out["stop"], json!(["X"]));
        assert!(!out.contains_key("top_k"));

        let back = openai_to_anthropic_response(&json!({
            "id": "chatcmpl-1", "model": "gpt-x",
            "choices": [{ "message": { "role": "assistant", "content": "hello" }, "finish_reason": "length" }],
            "usage": { "prompt_tokens": 2, "completion_tokens": 1 },
        }));
        assert_eq!(back["content"], json!([{ "type": "text", "text": "hello" }]));
        assert_eq!(back["stop_reason"], "max_tokens");
        assert_eq!(back["usage"], json!({ "input_tokens": 2, "output_tokens": 1 }));
        assert_eq!(summary_anthropic(&back).unwrap().text, "hello");
    }

    #[test]
    fn summaries_fall_back_to_tool_calls() {
        let r = json!({ "choices": [{ "message": { "content": null, "tool_calls": [{ "id": "c" }] } }], "usage": { "prompt_tokens": 1, "completion_tokens": 2 } });
        let s = summary_openai(&r).unwrap();
        assert_eq!((s.text.as_str(), s.prompt_tokens, s.completion_tokens), ("[{\"id\":\"c\"}]", 1, 2));
        assert!(summary_openai(&json!({ "choices": [] })).is_none());
    }
}
