#include "http/message.h"

#include <boost/beast/http/status.hpp>
#include <strings.h>

#include <cstdio>

namespace hearth::http {

namespace {

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string find_header(const Headers& headers, std::string_view name) {
    for (const auto& [key, value] : headers) {
        if (same_name(key, name)) return value;
    }
    return {};
}

void append_headers(std::string& out, const Headers& headers) {
    for (const auto& [name, value] : headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
}

std::string status_line(int status) {
    return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
}

}  // namespace

std::string Request::header(std::string_view name) const {
    return find_header(headers, name);
}

bool Request::has_header(std::string_view name) const {
    for (const auto& h : headers) {
        if (same_name(h.first, name)) return true;
    }
    return false;
}

void Response::set_header(std::string name, std::string value) {
    for (auto& h : headers) {
        if (same_name(h.first, name)) {
            h.second = std::move(value);
            return;
        }
    }
    headers.emplace_back(std::move(name), std::move(value));
}

std::string Response::header(std::string_view name) const {
    return find_header(headers, name);
}

std::string_view reason_phrase(int status) {
    if (status == 499) return "Client Closed Request";  // nginx's; not in the registry
    auto text = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
    return {text.data(), text.size()};
}

std::string serialize(const Response& response, bool keep_alive, bool head_only) {
    std::string out = status_line(response.status);
    append_headers(out, response.headers);
    out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
    out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    if (!head_only) out += response.body;
    return out;
}

std::string serialize_stream_head(const Response& head, bool keep_alive) {
    std::string out = status_line(head.status);
    append_headers(out, head.headers);
    out += "Transfer-Encoding: chunked\r\n";
    out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    return out;
}

std::string chunk(std::string_view data) {
    char size[20];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string out(size, static_cast<size_t>(n));
    out += data;
    out += "\r\n";  // after the data; with no data, the end of the last chunk
    return out;
}

}  // namespace hearth::http
