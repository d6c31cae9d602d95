#include "server/exchange.h"

#include "server/openai_response.h"

namespace hearth::server {

void Exchange::send(http::Response response) {
    if (decorate) decorate(response);
    responder.send(std::move(response));
}

void Exchange::send_json(int status, const nlohmann::json& body) {
    send(http::Response(status, safe_dump(body), "application/json"));
}

void Exchange::send_error(const ApiError& e) {
    http::Response response(e.status(), safe_dump(e.to_json(error_shape)), "application/json");
    if (e.status() == 429 || e.status() == 503) response.set_header("Retry-After", "1");
    if (e.status() == 401) response.set_header("WWW-Authenticate", "Bearer");
    if (error_shape == ErrorShape::Anthropic)  // Anthropic's SDKs read the error's type from here
        response.set_header("x-should-retry", e.status() == 429 || e.status() >= 500 ? "true" : "false");
    for (const auto& [name, value] : e.headers()) response.set_header(name, value);
    send(std::move(response));
}

bool Exchange::begin_event_stream() {
    http::Response head(200, "", "text/event-stream");
    head.set_header("Cache-Control", "no-cache");
    head.set_header("X-Accel-Buffering", "no");  // nginx: pass events through at once
    if (decorate) decorate(head);
    return responder.begin_stream(std::move(head));
}

bool Exchange::send_event(const nlohmann::json& data) {
    return send_event_text(safe_dump(data));
}

bool Exchange::send_event_text(const std::string& data) {
    return responder.write("data: " + data + "\n\n");
}

}  // namespace hearth::server

namespace hearth::server {

bool Exchange::send_named_event(const std::string& name, const nlohmann::json& data) {
    return responder.write("event: " + name + "\ndata: " + safe_dump(data) + "\n\n");
}

bool Exchange::begin_line_stream() {
    http::Response head(200, "", "application/x-ndjson");
    head.set_header("Cache-Control", "no-cache");
    head.set_header("X-Accel-Buffering", "no");
    if (decorate) decorate(head);
    return responder.begin_stream(std::move(head));
}

bool Exchange::send_line(const nlohmann::json& data) {
    return responder.write(safe_dump(data) + "\n");
}

}  // namespace hearth::server
