#include "http/request_reader.h"

#include <strings.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>

#include "core/utf8.h"

namespace hearth::http {

namespace bhttp = boost::beast::http;

struct RequestReader::Parser {
    bhttp::request_parser<bhttp::string_body> p;
};

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Beast's string_view (Boost 1.74's own type) as the standard one.
template <typename View>
std::string_view view(const View& v) {
    return {v.data(), v.size()};
}

}  // namespace

bool percent_decode(std::string_view raw, std::string& out, std::string& error) {
    out.clear();
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '%') {
            out += raw[i];
            continue;
        }
        const int hi = i + 2 < raw.size() ? hex_value(raw[i + 1]) : -1;
        const int lo = hi >= 0 ? hex_value(raw[i + 2]) : -1;
        if (lo < 0) {
            error = "has a bad %-escape";
            return false;
        }
        const char c = static_cast<char>(hi * 16 + lo);
        if (c == '\0') {
            error = "holds a NUL byte";
            return false;
        }
        out += c;
        i += 2;
    }
    return true;
}

std::optional<std::string> query_value(std::string_view query, std::string_view name) {
    size_t pos = 0;
    while (pos <= query.size()) {
        size_t amp = query.find('&', pos);
        if (amp == std::string_view::npos) amp = query.size();
        std::string_view pair = query.substr(pos, amp - pos);
        const size_t eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            std::string raw(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
            for (char& c : raw) {
                if (c == '+') c = ' ';  // a form's space
            }
            std::string value, error;
            if (!percent_decode(raw, value, error)) return raw;
            return value;
        }
        pos = amp + 1;
    }
    return std::nullopt;
}

bool split_target(std::string_view target, std::string& path, std::string& query,
                  std::string& error) {
    std::string_view t = target;
    if (t == "*") {
        path = "*";
        query.clear();
        return true;
    }
    // Absolute form ("http://host:port/path"), which proxies send: keep the path.
    if (t.size() > 7 && (strncasecmp(t.data(), "http://", 7) == 0 ||
                         strncasecmp(t.data(), "https://", 8) == 0)) {
        const size_t slash = t.find('/', t.find("://") + 3);
        t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
    }
    if (t.empty() || t[0] != '/') {
        error = "the request target must be a path starting with '/'";
        return false;
    }
    const size_t q = t.find('?');
    query = q == std::string_view::npos ? std::string() : std::string(t.substr(q + 1));
    if (!percent_decode(t.substr(0, q), path, error)) {
        error = "the request path " + error;
        return false;
    }
    if (!utf8::is_valid(path)) {
        error = "the request path is not valid UTF-8 (after %-decoding)";
        return false;
    }
    return true;
}

RequestReader::RequestReader(ReadLimits limits) : limits_(limits) {
    start_next();
}

RequestReader::~RequestReader() = default;
RequestReader::RequestReader(RequestReader&&) noexcept = default;

void RequestReader::start_next() {
    parser_ = std::make_unique<Parser>();
    parser_->p.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    parser_->p.body_limit(static_cast<std::uint64_t>(limits_.max_body_bytes));
    parser_->p.eager(true);
    consumed_ = 0;
    target_checked_ = false;
    status_ = Status::Empty;
}

void RequestReader::fail(int status, std::string message) {
    status_ = Status::Failed;
    error_status_ = status;
    error_message_ = std::move(message);
    buffer_.clear();
}

void RequestReader::feed(std::string_view bytes) {
    if (status_ == Status::Failed) return;
    buffer_.append(bytes);
    parse();
}

void RequestReader::parse() {
    if (status_ == Status::Complete || status_ == Status::Failed) return;
    // Blank lines between requests are allowed (RFC 9112, 2.2) and do not start one.
    if (status_ == Status::Empty) {
        size_t skip = 0;
        while (skip < buffer_.size() && (buffer_[skip] == '\r' || buffer_[skip] == '\n')) ++skip;
        buffer_.erase(0, skip);
    }
    while (!buffer_.empty()) {
        status_ = Status::Partial;
        boost::beast::error_code ec;
        const size_t used = parser_->p.put(boost::asio::buffer(buffer_.data(), buffer_.size()), ec);
        buffer_.erase(0, used);
        consumed_ += used;
        if (ec == bhttp::error::need_more) break;
        if (ec == bhttp::error::header_limit) {
            return fail(431, "the request head is larger than " +
                                 std::to_string(limits_.max_header_bytes) + " bytes");
        }
        if (ec == bhttp::error::body_limit) {
            return fail(413, "the request body is larger than the server's limit of " +
                                 std::to_string(limits_.max_body_bytes) + " bytes");
        }
        if (ec) return fail(400, "malformed HTTP request: " + ec.message());
        if (!target_checked_ && parser_->p.is_header_done()) {
            target_checked_ = true;
            std::string error;
            if (!split_target(view(parser_->p.get().target()), path_, query_, error))
                return fail(400, error);
        }
        if (parser_->p.is_done()) {
            status_ = Status::Complete;
            return;
        }
        if (used == 0) break;
    }
}

bool RequestReader::head_done() const {
    return parser_->p.is_header_done();
}

bool RequestReader::expects_continue() const {
    if (status_ != Status::Partial || !parser_->p.is_header_done() || parser_->p.is_done())
        return false;
    const auto& fields = parser_->p.get();
    auto it = fields.find(bhttp::field::expect);
    return it != fields.end() && strncasecmp(it->value().data(), "100-continue", 12) == 0 &&
           it->value().size() == 12;
}

Request RequestReader::take() {
    auto& msg = parser_->p.get();
    Request r;
    r.method = std::string(view(msg.method_string()));
    r.target = std::string(view(msg.target()));
    r.version = static_cast<int>(msg.version());
    r.keep_alive = parser_->p.keep_alive();
    for (const auto& field : msg) {
        r.headers.emplace_back(lower(view(field.name_string())), std::string(view(field.value())));
    }
    r.body = std::move(msg.body());
    r.path = std::move(path_);
    r.query = std::move(query_);
    start_next();
    parse();  // a pipelined request may already be here
    return r;
}

}  // namespace hearth::http
