#pragma once
// One request inside the server: what was asked, how to answer it, and what its access-log
// line will say. Every answer passes through here, so every one (errors too) carries the CORS
// headers and is valid JSON whatever bytes it holds.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "http/message.h"
#include "server/api_error.h"
#include "server/identity.h"

namespace hearth::server {

struct Exchange {
    Exchange(const http::Request& req, http::Responder& out) : request(req), responder(out) {}

    const http::Request& request;
    http::Responder& responder;
    std::vector<std::string> params;  // the route's {placeholders}, in order
    // Adds headers every answer carries (CORS).
    std::function<void(http::Response&)> decorate;
    // The API's error shape (chosen from the path before anything else looks at the request).
    ErrorShape error_shape = ErrorShape::OpenAI;
    // The id of the API key the request came with (ApiKeys::key_id), set at the gate; "" when
    // the server runs without keys. What a key stores only that key sees.
    std::string key_id;
    // For the access log: tokens of a generation or embedding (-1: none).
    int64_t prompt_tokens = -1;
    int64_t completion_tokens = 0;
    // Who sent it (set at the gate): scope, allowed models, limits.
    Identity identity;
    // The served model the request named (set once resolved; "" for requests of no model):
    // usage is counted per caller and model (usage_store.h).
    std::string model;
    // Of prompt_tokens, those reused from the prompt cache (the usage's cached_tokens).
    int64_t cached_tokens = 0;

    void send(http::Response response);
    void send_json(int status, const nlohmann::json& body);
    void send_error(const ApiError& error);
    // Starts a Server-Sent Events stream; false when the client is gone.
    bool begin_event_stream();
    // One SSE event ("data: JSON\n\n"); false when the client is gone.
    bool send_event(const nlohmann::json& data);
    bool send_event_text(const std::string& data);
    // An SSE event with a name ("event: NAME\ndata: JSON\n\n"), as Anthropic and the
    // Responses API stream.
    bool send_named_event(const std::string& name, const nlohmann::json& data);
    // Starts a stream of JSON lines (application/x-ndjson, as Ollama streams).
    bool begin_line_stream();
    bool send_line(const nlohmann::json& data);
    void end_stream() { responder.end_stream(); }
};

}  // namespace hearth::server
