"""The official OpenAI and Anthropic Python SDKs against PromptLedger's gateway.

Each client is built with nothing but ``base_url`` and ``api_key`` (the
PromptLedger key), as an application switching to the gateway would. Every
call is then looked up in the ledger (``GET /v1/executions/{id}``), and
provider calls are counted at the fake provider (``GET /calls?model=``).

Environment: PROMPT_LEDGER_URL, PROMPT_LEDGER_API_KEY, FAKE_PROVIDER_URL,
PROMPT_LEDGER_TEST_HOST (see tests/gateway/run.sh).
"""

import json
import os
import sys
import traceback
import uuid

import urllib.error
import urllib.parse
import urllib.request

import anthropic
import openai

URL = os.environ["PROMPT_LEDGER_URL"].rstrip("/")
KEY = os.environ["PROMPT_LEDGER_API_KEY"]
FAKE = os.environ["FAKE_PROVIDER_URL"].rstrip("/")
HOST = os.environ.get("PROMPT_LEDGER_TEST_HOST", "unknown")



def http_json(method, url, body=None, headers=None):
    """(status, parsed body) of one plain HTTP request, errors included."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def ledger(method, path, body=None):
    return http_json(method, f"{URL}{path}", body, {"X-API-Key": KEY})


def fake(path, **query):
    return http_json("GET", f"{FAKE}{path}?{urllib.parse.urlencode(query)}")[1]


# No SDK retries: each test counts the provider calls it caused.
oai = openai.OpenAI(base_url=f"{URL}/v1", api_key=KEY, max_retries=0)
ant = anthropic.Anthropic(base_url=URL, api_key=KEY, max_retries=0)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def execution(execution_id):
    status, body = ledger("GET", f"/v1/executions/{execution_id}")
    assert status == 200, body
    return body


def calls(model):
    return fake("/calls", model=model)["calls"]


def last_request(model):
    return fake("/requests", model=model)


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Looks a term up",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    }
]


def test_openai_chat_completion_is_recorded():
    model = unique("sdk")
    raw = oai.chat.completions.with_raw_response.create(
        model=f"openai/{model}",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is a ledger?"}],
        temperature=0.2,
        seed=7,
        response_format={"type": "json_object"},
    )
    completion = raw.parse()
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.choices[0].message.content == "echo: What is a ledger?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == model
    assert completion.usage.prompt_tokens == 6 and completion.usage.completion_tokens == 5
    assert raw.headers["promptledger-served-model"] == f"openai/{model}"
    sent = last_request(model)
    assert sent["seed"] == 7 and sent["response_format"] == {"type": "json_object"}, sent
    e = execution(raw.headers["promptledger-execution-id"])
    assert e["status"] == "succeeded", e
    assert e["model"] == {"provider": "openai", "model_name": model}
    assert e["response_text"] == "echo: What is a ledger?"
    assert e["usage"]["prompt_tokens"] == 6 and e["usage"]["response_tokens"] == 5
    assert e["prompt"]["name"].startswith("gateway-")
    assert calls(model) == 1


def test_openai_tools_round_trip():
    for provider in ("openai", "anthropic"):
        model = unique("tools")
        messages = [{"role": "user", "content": "define ledger"}]
        first = oai.chat.completions.create(model=f"{provider}/{model}", messages=messages, tools=TOOLS)
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls", (provider, first)
        call = choice.message.tool_calls[0]
        assert call.function.name == "lookup"
        assert json.loads(call.function.arguments) == {"query": "define ledger"}
        messages.append(choice.message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "a book of accounts"})
        raw = oai.chat.completions.with_raw_response.create(model=f"{provider}/{model}", messages=messages, tools=TOOLS)
        second = raw.parse()
        assert second.choices[0].message.content == "tool said: a book of accounts", (provider, second)
        assert calls(model) == 2
        e = execution(raw.headers["promptledger-execution-id"])
        assert e["status"] == "succeeded" and e["model"]["provider"] == provider, e


def test_openai_errors_raise_the_sdk_exceptions():
    try:
        oai.chat.completions.create(model="openai/fail-400", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a provider 400 must raise")
    except openai.BadRequestError as e:
        assert e.status_code == 400
        assert e.code == "provider_rejected", e.body
        failed = execution(e.response.headers["promptledger-execution-id"])
        assert failed["status"] == "failed" and failed["error"]["provider_status"] == 400, failed
    try:
        oai.chat.completions.create(model="openai/rate-limit", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a rate limit must raise")
    except openai.RateLimitError as e:
        assert e.response.headers.get("retry-after") == "1"
    try:
        oai.chat.completions.create(model="openai/fail-500", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a provider 500 must raise")
    except openai.InternalServerError as e:
        assert e.status_code == 502
    bad_key = openai.OpenAI(base_url=f"{URL}/v1", api_key="not-a-key", max_retries=0)
    try:
        bad_key.chat.completions.create(model="mock/m", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a bad key must raise")
    except openai.AuthenticationError as e:
        assert e.status_code == 401
    try:
        oai.chat.completions.create(model="anthropic/claude-x", messages=[{"role": "user", "content": "x"}], n=2)
        raise AssertionError("n=2 cannot be served by anthropic")
    except openai.BadRequestError as e:
        assert e.param == "n", e.body


def test_openai_fallbacks_and_idempotency():
    tag = unique("fb")
    flaky, good = f"flaky-9-{tag}", f"good-{tag}"
    raw = oai.chat.completions.with_raw_response.create(
        model=f"openai/{flaky}",
        messages=[{"role": "user", "content": "hello"}],
        extra_body={"fallbacks": [f"anthropic/{good}"]},
    )
    completion = raw.parse()
    assert completion.model == good and completion.choices[0].message.content == "echo: hello"
    assert raw.headers["promptledger-served-model"] == f"anthropic/{good}"
    assert (calls(flaky), calls(good)) == (1, 1)
    e = execution(raw.headers["promptledger-execution-id"])
    attempts = e["span"]["attributes"]["gateway"]["attempts"]
    assert [a["status"] for a in attempts] == ["provider_server_error", "ok"], attempts
    assert e["model"]["model_name"] == good

    model, key = unique("idem"), unique("key")
    request = dict(model=f"openai/{model}", messages=[{"role": "user", "content": "once"}])
    first = oai.chat.completions.with_raw_response.create(**request, extra_headers={"Idempotency-Key": key})
    retry = oai.chat.completions.with_raw_response.create(**request, extra_headers={"Idempotency-Key": key})
    assert retry.headers["promptledger-execution-id"] == first.headers["promptledger-execution-id"]
    assert retry.headers.get("promptledger-idempotent-replay") == "true"
    assert retry.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert calls(model) == 1


def test_openai_registered_prompt():
    name = unique("sdk-prompt")
    status, body = ledger(
        "POST", "/v1/prompts", {"name": name, "messages": [{"role": "system", "content": "You help {{ customer }}."}]}
    )
    assert status == 201, body
    model = unique("reg")
    raw = oai.chat.completions.with_raw_response.create(
        model=f"openai/{model}",
        messages=[{"role": "user", "content": "hi"}],
        metadata={"promptledger_prompt": name, "promptledger_variables": json.dumps({"customer": "Ada"})},
    )
    assert raw.parse().choices[0].message.content == "echo: hi"
    sent = last_request(model)
    assert sent["messages"][0] == {"role": "system", "content": "You help Ada."}, sent
    assert "metadata" not in sent
    e = execution(raw.headers["promptledger-execution-id"])
    assert e["prompt"]["name"] == name and e["inputs"]["variables"] == {"customer": "Ada"}, e


def test_anthropic_messages():
    model = f"claude-{unique('sdk')}"
    raw = ant.messages.with_raw_response.create(
        model=model, max_tokens=64, system="Be brief.", messages=[{"role": "user", "content": "Say hello"}]
    )
    message = raw.parse()
    assert isinstance(message, anthropic.types.Message)
    assert message.content[0].type == "text" and message.content[0].text == "echo: Say hello"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 4 and message.usage.output_tokens == 3
    e = execution(raw.headers["promptledger-execution-id"])
    assert e["model"] == {"provider": "anthropic", "model_name": model}, e
    assert e["status"] == "succeeded" and e["response_text"] == "echo: Say hello"

    # An OpenAI model behind the Messages API.
    model = unique("sdk")
    message = ant.messages.create(model=f"openai/{model}", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "echo: hi"
    assert last_request(model)["max_tokens"] == 64


def test_anthropic_tools_and_errors():
    for provider in ("anthropic", "openai"):
        model = unique("tools")
        tools = [{"name": "lookup", "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}]
        messages = [{"role": "user", "content": "define ledger"}]
        first = ant.messages.create(model=f"{provider}/{model}", max_tokens=64, tools=tools, messages=messages)
        assert first.stop_reason == "tool_use", (provider, first)
        tool_use = next(b for b in first.content if b.type == "tool_use")
        assert tool_use.name == "lookup" and tool_use.input == {"query": "define ledger"}
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
        messages.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "accounts"}]}
        )
        second = ant.messages.create(model=f"{provider}/{model}", max_tokens=64, tools=tools, messages=messages)
        assert second.content[0].text == "tool said: accounts", (provider, second)
        assert calls(model) == 2

    try:
        ant.messages.create(model="anthropic/fail-400", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a provider 400 must raise")
    except anthropic.BadRequestError as e:
        assert e.status_code == 400
        failed = execution(e.response.headers["promptledger-execution-id"])
        assert failed["status"] == "failed", failed
    try:
        ant.messages.create(model="anthropic/rate-limit", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a rate limit must raise")
    except anthropic.RateLimitError:
        pass
    bad_key = anthropic.Anthropic(base_url=URL, api_key="not-a-key", max_retries=0)
    try:
        bad_key.messages.create(model="mock/m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a bad key must raise")
    except anthropic.AuthenticationError as e:
        assert e.status_code == 401


def test_streaming_with_both_sdks():
    model = unique("stream")
    stream = oai.chat.completions.create(
        model=f"openai/{model}",
        messages=[{"role": "user", "content": "stream this"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: stream this"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.total_tokens == 5, chunks[-1]
    assert calls(model) == 1

    model = f"claude-{unique('stream')}"
    with ant.messages.stream(model=model, max_tokens=32, messages=[{"role": "user", "content": "stream that"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "echo: stream that"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 3, final

    # Tool calls arrive as deltas the SDK reassembles.
    model = unique("tools")
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    with ant.messages.stream(
        model=f"openai/{model}", max_tokens=32, tools=tools, messages=[{"role": "user", "content": "define"}]
    ) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use" and final.content[0].input == {"query": "define"}, final


def test_streams_are_relayed_as_they_arrive_and_hang_ups_recorded():
    import time

    # The fake sends a word every 250 ms: the first reaches us long before the last.
    model = f"drip-250-{unique('relay')}"
    started = time.monotonic()
    arrivals = []
    for chunk in oai.chat.completions.create(
        model=f"openai/{model}", messages=[{"role": "user", "content": "a b c d"}], stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 5 and arrivals[-1] - arrivals[0] >= 0.75, arrivals

    # The same through the Messages API from an OpenAI model, translated on the fly.
    model = f"drip-250-{unique('relay')}"
    started = time.monotonic()
    arrivals = []
    with ant.messages.stream(
        model=f"openai/{model}", max_tokens=20, messages=[{"role": "user", "content": "a b c"}]
    ) as stream:
        for _ in stream.text_stream:
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 4 and arrivals[-1] - arrivals[0] >= 0.5, arrivals

    # Hanging up mid-stream leaves a canceled run with the output received.
    model = f"drip-300-{unique('hangup')}"
    raw = oai.chat.completions.with_raw_response.create(
        model=f"openai/{model}", messages=[{"role": "user", "content": "a b c d e f"}], stream=True
    )
    execution_id = raw.headers["promptledger-execution-id"]
    stream = raw.parse()
    received = ""
    for chunk in stream:
        received += (chunk.choices[0].delta.content or "") if chunk.choices else ""
        if len(received) > 6:
            break
    stream.close()
    deadline = time.monotonic() + 10
    while True:
        e = execution(execution_id)
        if e["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert e["status"] == "canceled" and e["error"]["type"] == "client_disconnected", e
    assert e["response_text"].startswith("echo:") and len(e["response_text"]) < len("echo: a b c d e f"), e
    assert calls(model) == 1


def main():
    tests = [(name, fn) for name, fn in globals().items() if name.startswith("test_") and callable(fn)]
    failed = []
    for name, fn in tests:
        try:
            fn()
            print(f"ok   {name}")
        except Exception:
            failed.append(name)
            print(f"FAIL {name}")
            traceback.print_exc()
    passed = len(tests) - len(failed)
    print(f"gateway sdks: {passed} passed{f', {len(failed)} failed' if failed else ''} (host: {HOST})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
