#include "server/federation.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "core/utf8.h"

namespace hearth::server {

namespace {

using nlohmann::json;

bool same_name(const std::string& a, const std::string& b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

// Request headers a relay leaves out: the connection's own (hop-by-hop, length, host), the
// caller's credentials (checked here, never passed on), CORS (checked here too) and the
// federation's own, which the relay sets itself.
bool stays_here(const std::string& name) {
    static const std::set<std::string> dropped = {
        "host",          "content-length", "transfer-encoding", "connection", "keep-alive",
        "te",            "upgrade",        "expect",            "proxy-authorization",
        "authorization", "x-api-key",      "cookie",            "origin",
        "content-type",  "accept-encoding", "x-forwarded-for", kPeerKeyHeader, kHopHeader};
    return dropped.count(name) > 0 || name.rfind("access-control-", 0) == 0;
}

// Answer headers a relay leaves out: framing (this server frames the answer anew), headers
// this server's front sets itself, and CORS (the caller gets this server's).
bool framing_or_cors(const std::string& name) {
    static const std::set<std::string> dropped = {"connection", "transfer-encoding",
                                                  "content-length", "keep-alive", "date",
                                                  "server", "vary"};
    return dropped.count(name) > 0 || name.rfind("access-control-", 0) == 0;
}

std::string random_instance_id() {
    unsigned char bytes[12];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw Error("no random bytes for the instance id");
    static const char* hex = "0123456789abcdef";
    std::string id;
    for (unsigned char b : bytes) {
        id += hex[b >> 4];
        id += hex[b & 15];
    }
    return id;
}

hub::HttpSettings poll_settings() {
    hub::HttpSettings s;
    s.connect_timeout_s = 2;
    s.stall_timeout_s = 5;
    s.total_timeout_s = 5;
    s.use_proxy = false;  // peers are reached directly
    return s;
}

hub::HttpSettings relay_settings() {
    hub::HttpSettings s;
    s.connect_timeout_s = 5;
    // A non-streamed generation sends nothing until it is done.
    s.stall_timeout_s = 3600;
    s.use_proxy = false;
    return s;
}

// Thrown from the relay's callbacks when the caller hung up: stops the transfer.
struct CallerGone {};
// Thrown from the relay's head hook when the peer answers 503 (shutting down, not ready): it
// cannot serve now, and another peer may.
struct PeerUnavailable {};

int64_t int_field(const json& object, const char* name) {
    auto it = object.find(name);
    if (it == object.end()) return 0;
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
        throw Error(std::string("peer state: '") + name + "' must be a count");
    return it->get<int64_t>();
}

}  // namespace

const PeerModel* PeerStatus::find(const std::string& name) const {
    for (const PeerModel& m : models) {
        if (same_name(m.name, name)) return &m;
        for (const std::string& alias : m.aliases) {
            if (same_name(alias, name)) return &m;
        }
    }
    return nullptr;
}

int64_t PeerStatus::load() const {
    int64_t n = 0;
    for (const PeerModel& m : models) n += m.waiting + m.running;
    return n;
}

std::vector<size_t> rank_peers(const std::vector<PeerStatus>& peers, const std::string& model) {
    struct Candidate {
        size_t index;
        int64_t model_load;
        int64_t peer_load;
    };
    std::vector<Candidate> candidates;
    for (size_t i = 0; i < peers.size(); ++i) {
        const PeerStatus& p = peers[i];
        if (!p.healthy || p.self) continue;
        const PeerModel* m = p.find(model);
        if (!m || m->saturated) continue;
        candidates.push_back({i, m->waiting + m->running + p.in_flight, p.load() + p.in_flight});
    }
    std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
        if (a.model_load != b.model_load) return a.model_load < b.model_load;
        return a.peer_load < b.peer_load;
    });
    std::vector<size_t> order;
    for (const Candidate& c : candidates) order.push_back(c.index);
    return order;
}

json peer_state_json(const std::string& instance, const std::vector<PeerModel>& models) {
    json list = json::array();
    for (const PeerModel& m : models) {
        list.push_back({{"name", m.name},
                        {"aliases", m.aliases},
                        {"waiting", m.waiting},
                        {"running", m.running},
                        {"saturated", m.saturated}});
    }
    return {{"instance", instance}, {"models", std::move(list)}};
}

