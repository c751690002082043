"""Alice's /v1 API through the official `openai` Python SDK, unchanged.

Usage: python openai_sdk_check.py http://127.0.0.1:PORT/v1 ALICE_API_KEY LIMITED_KEY

Run by tests/openai_sdk.rs (with Alice in front of the upstream simulator); it exits non-zero
with a message saying which check failed and why, and prints "openai sdk: 7 checks passed"
when all pass. The simulator calls the first tool it is offered, with `{}` arguments, and
after a tool's result answers with text quoting it.
"""

import sys

QUESTION = "Vad är Sveriges huvudstad?"
MESSAGES = [{"role": "user", "content": QUESTION}]
TOOLS = [{
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Vädret i en stad just nu",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}]
TOOL_RESULT = "Snö, -8 grader"


def fail(message):
    print(f"openai sdk check FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def plain_answer(client):
    """(a) A non-streamed answer that quotes the question (the simulator quotes it back)."""
    reply = client.chat.completions.create(model="alice", messages=MESSAGES)
    check(len(reply.choices) == 1, f"expected one choice, got {reply.choices!r}")
    answer = reply.choices[0].message.content
    check(bool(answer), f"the answer is empty: {reply!r}")
    check(QUESTION in answer, f"the answer does not contain the question: {answer!r}")
    check(reply.choices[0].finish_reason == "stop", f"finish_reason: {reply!r}")
    check(reply.usage is not None and reply.usage.completion_tokens > 0, f"usage: {reply!r}")
    return answer


def streamed_answer(client, expected):
    """(b) A streamed answer with usage: the deltas join to the non-streamed answer."""
    stream = client.chat.completions.create(
        model="alice",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    joined = "".join(parts)
    check(joined == expected, f"streamed {joined!r}, not streamed {expected!r}")
    check(finish == "stop", f"finish_reason of the stream: {finish!r}")
    check(usage is not None, "no usage chunk arrived although include_usage was asked for")
    check(
        usage.completion_tokens > 0
        and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens,
        f"usage does not add up: {usage!r}",
    )


def bad_requests_raise(client, openai):
    """(c) Invalid requests raise BadRequestError (400) with Alice's message."""
    for name, arguments in [
        ("n=2", {"messages": MESSAGES, "n": 2}),
        ("empty messages", {"messages": []}),
        ("legacy functions", {"messages": MESSAGES, "extra_body": {"functions": [{"name": "f"}]}}),
    ]:
        try:
            client.chat.completions.create(model="alice", **arguments)
        except openai.BadRequestError as error:
            check(error.status_code == 400, f"{name}: status {error.status_code}")
            body = error.body if isinstance(error.body, dict) else {}
            check(bool(body.get("message")), f"{name}: no message in {error.body!r}")
            check(body.get("type") == "invalid_request_error", f"{name}: {error.body!r}")
        else:
            fail(f"{name} was accepted; expected openai.BadRequestError")


def tool_round(client, stream):
    """(f, g) The SDK's tool-calling loop: offer a tool, read the call from message.tool_calls
    (or join it from the stream's delta.tool_calls), run it, append the assistant message and
    the tool message, ask again, and get the final answer quoting the result."""
    what = "streamed" if stream else "not streamed"
    messages = list(MESSAGES)
    if stream:
        calls, finish = {}, None
        for chunk in client.chat.completions.create(
            model="alice", messages=messages, tools=TOOLS, stream=True
        ):
            for choice in chunk.choices:
                for fragment in choice.delta.tool_calls or []:
                    call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] = fragment.id or call["id"]
                    if fragment.function is not None:
                        call["name"] = fragment.function.name or call["name"]
                        call["arguments"] += fragment.function.arguments or ""
                if choice.finish_reason:
                    finish = choice.finish_reason
        calls = [calls[index] for index in sorted(calls)]
        content = None
    else:
        reply = client.chat.completions.create(model="alice", messages=messages, tools=TOOLS)
        message = reply.choices[0].message
        finish = reply.choices[0].finish_reason
        content = message.content
        calls = [
            {"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
            for call in message.tool_calls or []
        ]
    check(finish == "tool_calls", f"{what}: finish_reason {finish!r}, expected tool_calls")
    check(content is None, f"{what}: a call alone has content {content!r}")
    check(len(calls) == 1, f"{what}: expected one call, got {calls!r}")
    call = calls[0]
    check(call["name"] == "weather" and call["id"], f"{what}: the call {call!r}")
    import json
    check(json.loads(call["arguments"]) == {}, f"{what}: arguments {call['arguments']!r}")
    messages.append({
        "role": "assistant",
        "content": None,
        "tool_calls": [{
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": call["arguments"]},
        }],
    })
    messages.append({"role": "tool", "tool_call_id": call["id"], "content": TOOL_RESULT})
    if stream:
        parts, finish = [], None
        for chunk in client.chat.completions.create(
            model="alice", messages=messages, tools=TOOLS, stream=True
        ):
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
                check(not choice.delta.tool_calls, f"{what}: a second call {choice.delta!r}")
                finish = choice.finish_reason or finish
        answer = "".join(parts)
    else:
        reply = client.chat.completions.create(model="alice", messages=messages, tools=TOOLS)
        answer = reply.choices[0].message.content or ""
        finish = reply.choices[0].finish_reason
        check(not reply.choices[0].message.tool_calls, f"{what}: a second call {reply!r}")
    check(finish == "stop", f"{what}: final finish_reason {finish!r}")
    check(TOOL_RESULT in answer, f"{what}: the final answer does not quote the result: {answer!r}")


def a_wrong_key_raises(openai, base_url):
    """(d) Without a valid Alice key the SDK raises AuthenticationError (401)."""
    stranger = openai.OpenAI(base_url=base_url, api_key="sk-not-an-alice-key", max_retries=0, timeout=30)
    try:
        stranger.chat.completions.create(model="alice", messages=MESSAGES)
    except openai.AuthenticationError as error:
        check(error.status_code == 401, f"wrong key: status {error.status_code}")
        body = error.body if isinstance(error.body, dict) else {}
        check("Bearer" in (body.get("message") or ""), f"wrong key: {error.body!r}")
    else:
        fail("a request with a wrong key was answered; expected openai.AuthenticationError")


def over_the_limit_raises(openai, base_url, limited_key):
    """(e) A key over its requests per minute raises RateLimitError (429), with OpenAI's headers."""
    client = openai.OpenAI(base_url=base_url, api_key=limited_key, max_retries=0, timeout=30)
    client.chat.completions.create(model="alice", messages=MESSAGES)
    try:
        client.chat.completions.create(model="alice", messages=MESSAGES)
    except openai.RateLimitError as error:
        headers = error.response.headers
        check(error.status_code == 429, f"limit: status {error.status_code}")
        check(headers.get("x-ratelimit-limit-requests") == "1", f"limit: headers {dict(headers)!r}")
        check(headers.get("x-ratelimit-remaining-requests") == "0", f"limit: headers {dict(headers)!r}")
        check(int(headers.get("retry-after", "0")) >= 1, f"limit: headers {dict(headers)!r}")
    else:
        fail("a second request of a key limited to one per minute was answered; expected openai.RateLimitError")


def main():
    if len(sys.argv) != 4:
        fail("usage: openai_sdk_check.py BASE_URL API_KEY LIMITED_KEY (a key limited to 1 request per minute)")
    try:
        import openai
    except ImportError:
        fail(f"the openai package is not installed for {sys.executable}; "
             "install it with: pip install 'openai>=1.50,<3'")
    client = openai.OpenAI(
        base_url=sys.argv[1], api_key=sys.argv[2], max_retries=0, timeout=30
    )
    try:
        answer = plain_answer(client)
        streamed_answer(client, answer)
        bad_requests_raise(client, openai)
        tool_round(client, stream=False)
        tool_round(client, stream=True)
        a_wrong_key_raises(openai, sys.argv[1])
        over_the_limit_raises(openai, sys.argv[1], sys.argv[3])
    except openai.APIError as error:
        fail(f"the SDK raised {type(error).__name__}: {error}")
    print("openai sdk: 7 checks passed")


if __name__ == "__main__":
    main()
