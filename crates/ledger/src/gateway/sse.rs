//! A recorded answer written as server-sent events in the caller's format:
//! OpenAI `chat.completion.chunk`s ending in `[DONE]` (with a usage chunk
//! when `stream_options.include_usage` asks for one), or Anthropic's
//! `message_start` … `message_stop` events. This is how an idempotent retry
//! of a streamed call gets its answer again, from the ledger; live calls are
//! relayed by [`super::stream`].

use serde_json::{Value as Json, json};

pub const CONTENT_TYPE: &str = "text/event-stream";

fn data(out: &mut Vec<u8>, value: &Json) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(value.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

fn event(out: &mut Vec<u8>, name: &str, value: &Json) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    data(out, value);
}

/// The chunks of a chat completion.
pub fn openai_events(completion: &Json, include_usage: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let chunk = |choices: Json| {
        let mut c = json!({
            "id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
            "model": completion["model"], "choices": choices,
        });
        if let Some(fingerprint) = completion.get("system_fingerprint") {
            c["system_fingerprint"] = fingerprint.clone();
        }
        if include_usage {
            c["usage"] = Json::Null;
        }
        c
    };
    let empty = Vec::new();
    for (i, choice) in completion["choices"].as_array().unwrap_or(&empty).iter().enumerate() {
        let index = choice.get("index").cloned().unwrap_or(json!(i));
        let message = &choice["message"];
        let part = |delta: Json| json!([{ "index": index, "delta": delta, "logprobs": null, "finish_reason": null }]);
        data(&mut out, &chunk(part(json!({ "role": "assistant", "content": "" }))));
        if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
            data(&mut out, &chunk(part(json!({ "content": text }))));
        }
        for (n, call) in message["tool_calls"].as_array().unwrap_or(&empty).iter().enumerate() {
            let delta = json!({ "tool_calls": [{
                "index": n, "id": call["id"], "type": "function",
                "function": { "name": call["function"]["name"], "arguments": call["function"]["arguments"] },
            }]});
            data(&mut out, &chunk(part(delta)));
        }
        let last = json!([{ "index": index, "delta": {}, "logprobs": choice["logprobs"], "finish_reason": choice["finish_reason"] }]);
        data(&mut out, &chunk(last));
    }
    if include_usage {
        let mut usage = chunk(json!([]));
        usage["usage"] = completion["usage"].clone();
        data(&mut out, &usage);
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

/// The events of an Anthropic message.
pub fn anthropic_events(message: &Json) -> Vec<u8> {
    let mut out = Vec::new();
    let mut start = message.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Json::Null;
    start["stop_sequence"] = Json::Null;
    start["usage"] = json!({ "input_tokens": message["usage"]["input_tokens"], "output_tokens": 0 });
    event(&mut out, "message_start", &json!({ "type": "message_start", "message": start }));
    let empty = Vec::new();
    for (index, block) in message["content"].as_array().unwrap_or(&empty).iter().enumerate() {
        let (opening, delta) = match block["type"].as_str() {
            Some("text") => {
                (json!({ "type": "text", "text": "" }), json!({ "type": "text_delta", "text": block["text"] }))
            }
            Some("tool_use") => (
                json!({ "type": "tool_use", "id": block["id"], "name": block["name"], "input": {} }),
                json!({ "type": "input_json_delta", "partial_json": block["input"].to_string() }),
            ),
            // Other blocks (thinking, server tools) are sent whole.
            _ => (block.clone(), Json::Null),
        };
        event(
            &mut out,
            "content_block_start",
            &json!({ "type": "content_block_start", "index": index, "content_block": opening }),
        );
        if !delta.is_null() {
            event(
                &mut out,
                "content_block_delta",
                &json!({ "type": "content_block_delta", "index": index, "delta": delta }),
            );
        }
        event(&mut out, "content_block_stop", &json!({ "type": "content_block_stop", "index": index }));
    }
    event(
        &mut out,
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": { "stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"] },
            "usage": { "output_tokens": message["usage"]["output_tokens"] },
        }),
    );
    event(&mut out, "message_stop", &json!({ "type": "message_stop" }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(bytes: &[u8]) -> Vec<String> {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")).map(str::to_owned))
            .collect()
    }

    #[test]
    fn openai_chunks_rebuild_the_completion() {
        let completion = json!({
            "id": "c1", "created": 5, "model": "m",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": "hi", "tool_calls": [
                { "id": "t", "type": "function", "function": { "name": "f", "arguments": "{}" } }] }, "finish_reason": "tool_calls" }],
            "usage": { "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3 },
        });
        let events = payloads(&openai_events(&completion, true));
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        let chunks: Vec<Json> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
        assert_eq!(chunks.len(), 5);
        assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["id"] == "c1"));
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "hi");
        assert_eq!(chunks[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "f");
        assert_eq!(chunks[3]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!((chunks[4]["choices"].clone(), chunks[4]["usage"]["total_tokens"].as_i64()), (json!([]), Some(3)));
        assert!(!payloads(&openai_events(&completion, false)).iter().any(|e| e.contains("\"usage\"")));
    }

    #[test]
    fn anthropic_events_rebuild_the_message() {
        let message = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "tool_use", "stop_sequence": null,
            "content": [{ "type": "text", "text": "hi" }, { "type": "tool_use", "id": "t", "name": "f", "input": { "a": 1 } }],
            "usage": { "input_tokens": 3, "output_tokens": 4 },
        });
        let text = String::from_utf8(anthropic_events(&message)).unwrap();
        let names: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        let events: Vec<Json> = payloads(text.as_bytes()).iter().map(|e| serde_json::from_str(e).unwrap()).collect();
        assert_eq!(events[0]["message"]["usage"], json!({ "input_tokens": 3, "output_tokens": 0 }));
        assert_eq!(events[5]["delta"]["partial_json"], "{\"a\":1}");
        assert_eq!(events[7]["usage"]["output_tokens"], 4);
    }
}