PeerState parse_peer_state(const std::string& body) {
    json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) throw Error("peer state: not a JSON object");
    PeerState state;
    if (auto it = doc.find("instance"); it != doc.end() && it->is_string()) state.instance = it->get<std::string>();
    auto models = doc.find("models");
    if (models == doc.end() || !models->is_array()) throw Error("peer state: no 'models' list");
    for (const json& m : *models) {
        if (!m.is_object() || !m.contains("name") || !m["name"].is_string())
            throw Error("peer state: a model without a 'name'");
        PeerModel pm;
        pm.name = m["name"].get<std::string>();
        if (auto a = m.find("aliases"); a != m.end()) {
            if (!a->is_array()) throw Error("peer state: 'aliases' must be a list");
            for (const json& alias : *a) {
                if (!alias.is_string()) throw Error("peer state: an alias is not a string");
                pm.aliases.push_back(alias.get<std::string>());
            }
        }
        pm.waiting = int_field(m, "waiting");
        pm.running = int_field(m, "running");
        if (auto s = m.find("saturated"); s != m.end()) {
            if (!s->is_boolean()) throw Error("peer state: 'saturated' must be true or false");
            pm.saturated = s->get<bool>();
        }
        state.models.push_back(std::move(pm));
    }
    return state;
}

std::string normalize_peer_url(const std::string& raw) {
    std::string url = raw;
    while (!url.empty() && url.back() == '/') url.pop_back();
    const size_t scheme_end = url.find("://");
    const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
    const std::string rest = scheme_end == std::string::npos ? "" : url.substr(scheme_end + 3);
    if ((scheme != "http" && scheme != "https") || rest.empty() ||
        rest.find_first_of("/?# \t") != std::string::npos) {
        throw Error("peer '" + raw + "' is not a peer URL: give http://HOST:PORT or https://HOST:PORT "
                    "(the base of another hearth server, no path)");
    }
    return url;
}

Federation::Federation(FederationOptions options)
    : options_(std::move(options)),
      instance_(random_instance_id()),
      poll_http_(poll_settings()),
      relay_http_(relay_settings()) {
    if (options_.peer_key.size() < kMinPeerKeyLength) {
        throw Error("the peer key must have at least " + std::to_string(kMinPeerKeyLength) +
                    " characters (--peer-key or HEARTH_PEER_KEY; the same on every peer), e.g. "
                    "from `openssl rand -hex 32`");
    }
    for (const std::string& url : options_.peers) {
        PeerStatus p;
        p.url = normalize_peer_url(url);
        p.last_error = "not polled yet";
        peers_.push_back(std::move(p));
    }
    if (!peers_.empty()) poller_ = std::thread([this] { poll_loop(); });
}

Federation::~Federation() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    stop_cv_.notify_all();
    if (poller_.joinable()) poller_.join();
}

bool Federation::accepts_key(const std::string& offered) const {
    const std::string& key = options_.peer_key;
    // The length is no secret worth hiding; the content is compared in constant time.
    return offered.size() == key.size() &&
           CRYPTO_memcmp(offered.data(), key.data(), key.size()) == 0;
}

std::vector<PeerStatus> Federation::peers() const {
    std::lock_guard lock(mutex_);
    return peers_;
}

bool Federation::known(const std::string& model) const {
    std::lock_guard lock(mutex_);
    return std::any_of(peers_.begin(), peers_.end(), [&](const PeerStatus& p) {
        return !p.self && p.find(model) != nullptr;
    });
}

std::map<std::string, std::vector<std::string>> Federation::remote_models() const {
    std::lock_guard lock(mutex_);
    std::map<std::string, std::vector<std::string>> out;
    for (const PeerStatus& p : peers_) {
        if (!p.healthy || p.self) continue;
        for (const PeerModel& m : p.models) out[m.name].push_back(p.url);
    }
    return out;
}

void Federation::poll_loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        poll_all();
        lock.lock();
        stop_cv_.wait_for(lock, options_.poll_interval, [this] { return stopping_; });
    }
}

void Federation::poll_all() {
    for (size_t i = 0; i < peers_.size(); ++i) {
        const std::string url = peers_[i].url;  // fixed after construction
        try {
            const hub::HttpResponse r = poll_http_.relay(
                "GET", url + kPeerStatePath,
                {std::string(kPeerKeyHeader) + ": " + options_.peer_key}, nullptr);
            if (r.status != 200) {
                std::string why = "answered " + std::to_string(r.status) + " to " + kPeerStatePath;
                if (r.status == 401) why += " (is the peer key the same on both servers?)";
                record_poll(i, nullptr, why);
                continue;
            }
            const PeerState state = parse_peer_state(r.body);
            record_poll(i, &state, "");
        } catch (const std::exception& e) {  // whatever it is, the poll thread goes on
            record_poll(i, nullptr, e.what());
        }
    }
}

void Federation::record_poll(size_t index, const PeerState* state, const std::string& error) {
    std::lock_guard lock(mutex_);
    PeerStatus& p = peers_[index];
    if (!state) {
        if (p.healthy || p.last_error == "not polled yet")
            log::warn("peer {} is down: {}", p.url, utf8::escape_for_log(error));
        p.healthy = false;
        p.last_error = error;
        return;  // its models stay known (a request for them gets 503, not 404)
    }
    if (state->instance == instance_) {
        if (!p.self) log::info("peer {} is this server; skipping it", p.url);
        p.self = true;
        p.healthy = false;
        p.models.clear();
        return;
    }
    if (!p.healthy) log::info("peer {} is up: {} model(s)", p.url, state->models.size());
    p.self = false;
    p.healthy = true;
    p.last_error.clear();
    p.models = state->models;
}

