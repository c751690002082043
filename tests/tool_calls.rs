//! Tool calls through Alice's `/v1/chat/completions`, over real HTTP, with the upstream
//! simulator as an OpenAI-compatible backend and as an Ollama one: the client offers tools and
//! gets the model's calls back (streamed and not) in OpenAI's shape, sends the results as
//! `tool` messages and gets the final text, which quotes the result. The simulator's record
//! shows what reached the backend, in its own protocol's shape. Requests offering tools are
//! never answered from the response cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_core::BackendKind;
use alice_upstream_sim::{Api, Faults, SimHandle, ToolCalling, ToolRule};
use common::{Alice, config, start_sim};
use serde_json::{Value, json};

const QUESTION: &str = "Hur är vädret i Umeå?";
const RESULT: &str = "Snö, -8 grader";

/// The simulator calls `weather` with `{"city": "Umeå"}` when offered it.
fn weather_rule() -> Faults {
    Faults {
        tool_calls: ToolCalling::Rules(vec![ToolRule {
            tool: "weather".into(),
            arguments: json!({"city": "Umeå"}),
        }]),
        ..Faults::default()
    }
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {
            "name": "weather",
            "description": "Vädret i en stad just nu",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"]},
        }},
        {"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}},
    ])
}

async fn alice_in_front(kind: BackendKind, cache: bool) -> (Alice, SimHandle, tempfile::TempDir) {
    let sim = start_sim(weather_rule()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    if kind == BackendKind::Openai {
        settings.backends[0].name = "cloud".into();
        settings.backends[0].kind = BackendKind::Openai;
        settings.backends[0].url = format!("{}/v1", sim.base_url());
    }
    settings.cache.enabled = cache;
    (Alice::start(settings).await, sim, dir)
}

/// A request of the round: the messages so far, the tools, streamed or not.
fn body(messages: &[Value], stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "messages": messages, "tools": tools(), "stream": stream})
}

/// What one answer said, streamed or not: its text (None for `content: null`), its calls in
/// the shape of a whole answer's `message.tool_calls`, and its finish reason.
struct Said {
    text: Option<String>,
    calls: Vec<Value>,
    finish: String,
}

async fn ask(alice: &Alice, messages: &[Value], stream: bool) -> Said {
    let response = alice
        .http
        .post(alice.url("/v1/chat/completions"))
        .json(&body(messages, stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    if stream {
        return streamed(&text);
    }
    let reply: Value = serde_json::from_str(&text).unwrap();
    let choice = &reply["choices"][0];
    Said {
        text: choice["message"]["content"].as_str().map(str::to_owned),
        calls: choice["message"]["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        finish: choice["finish_reason"].as_str().unwrap().to_owned(),
    }
}

/// Reads a streamed answer as an SDK does: text joined, call fragments joined by `index`.
fn streamed(body: &str) -> Said {
    let data: Vec<&str> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{body}");
    let mut text = String::new();
    let mut calls: Vec<Value> = Vec::new();
    let mut finish = None;
    for chunk in &data[..data.len() - 1] {
        let chunk: Value = serde_json::from_str(chunk).unwrap();
        let choice = &chunk["choices"][0];
        if let Some(reason) = choice["finish_reason"].as_str() {
            finish = Some(reason.to_owned());
        }
        text.push_str(choice["delta"]["content"].as_str().unwrap_or(""));
        for fragment in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = fragment["index"].as_u64().unwrap() as usize;
            if calls.len() <= index {
                calls.resize(index + 1, json!({"function": {"arguments": ""}}));
            }
            let call = &mut calls[index];
            for field in ["id", "type"] {
                if let Some(value) = fragment.get(field) {
                    call[field] = value.clone();
                }
            }
            if let Some(name) = fragment["function"].get("name") {
                call["function"]["name"] = name.clone();
            }
            let more = fragment["function"]["arguments"].as_str().unwrap_or("");
            let joined = format!("{}{more}", call["function"]["arguments"].as_str().unwrap());
            call["function"]["arguments"] = json!(joined);
        }
    }
    Said {
        text: Some(text).filter(|t| !t.is_empty()),
        calls,
        finish: finish.expect("a chunk with the finish reason"),
    }
}

/// The whole round through Alice: the question with tools, the model's call, the result sent
/// back, the final text. Returns the call's id.
async fn round(alice: &Alice, stream: bool) -> String {
    let question = json!({"role": "user", "content": QUESTION});
    let called = ask(alice, std::slice::from_ref(&question), stream).await;
    assert_eq!(called.finish, "tool_calls");
    assert_eq!(called.text, None, "a call alone has no text");
    assert_eq!(called.calls.len(), 1, "{:?}", called.calls);
    let call = &called.calls[0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"city": "Umeå"}));
    let id = call["id"].as_str().unwrap().to_owned();
    assert!(!id.is_empty());

    let messages = [
        question,
        json!({"role": "assistant", "content": null, "tool_calls": called.calls}),
        json!({"role": "tool", "tool_call_id": id, "content": RESULT}),
    ];
    let answered = ask(alice, &messages, stream).await;
    assert_eq!(answered.finish, "stop");
    assert!(answered.calls.is_empty());
    let text = answered.text.unwrap();
    assert!(
        text.contains(&format!("Verktyget svarade: \"{RESULT}\"")),
        "the answer quotes the tool's result: {text}"
    );
    id
}

