#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <memory>
#include <mutex>

namespace hearth::hub {
namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::string trim(const std::string& text) {
    size_t begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos) return "";
    size_t end = text.find_last_not_of(" \t\r\n");
    return text.substr(begin, end - begin + 1);
}

void init_curl_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// State shared with the C callbacks of one transfer.
struct Transfer {
    HttpResponse response;
    CURL* curl = nullptr;
    const Http::Sink* sink = nullptr;
    const Http::StatusHook* on_status = nullptr;
    const Http::HeadHook* on_head = nullptr;
    const std::function<bool()>* stop_if = nullptr;
    bool stream_every_status = false;  // relay(): the sink takes error bodies too
    bool status_reported = false;
    bool streaming_body = false;
    std::exception_ptr sink_error;  // thrown by the sink; re-thrown once curl has returned
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    std::string line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) {
        transfer->response.headers.clear();  // a new response (after a redirect) starts here
        return size * count;
    }
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
        transfer->response.headers[lower(trim(line.substr(0, colon)))] =
            trim(line.substr(colon + 1));
    }
    return size * count;
}

// Once per transfer, before its first body byte (or after it, for an answer without a body):
// the final status is known; tells the hooks. False when a hook threw.
bool report_status(Transfer* transfer) {
    if (transfer->status_reported) return true;
    curl_easy_getinfo(transfer->curl, CURLINFO_RESPONSE_CODE, &transfer->response.status);
    transfer->status_reported = true;
    long status = transfer->response.status;
    transfer->streaming_body =
        transfer->sink && (transfer->stream_every_status || status == 200 || status == 206);
    try {
        if (transfer->on_status && *transfer->on_status) (*transfer->on_status)(status);
        if (transfer->on_head && *transfer->on_head)
            (*transfer->on_head)(status, transfer->response.headers);
    } catch (...) {
        transfer->sink_error = std::current_exception();
        return false;
    }
    return true;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    size_t n = size * count;
    if (!report_status(transfer)) return 0;
    if (!transfer->streaming_body) {
        // Error bodies are small; cap them so a misbehaving server cannot fill memory.
        if (transfer->response.body.size() < (1u << 20)) transfer->response.body.append(data, n);
        return n;
    }
    try {
        (*transfer->sink)(data, n);
    } catch (...) {
        transfer->sink_error = std::current_exception();
        return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* transfer = static_cast<Transfer*>(user);
    const bool stop = transfer->stop_if && *transfer->stop_if && (*transfer->stop_if)();
    return cancel_flag().load() || stop ? 1 : 0;
}

struct CurlDeleter {
    void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct HeaderListDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

std::atomic<bool>& cancel_flag() {
    static std::atomic<bool> flag{false};
    return flag;
}

std::string HttpResponse::header(const std::string& name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? "" : it->second;
}

Http::Http(HttpSettings settings) : settings_(std::move(settings)) {
    init_curl_once();
}

namespace {

// What relay() adds to a transfer.
struct RelayParts {
    const std::vector<std::string>* headers = nullptr;
    const Http::HeadHook* on_head = nullptr;
    const std::function<bool()>* stop_if = nullptr;
};

HttpResponse perform(const HttpSettings& settings, const std::string& url, bool head,
                     bool follow_redirects, const std::string& range, const Http::Sink* sink,
                     const Http::StatusHook* on_status, const HttpBody* post = nullptr,
                     const RelayParts* relay = nullptr) {
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) throw TransportError("could not start an HTTP transfer (curl_easy_init)", false);
    Transfer transfer;
    transfer.curl = curl.get();
    transfer.sink = sink;
    transfer.on_status = on_status;
    if (relay) {
        transfer.on_head = relay->on_head;
        transfer.stop_if = relay->stop_if;
        transfer.stream_every_status = true;
    }

    std::unique_ptr<curl_slist, HeaderListDeleter> headers;
    auto add_header = [&](const std::string& line) {
        curl_slist* longer = curl_slist_append(headers.get(), line.c_str());
        if (!longer) throw TransportError("out of memory adding an HTTP header", false);
        headers.release();  // the same list, now longer (or a new one when it was empty)
        headers.reset(longer);
    };
    if (!settings.bearer_token.empty()) add_header("Authorization: Bearer " + settings.bearer_token);
    if (post) add_header("Content-Type: " + post->content_type);
    if (relay) {
        for (const std::string& line : *relay->headers) add_header(line);
        add_header("Expect:");  // no 100-continue round trip for large bodies
    }
    CURL* c = curl.get();
    char error_buffer[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(c, CURLOPT_USERAGENT, settings.user_agent.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    // libcurl drops our Authorization header when a redirect leaves the original host, so the
    // token never reaches a CDN.
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, follow_redirects ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (!settings.use_proxy) curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, settings.connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, settings.stall_timeout_s);
    // Let the API compress JSON; a relay passes bytes on as they came.
    if (!relay) curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    if (settings.total_timeout_s > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT, settings.total_timeout_s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
    if (head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post->data.data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post->data.size()));
    }
    // CURLOPT_RANGE rather than CURLOPT_RESUME_FROM: the latter makes curl fail on a server that
    // answers a Range request with 200 or 416, and we want to handle those ourselves.
    if (!range.empty()) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());

    CURLcode code = curl_easy_perform(c);
    // An answer without a body still tells the relay its status and headers.
    if (code == CURLE_OK && relay) report_status(&transfer);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &transfer.response.status);
    char* effective = nullptr;
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective);
    if (effective) transfer.response.effective_url = effective;

    if (transfer.sink_error) std::rethrow_exception(transfer.sink_error);
    if (code == CURLE_ABORTED_BY_CALLBACK) {
        throw TransportError("cancelled while fetching " + url, true);
    }
    if (code != CURLE_OK) {
        std::string detail = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
        const std::string hint = relay ? "" : " Check the network, the proxy settings "
                                              "(HTTPS_PROXY, NO_PROXY) and HF_ENDPOINT.";
        throw TransportError(detail + " (" + url + ")." + hint, false);
    }
    return transfer.response;
}

}  // namespace