void Federation::mark_down(size_t index, const std::string& why) {
    std::lock_guard lock(mutex_);
    PeerStatus& p = peers_[index];
    if (p.healthy) log::warn("peer {} is down: {}; skipped until it answers a poll", p.url, why);
    p.healthy = false;
    p.last_error = why;
}

bool Federation::forward(Exchange& ex, const std::string& model) {
    std::set<size_t> tried;
    for (;;) {
        size_t index = 0;
        std::string url;
        {
            std::lock_guard lock(mutex_);
            const std::vector<size_t> ranked = rank_peers(peers_, model);
            auto next = std::find_if(ranked.begin(), ranked.end(),
                                     [&](size_t i) { return !tried.count(i); });
            if (next == ranked.end()) return false;
            index = *next;
            url = peers_[index].url;
            ++peers_[index].in_flight;
        }
        tried.insert(index);
        std::string failure;
        try {
            failure = relay_to(ex, url);
        } catch (...) {
            std::lock_guard lock(mutex_);
            --peers_[index].in_flight;
            throw;
        }
        {
            std::lock_guard lock(mutex_);
            --peers_[index].in_flight;
        }
        if (failure.empty()) return true;
        log::warn("relaying {} for '{}' to peer {} failed before its answer began: {}",
                  utf8::escape_for_log(ex.request.path), utf8::escape_for_log(model), url,
                  utf8::escape_for_log(failure));
        mark_down(index, failure);
    }
}

std::string Federation::relay_to(Exchange& ex, const std::string& base) {
    const http::Request& req = ex.request;
    std::vector<std::string> headers;
    for (const auto& [name, value] : req.headers) {
        if (!stays_here(name)) headers.push_back(name + ": " + value);
    }
    headers.push_back(std::string(kPeerKeyHeader) + ": " + options_.peer_key);
    headers.push_back(std::string(kHopHeader) + ": 1");
    const std::string earlier_hops = req.header("x-forwarded-for");
    headers.push_back("x-forwarded-for: " + (earlier_hops.empty() ? "" : earlier_hops + ", ") +
                      req.remote_addr);

    bool head_seen = false;
    bool streaming = false;  // the answer is passed on chunk by chunk (else sent whole)
    http::Response whole;
    const hub::Http::HeadHook on_head = [&](long status,
                                            const std::map<std::string, std::string>& peer_headers) {
        if (status == 503) throw PeerUnavailable{};
        head_seen = true;
        http::Response head;
        head.status = static_cast<int>(status);
        for (const auto& [name, value] : peer_headers) {
            if (!framing_or_cors(name)) head.headers.emplace_back(name, value);
        }
        head.set_header(kServedByHeader, base);
        if (ex.decorate) ex.decorate(head);
        // An answer of known length (a whole JSON body) keeps its length; streams (SSE,
        // NDJSON) go on as chunks as they arrive.
        streaming = peer_headers.count("content-length") == 0;
        if (!streaming) {
            whole = std::move(head);
        } else if (!ex.responder.begin_stream(std::move(head))) {
            throw CallerGone{};
        }
    };
    const hub::Http::Sink sink = [&](const char* data, size_t size) {
        if (!streaming) {
            whole.body.append(data, size);
        } else if (!ex.responder.write(std::string_view(data, size))) {
            throw CallerGone{};
        }
    };
    std::string content_type = req.header("content-type");
    if (content_type.empty()) content_type = "application/json";
    const hub::HttpBody body{req.body, content_type};
    try {
        relay_http_.relay("POST", base + req.target, headers, &body, on_head, sink,
                          [&] { return ex.responder.client_gone(); });
    } catch (const CallerGone&) {
        if (streaming) ex.end_stream();
        return "";
    } catch (const PeerUnavailable&) {
        return "it answered 503 (shutting down or not ready)";
    } catch (const hub::TransportError& e) {
        if (e.cancelled()) {  // the caller hung up: the peer's work is dropped with it
            if (streaming) ex.end_stream();
            return "";
        }
        if (!head_seen) return e.what();
        // Broken mid-answer: nothing can be taken back; the caller sees the answer end.
        log::warn("peer {} broke off its answer to {}: {}", base, utf8::escape_for_log(req.path),
                  e.what());
        if (streaming) {
            ex.end_stream();
        } else {
            ex.send_error(ApiError(502, "the peer serving this model broke off its answer; retry",
                                   "server_error"));
        }
        return "";
    }
    if (streaming) {
        ex.end_stream();
    } else {
        ex.responder.send(std::move(whole));
    }
    return "";
}

}  // namespace hearth::server