/// The backend saw the tools, and in the second request the call and its result.
fn check_backend_saw_the_round(sim: &SimHandle, api: Api) {
    let requests = sim.requests();
    let [first, second] = &requests[requests.len() - 2..] else {
        unreachable!()
    };
    for request in [first, second] {
        assert_eq!(request.api, api);
        let names: Vec<&str> = request
            .tools
            .iter()
            .map(|tool| tool["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["weather", "clock"]);
        assert_eq!(request.tools[0]["type"], "function");
        assert_eq!(
            request.tools[0]["function"]["parameters"]["required"],
            json!(["city"])
        );
    }
    let roles: Vec<&str> = second.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    let assistant = &second.messages[2];
    let result = &second.messages[3];
    assert_eq!(result.content, RESULT);
    let call = &assistant.tool_calls[0]["function"];
    assert_eq!(call["name"], "weather");
    match api {
        // OpenAI's shape: the arguments as JSON text, the result naming the call.
        Api::OpenAi => {
            assert_eq!(call["arguments"], r#"{"city":"Umeå"}"#);
            assert_eq!(
                assistant.tool_calls[0]["id"],
                result.tool_call_id.clone().unwrap()
            );
        }
        // Ollama's: the arguments as an object, the result naming the tool.
        Api::Ollama => {
            assert_eq!(call["arguments"], json!({"city": "Umeå"}));
            assert_eq!(result.tool_name.as_deref(), Some("weather"));
        }
    }
}

#[tokio::test]
async fn a_tool_round_through_an_openai_backend() {
    let (alice, sim, _dir) = alice_in_front(BackendKind::Openai, false).await;
    for stream in [false, true] {
        round(&alice, stream).await;
        check_backend_saw_the_round(&sim, Api::OpenAi);
    }
    alice.stop().await;
}

#[tokio::test]
async fn a_tool_round_through_an_ollama_backend() {
    let (alice, sim, _dir) = alice_in_front(BackendKind::Ollama, false).await;
    for stream in [false, true] {
        let id = round(&alice, stream).await;
        // Ollama gives its calls no id; the decoder names them by their place.
        assert_eq!(id, "call_0");
        check_backend_saw_the_round(&sim, Api::Ollama);
    }
    alice.stop().await;
}

#[tokio::test]
async fn tool_choice_goes_to_an_openai_backend_and_none_gets_text() {
    let (alice, sim, _dir) = alice_in_front(BackendKind::Openai, false).await;
    let question = json!([{"role": "user", "content": QUESTION}]);
    let named = json!({"type": "function", "function": {"name": "weather"}});
    for (choice, finish) in [(named.clone(), "tool_calls"), (json!("none"), "stop")] {
        let mut request = body(question.as_array().unwrap(), false);
        request["tool_choice"] = choice.clone();
        let (status, reply) = alice.post("/v1/chat/completions", request).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["choices"][0]["finish_reason"], finish, "{reply}");
        assert_eq!(sim.requests().last().unwrap().tool_choice, Some(choice));
    }
    alice.stop().await;
}

#[tokio::test]
async fn requests_offering_tools_are_never_answered_from_the_cache() {
    let (alice, sim, _dir) = alice_in_front(BackendKind::Ollama, true).await;
    // A question the classifier would let the cache keep, asked twice with tools, and twice
    // with tools the simulator does not call (so the answer is text).
    let question = json!([{"role": "user", "content": "Vad är Sveriges huvudstad?"}]);
    for tools in [
        tools(),
        json!([{"type": "function", "function": {"name": "clock"}}]),
    ] {
        sim.set_faults(weather_rule());
        let before = sim.requests().len();
        for _ in 0..2 {
            let mut request = body(question.as_array().unwrap(), false);
            request["tools"] = tools.clone();
            let (status, reply) = alice.post("/v1/chat/completions", request).await;
            assert_eq!(status, 200, "{reply}");
        }
        assert_eq!(
            sim.requests().len(),
            before + 2,
            "each request reached the backend"
        );
    }
    // Without tools the same question is answered from the cache the second time.
    let before = sim.requests().len();
    for _ in 0..2 {
        let request = json!({"model": "m", "messages": question});
        let (status, _) = alice.post("/v1/chat/completions", request).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        sim.requests().len(),
        before + 1,
        "the cache answered the repeat"
    );
    alice.stop().await;
}

#[tokio::test]
async fn tool_choice_none_offers_an_ollama_backend_no_tools() {
    // Ollama has no tool_choice: "none" is kept by not offering the tools at all.
    let (alice, sim, _dir) = alice_in_front(BackendKind::Ollama, false).await;
    let question = json!([{"role": "user", "content": QUESTION}]);
    let mut request = body(question.as_array().unwrap(), false);
    request["tool_choice"] = json!("none");
    let (status, reply) = alice.post("/v1/chat/completions", request).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["choices"][0]["finish_reason"], "stop", "{reply}");
    let sent = sim.requests();
    assert!(sent.last().unwrap().tools.is_empty(), "{:?}", sent.last());
    alice.stop().await;
}
