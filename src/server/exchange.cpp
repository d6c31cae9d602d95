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
    http::Response response(e.status(), safe_dump(e.to_json()), "application/json");
    if (e.status() == 429 || e.status() == 503) response.set_header("Retry-After", "1");
    if (e.status() == 401) response.set_header("WWW-Authenticate", "Bearer");
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