HttpResponse Http::get(const std::string& url) const {
    return perform(settings_, url, false, true, "", nullptr, nullptr);
}

HttpResponse Http::head(const std::string& url, bool follow_redirects) const {
    return perform(settings_, url, true, follow_redirects, "", nullptr, nullptr);
}

HttpResponse Http::download(const std::string& url, uint64_t resume_from, const Sink& sink,
                            const StatusHook& on_status) const {
    const std::string range = resume_from > 0 ? std::to_string(resume_from) + "-" : "";
    return perform(settings_, url, false, true, range, &sink, &on_status);
}

HttpResponse Http::post(const std::string& url, const HttpBody& body, const Sink& sink) const {
    return perform(settings_, url, false, false, "", sink ? &sink : nullptr, nullptr, &body);
}

HttpResponse Http::relay(const std::string& method, const std::string& url,
                         const std::vector<std::string>& headers, const HttpBody* body,
                         const HeadHook& on_head, const Sink& sink,
                         const std::function<bool()>& stop_if) const {
    if (method != "GET" && method != "POST")
        throw Error("relay: only GET and POST are relayed, not " + method);
    if ((method == "POST") != (body != nullptr))
        throw Error("relay: a POST takes a body and a GET none");
    const RelayParts parts{&headers, &on_head, &stop_if};
    return perform(settings_, url, false, false, "", sink ? &sink : nullptr, nullptr, body, &parts);
}

namespace {
// Thrown by get_prefix's sink to end a transfer that has brought enough bytes.
struct PrefixComplete {};
}  // namespace

HttpResponse Http::get_prefix(const std::string& url, uint64_t n_bytes) const {
    std::string body;
    long status = 0;
    const Sink sink = [&](const char* data, size_t size) {
        body.append(data, std::min<uint64_t>(size, n_bytes - body.size()));
        if (body.size() >= n_bytes) throw PrefixComplete{};
    };
    const StatusHook on_status = [&](long s) { status = s; };
    HttpResponse response;
    try {
        response = perform(settings_, url, false, true, "0-" + std::to_string(n_bytes - 1), &sink,
                           &on_status);
    } catch (const PrefixComplete&) {
        // A server that ignores Range sends the whole file: we stopped it after n_bytes.
        response.status = status;
    }
    if (response.status / 100 == 2) response.body = std::move(body);
    return response;
}

}  // namespace hearth::hub
