"""Alice's /v1 API through the official `openai` Python SDK, unchanged.

Usage: python openai_sdk_check.py http://127.0.0.1:PORT/v1 ALICE_API_KEY LIMITED_KEY

Run by tests/openai_sdk.rs (with Alice in front of the upstream simulator); it exits non-zero
with a message saying which check failed and why, and prints "openai sdk: 5 checks passed"
when all pass.
"""

import sys

QUESTION = "Vad är Sveriges huvudstad?"
MESSAGES = [{"role": "user", "content": QUESTION}]


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
        a_wrong_key_raises(openai, sys.argv[1])
        over_the_limit_raises(openai, sys.argv[1], sys.argv[3])
    except openai.APIError as error:
        fail(f"the SDK raised {type(error).__name__}: {error}")
    print("openai sdk: 5 checks passed")


if __name__ == "__main__":
    main()
