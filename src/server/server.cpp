#include "server/server.h"

#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "server/api_error.h"
#include "server/auth.h"
#include "server/chat_prompt.h"
#include "server/client_socket.h"
#include "server/cors.h"
#include "server/embeddings.h"
#include "server/metrics.h"
#include "server/openai_response.h"

namespace hearth::server {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kFingerprint = "hearth-0.1.0";
// How often a waiting handler checks that its client is still there and the server still runs.
constexpr std::chrono::milliseconds kPollInterval{100};

// What the access log and metrics need to know about the request the current HTTP thread
// serves. cpp-httplib runs a request's handler, content provider and logger on one thread.
struct RequestTrace {
    Clock::time_point start;
    int64_t prompt_tokens = -1;
    int64_t completion_tokens = 0;
};
thread_local RequestTrace trace;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

int64_t unix_time() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string random_id(const char* prefix) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char* digits = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string id = prefix;
    for (int i = 0; i < 24; ++i) id += digits[rng() % 36];
    return id;
}

bool is_loopback(const std::string& host) {
    return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

// Collapses paths to a few labels so metrics cannot grow without bound.
std::string route_label(const std::string& path) {
    std::string p = path;
    if (p.rfind("/models/", 0) == 0) {
        size_t slash = p.find('/', 8);
        p = slash == std::string::npos ? "/models/{name}" : p.substr(slash);
    }
    static const char* known[] = {"/v1/models",      "/v1/chat/completions",
                                  "/v1/completions", "/v1/embeddings",
                                  "/health",         "/readyz",
                                  "/metrics"};
    for (const char* k : known) {
        if (p == k) return p;
    }
    if (p.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
    return "other";
}

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
}

ApiError shutting_down() {
    return ApiError(503, "the server is shutting down; retry shortly", "server_error", "",
                    "server_shutting_down");
}

void send_error(httplib::Response& res, const ApiError& e) {
    if (e.status() == 429) res.set_header("Retry-After", "1");
    if (e.status() == 401) res.set_header("WWW-Authenticate", "Bearer");
    send_json(res, e.status(), e.to_json());
}

// Events from the scheduler thread to the HTTP thread answering the request.
struct GenerationChannel {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::pair<int, runtime::SequenceEvent>> events;
    std::vector<std::shared_ptr<runtime::Ticket>> tickets;

    void push(int choice, runtime::SequenceEvent&& ev) {
        {
            std::lock_guard lock(mutex);
            events.emplace_back(choice, std::move(ev));
        }
        ready.notify_one();
    }
    // Takes the events so far; waits up to `timeout` for the first.
    std::deque<std::pair<int, runtime::SequenceEvent>> take(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex);
        ready.wait_for(lock, timeout, [&] { return !events.empty(); });
        std::deque<std::pair<int, runtime::SequenceEvent>> out;
        out.swap(events);
        return out;
    }
    void cancel_all() {
        for (auto& t : tickets) t->cancel();
    }
};

struct ChoiceState {
    std::string text;
    std::vector<runtime::TokenLogprob> logprobs;
    bool finished = false;
    runtime::FinishReason finish = runtime::FinishReason::Stop;
    int64_t completion_tokens = 0;
    std::string error;
    // Streams: separates content from tool calls as the text arrives.
    chat::ToolCallStream tool_stream{chat::ToolCallSyntax::None};
};

// One generation request, from parsed fields to the tokens and sampling the scheduler needs.
struct Job {
    GenerationRequest request;
    std::shared_ptr<LoadedModel> model;
    std::vector<int32_t> prompt;
    chat::ToolCallSyntax tool_syntax = chat::ToolCallSyntax::None;  // None: no tool parsing
    std::string echo_text;
    int64_t prompt_tokens = 0;
    int64_t cached_prompt_tokens = 0;
    std::string id;
    int64_t created = 0;
    Clock::time_point start;
    bool first_text_seen = false;
    bool recorded = false;  // tokens counted in the metrics
    std::vector<ChoiceState> choices;
    std::shared_ptr<GenerationChannel> channel = std::make_shared<GenerationChannel>();
};

// How the wait for a non-streamed answer ended.
enum class Outcome { Done, ClientLeft, ShuttingDown };

}  // namespace

struct Server::Impl {
    ServerOptions options;
    ApiKeys keys;
    CorsPolicy cors;
    ModelPool pool;
    Metrics metrics;
    httplib::Server http;
    std::atomic<bool> running{false};
    std::atomic<int> open_streams{0};

    Impl(ServerOptions opts, std::vector<ModelEntry> models)
        : options(std::move(opts)),
          keys(options.api_keys),
          cors(options.cors_origins),
          pool(std::move(models), options.pool) {}

    // ---- plumbing ----

    template <typename Handler>
    httplib::Server::Handler guarded(Handler handler) {
        return [handler](const httplib::Request& req, httplib::Response& res) {
            try {
                handler(req, res);
            } catch (const ApiError& e) {
                send_error(res, e);
            } catch (const hearth::Error& e) {
                log::error("{} {}: {}", req.method, req.path, e.what());
                send_error(res, ApiError(500, e.what(), "server_error"));
            }
        };
    }

    void setup() {
        http.new_task_queue = [n = options.http_threads] { return new httplib::ThreadPool(n); };
        http.set_payload_max_length(options.max_body_bytes);
        // Rotate keep-alive connections now and then, so connections waiting for a thread get one.
        http.set_keep_alive_max_count(100);
        http.set_tcp_nodelay(true);  // SSE sends many small frames: do not let Nagle hold them
        http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            trace = RequestTrace{Clock::now()};
            // A browser's preflight carries no key, so it is answered before auth.
            if (req.method == "OPTIONS" && cors.enabled()) {
                cors.answer_preflight(req, res);
                return httplib::Server::HandlerResponse::Handled;
            }
            cors.mark(req, res);
            return authorize(req, res) ? httplib::Server::HandlerResponse::Unhandled
                                       : httplib::Server::HandlerResponse::Handled;
        });
        http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return;
            if (res.status == 413) {
                send_error(res,
                           ApiError(413, "the request body is too large", "invalid_request_error"));
            } else if (res.status == 404) {
                send_error(res, ApiError(404, "no route for " + req.method + " " + req.path,
                                         "invalid_request_error", "", "unknown_url"));
            } else {
                send_error(res, ApiError(res.status, "HTTP error " + std::to_string(res.status)));
            }
        });
        http.set_exception_handler(
            [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
                std::string what = "internal error";
                try {
                    std::rethrow_exception(ep);
                } catch (const std::exception& e) {
                    what = e.what();
                } catch (...) {
                }
                log::error("unhandled exception: {}", what);
                send_error(res, ApiError(500, what, "server_error"));
            });
        http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
            const double seconds = seconds_since(trace.start);
            metrics.record_request(route_label(req.path), res.status, seconds);
            if (trace.prompt_tokens >= 0) {
                log::info("{} {} {} {:.0f} ms tokens {}+{}", req.method, req.path, res.status,
                          seconds * 1000, trace.prompt_tokens, trace.completion_tokens);
            } else {
                log::info("{} {} {} {:.0f} ms", req.method, req.path, res.status, seconds * 1000);
            }
        });
        add_routes("");
        add_routes(R"(/models/([^/]+))");
        http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
            send_json(res, 200, {{"status", "ok"}});
        });
        http.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
            const bool ready = running.load() && !pool.entries().empty();
            send_json(
                res, ready ? 200 : 503,
                {{"status", ready ? "ready" : "not ready"}, {"models", pool.entries().size()}});
        });
        http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(metrics.render(pool.loaded()), "text/plain; version=0.0.4");
        });
    }

    bool authorize(const httplib::Request& req, httplib::Response& res) {
        if (!keys.enabled() || req.path == "/health" || req.path == "/readyz") return true;
        if (keys.accepts(req.get_header_value("Authorization"))) return true;
        send_error(
            res,
            ApiError(401, "Incorrect API key provided. Send it as 'Authorization: Bearer KEY'.",
                     "invalid_request_error", "", "invalid_api_key"));
        return false;
    }

    // Registers the OpenAI routes under `prefix`; a prefix with a capture group names the model.
    void add_routes(const std::string& prefix) {
        auto path_model = [](const httplib::Request& req) {
            return req.matches.size() > 1 ? req.matches[1].str() : std::string();
        };
        http.Get(
            prefix + "/v1/models",
            guarded([this](const httplib::Request&, httplib::Response& res) { list_models(res); }));
        http.Get(prefix + R"(/v1/models/([^/]+))",
                 guarded([this](const httplib::Request& req, httplib::Response& res) {
                     const std::string id = req.matches[req.matches.size() - 1].str();
                     const ModelEntry* e = pool.find(id);
                     if (!e) throw ApiError::model_not_found(id);
                     send_json(res, 200, model_json(*e));
                 }));
        http.Post(prefix + "/v1/chat/completions",
                  guarded([this, path_model](const httplib::Request& req, httplib::Response& res) {
                      generate(req, res, /*chat=*/true, path_model(req));
                  }));
        http.Post(prefix + "/v1/completions",
                  guarded([this, path_model](const httplib::Request& req, httplib::Response& res) {
                      generate(req, res, /*chat=*/false, path_model(req));
                  }));
        http.Post(prefix + "/v1/embeddings",
                  guarded([this, path_model](const httplib::Request& req, httplib::Response& res) {
                      embeddings(req, res, path_model(req));
                  }));
    }

    // ---- simple routes ----

    // "created": the model file's modification time (when it was downloaded or written), as
    // OpenAI's Unix seconds; 0 if the file cannot be read.
    json model_json(const ModelEntry& e) const {
        struct stat st {};
        const int64_t created = ::stat(e.path.c_str(), &st) == 0 ? st.st_mtime : 0;
        return {{"id", e.name}, {"object", "model"}, {"created", created}, {"owned_by", "hearth"}};
    }

    void list_models(httplib::Response& res) {
        json data = json::array();
        for (const ModelEntry& e : pool.entries()) data.push_back(model_json(e));
        send_json(res, 200, {{"object", "list"}, {"data", data}});
    }

    const ModelEntry& resolve_model(const std::string& from_path, const std::string& from_body) {
        const std::string& name = from_path.empty() ? from_body : from_path;
        if (name.empty()) {
            if (pool.entries().size() == 1) return pool.entries().front();
            throw ApiError::bad_request("'model' is required", "model");
        }
        const ModelEntry* e = pool.find(name);
        if (!e) throw ApiError::model_not_found(name);
        return *e;
    }

    void embeddings(const httplib::Request& req, httplib::Response& res,
                    const std::string& path_model) {
        json body = parse_json_body(req.body);
        if (!body.is_object())
            throw ApiError::bad_request("the request body must be a JSON object");
        auto model = body.find("model");
        if (model != body.end() && !model->is_string())
            throw ApiError::bad_request("'model' must be a string", "model");
        const ModelEntry& entry =
            resolve_model(path_model, model != body.end() ? model->get<std::string>() : "");
        std::shared_ptr<LoadedModel> loaded = pool.acquire(entry);
        json response = create_embeddings(body, *loaded);
        trace.prompt_tokens = response["usage"]["prompt_tokens"].get<int64_t>();
        send_json(res, 200, response);
    }

    // ---- generation ----

    void generate(const httplib::Request& req, httplib::Response& res, bool chat,
                  const std::string& path_model) {
        if (!running.load()) throw shutting_down();
        Job job;
        job.start = trace.start;
        job.request = parse_generation_request(parse_json_body(req.body), chat, options.limits);
        // Templates see dicts in the client's key order, as transformers does (nlohmann::json
        // sorts keys), so the body is read once more, keeping order, for messages and tools.
        if (chat) read_in_client_order(req.body, job.request);
        const ModelEntry& entry = resolve_model(path_model, job.request.model);
        job.model = pool.acquire(entry);
        prepare_prompt(job);
        const ClientSocket client = ClientSocket::of(req);
        submit(job);
        if (job.request.stream) {
            stream(res, std::make_shared<Job>(std::move(job)), client);
        } else {
            respond_when_done(res, job, client);
        }
    }

    static void read_in_client_order(const std::string& body, GenerationRequest& r) {
        auto ordered = nlohmann::ordered_json::parse(body);
        r.ordered_messages = std::move(ordered["messages"]);
        // tool_choice "none": the model is not told about the tools at all.
        if (r.tool_count > 0 && r.tool_choice != ToolChoice::None)
            r.ordered_tools = std::move(ordered["tools"]);
    }

    void prepare_prompt(Job& job) {
        const GenerationRequest& r = job.request;
        const LoadedModel& m = *job.model;
        const char* param = r.chat ? "messages" : "prompt";
        if (r.chat) {
            ChatPrompt p =
                render_chat_prompt(*m.model, *m.tokenizer, r.messages, m.entry.chat_template,
                                   r.chat_template_kwargs, &r.ordered_messages, r.ordered_tools);
            job.prompt = p.tokenize(*m.tokenizer);
            job.tool_syntax = p.tool_call_syntax;
        } else if (!r.prompt_tokens.empty()) {
            for (int32_t id : r.prompt_tokens) {
                if (id < 0 || id >= m.tokenizer->vocab().size()) {
                    throw ApiError::bad_request(
                        "token id " + std::to_string(id) + " is not in the vocabulary", "prompt");
                }
            }
            job.prompt = r.prompt_tokens;
            if (r.echo) job.echo_text = m.tokenizer->decode(r.prompt_tokens);
        } else {
            // A raw prompt is the caller's own text, control tokens included.
            job.prompt =
                m.tokenizer->encode(r.prompt_text, /*add_special=*/true, /*parse_special=*/true);
            if (r.echo) job.echo_text = r.prompt_text;
        }
        if (job.prompt.empty()) throw ApiError::bad_request("the prompt is empty", param);
        const int64_t n = static_cast<int64_t>(job.prompt.size());
        if (n >= m.ctx_size) {
            throw ApiError(400,
                           "this model's context holds " + std::to_string(m.ctx_size) +
                               " tokens (prompt and output together); the prompt is " +
                               std::to_string(n) + " tokens. Shorten the " + param + ".",
                           "invalid_request_error", param, "context_length_exceeded");
        }
        job.prompt_tokens = n;
        trace.prompt_tokens = n;
    }

    runtime::SamplingParams sampling_for(const Job& job, int choice) const {
        const GenerationRequest& r = job.request;
        const SamplingDefaults& d = job.model->entry.defaults;
        runtime::SamplingParams s;
        s.temperature = r.temperature.value_or(d.temperature.value_or(s.temperature));
        s.top_p = r.top_p.value_or(d.top_p.value_or(s.top_p));
        s.top_k = r.top_k.value_or(d.top_k.value_or(s.top_k));
        s.min_p = r.min_p.value_or(d.min_p.value_or(s.min_p));
        s.presence_penalty = r.presence_penalty.value_or(0.0f);
        s.frequency_penalty = r.frequency_penalty.value_or(0.0f);
        std::optional<uint64_t> seed =
            r.seed ? std::optional<uint64_t>(static_cast<uint64_t>(*r.seed)) : d.seed;
        // Each of n choices gets its own stream: equal seeds would give n equal answers.
        if (seed) s.seed = *seed + static_cast<uint64_t>(choice);
        return s;
    }

    void submit(Job& job) {
        const GenerationRequest& r = job.request;
        const int64_t room = job.model->ctx_size - job.prompt_tokens;
        const int32_t max_tokens = static_cast<int32_t>(std::min<int64_t>(
            r.max_tokens.value_or(job.model->entry.defaults.max_tokens.value_or(INT32_MAX)), room));
        job.id = random_id(r.chat ? "chatcmpl-" : "cmpl-");
        job.created = unix_time();
        job.choices.resize(static_cast<size_t>(r.n));
        for (ChoiceState& c : job.choices) c.tool_stream = chat::ToolCallStream(job.tool_syntax);
        std::vector<runtime::SequenceRequest> seqs;
        for (int i = 0; i < r.n; ++i) {
            runtime::SequenceRequest s;
            s.prompt = job.prompt;
            s.sampling = sampling_for(job, i);
            s.max_tokens = max_tokens;
            s.stop = r.stop;
            s.ignore_eos = r.ignore_eos;
            s.top_logprobs = r.top_logprobs;
            s.on_event = [channel = job.channel, i](runtime::SequenceEvent&& ev) {
                channel->push(i, std::move(ev));
            };
            seqs.push_back(std::move(s));
        }
        job.channel->tickets = job.model->scheduler->submit(std::move(seqs));
        if (job.channel->tickets.empty()) {
            throw ApiError(429,
                           "the server is busy: too many requests are waiting for '" +
                               job.model->entry.name + "'. Retry shortly.",
                           "rate_limit_exceeded", "", "rate_limit_exceeded");
        }
    }

    // Folds one event into its choice's running state.
    void absorb(Job& job, int index, const runtime::SequenceEvent& ev) {
        ChoiceState& c = job.choices[static_cast<size_t>(index)];
        c.text += ev.text;
        c.logprobs.insert(c.logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
        if (!ev.text.empty() && !job.first_text_seen) {
            job.first_text_seen = true;
            metrics.record_time_to_first_token(seconds_since(job.start));
        }
        c.completion_tokens = ev.completion_tokens;
        if (!ev.finished) return;
        c.finished = true;
        c.finish = ev.finish;
        c.error = ev.error;
        job.cached_prompt_tokens = ev.cached_prompt_tokens;
    }

    int64_t completion_tokens(const Job& job) const {
        int64_t n = 0;
        for (const ChoiceState& c : job.choices) n += c.completion_tokens;
        return n;
    }

    json usage_json(const Job& job) const {
        const int64_t completion = completion_tokens(job);
        return {{"prompt_tokens", job.prompt_tokens},
                {"completion_tokens", completion},
                {"total_tokens", job.prompt_tokens + completion},
                {"prompt_tokens_details", {{"cached_tokens", job.cached_prompt_tokens}}}};
    }

    // Records the request's tokens once, however it ended.
    // cut_short: the client left or the server is stopping, whatever the choices say yet.
    void finish_job(Job& job, bool cut_short = false) {
        if (job.recorded) return;
        job.recorded = true;
        job.model->touch();
        bool cancelled = cut_short;
        for (const ChoiceState& c : job.choices)
            cancelled |= c.finish == runtime::FinishReason::Cancelled;
        trace.completion_tokens = completion_tokens(job);
        metrics.record_generation(job.prompt_tokens, trace.completion_tokens, cancelled);
    }

    // Waits for every choice to finish. A client that hung up (its answer would go nowhere) or
    // a server shutting down cancels the generation at the scheduler's next step.
    Outcome wait_until_done(Job& job, const ClientSocket& client) {
        Outcome outcome = Outcome::Done;
        int finished = 0;
        while (finished < job.request.n) {
            if (outcome == Outcome::Done) {
                if (!running.load())
                    outcome = Outcome::ShuttingDown;
                else if (client.closed())
                    outcome = Outcome::ClientLeft;
                if (outcome != Outcome::Done) job.channel->cancel_all();
            }
            for (auto& [index, ev] : job.channel->take(kPollInterval)) {
                absorb(job, index, ev);
                if (ev.finished) ++finished;
            }
        }
        // Choices that ended on their own before the cancel landed give a complete answer.
        bool cut_short = false;
        for (const ChoiceState& c : job.choices)
            cut_short |= c.finish == runtime::FinishReason::Cancelled;
        return cut_short ? outcome : Outcome::Done;
    }

    void respond_when_done(httplib::Response& res, Job& job, const ClientSocket& client) {
        const Outcome outcome = wait_until_done(job, client);
        finish_job(job, /*cut_short=*/outcome != Outcome::Done);
        if (outcome == Outcome::ShuttingDown) throw shutting_down();
        if (outcome == Outcome::ClientLeft) {
            // Nobody reads this; 499 (nginx's "client closed request") tells the log and metrics.
            send_error(res, ApiError(499, "the client closed the connection"));
            return;
        }
        for (const ChoiceState& c : job.choices) {
            if (!c.error.empty())
                throw ApiError(500, "generation failed: " + c.error, "server_error");
        }
        const tokenizer::Tokenizer& tok = *job.model->tokenizer;
        const bool want_logprobs = job.request.top_logprobs >= 0;
        json choices = json::array();
        for (size_t i = 0; i < job.choices.size(); ++i) {
            const ChoiceState& c = job.choices[i];
            json choice = {{"index", i}, {"finish_reason", finish_name(c.finish)}};
            if (job.request.chat) {
                choice["message"] = message_json(job, c, choice);
                choice["logprobs"] = want_logprobs ? chat_logprobs_json(tok, c.logprobs) : json();
            } else {
                choice["text"] = job.echo_text + c.text;
                choice["logprobs"] =
                    want_logprobs ? completion_logprobs_json(tok, c.logprobs, job.echo_text.size())
                                  : json();
            }
            choices.push_back(choice);
        }
        json body = {{"id", job.id},
                     {"object", job.request.chat ? "chat.completion" : "text_completion"},
                     {"created", job.created},
                     {"model", job.model->entry.name},
                     {"system_fingerprint", kFingerprint},
                     {"choices", choices},
                     {"usage", usage_json(job)}};
        res.status = 200;
        res.set_content(safe_dump(body), "application/json");
    }

    // The assistant message of a finished choice; a reply holding tool calls becomes
    // `tool_calls` (with the rest as content, null when empty) and finishes with "tool_calls".
    json message_json(const Job& job, const ChoiceState& c, json& choice) const {
        json message = {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}};
        chat::ParsedReply reply = chat::parse_tool_calls(job.tool_syntax, c.text);
        if (reply.calls.empty()) return message;
        message["content"] = reply.content.empty() ? json() : json(reply.content);
        message["tool_calls"] = json::array();
        for (const chat::ToolCall& call : reply.calls) {
            message["tool_calls"].push_back(
                {{"id", random_id("call_")},
                 {"type", "function"},
                 {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        }
        choice["finish_reason"] = "tool_calls";
        return message;
    }

    // ---- streaming (Server-Sent Events, framed as OpenAI frames them) ----

    json chunk_base(const Job& job) const {
        json chunk = {{"id", job.id},
                      {"object", job.request.chat ? "chat.completion.chunk" : "text_completion"},
                      {"created", job.created},
                      {"model", job.model->entry.name},
                      {"system_fingerprint", kFingerprint}};
        if (job.request.include_usage) chunk["usage"] = nullptr;
        return chunk;
    }

    json chunk_choice(const Job& job, int index, const std::string& text,
                      const std::vector<runtime::TokenLogprob>& lps, const char* finish,
                      bool first) const {
        const tokenizer::Tokenizer& tok = *job.model->tokenizer;
        const bool want_logprobs = job.request.top_logprobs >= 0 && !lps.empty();
        json choice = {{"index", index}};
        if (job.request.chat) {
            json delta = json::object();
            if (first)
                delta = {{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}};
            else if (!finish)
                delta["content"] = text;
            choice["delta"] = delta;
            choice["logprobs"] = want_logprobs ? chat_logprobs_json(tok, lps) : json();
        } else {
            choice["text"] = text;
            choice["logprobs"] = want_logprobs ? completion_logprobs_json(tok, lps, 0) : json();
        }
        choice["finish_reason"] = finish ? json(finish) : json();
        return choice;
    }

    static bool send_event(httplib::DataSink& sink, const json& data) {
        const std::string frame = "data: " + safe_dump(data) + "\n\n";
        return sink.write(frame.data(), frame.size());
    }

    void stream(httplib::Response& res, std::shared_ptr<Job> job, ClientSocket client) {
        auto started = std::make_shared<bool>(false);
        auto finished = std::make_shared<int>(0);
        res.set_header("Cache-Control", "no-cache");
        res.set_header("X-Accel-Buffering", "no");  // nginx: pass events through at once
        ++open_streams;
        res.set_chunked_content_provider(
            "text/event-stream",
            [this, job, started, finished, client](size_t, httplib::DataSink& sink) {
                if (!*started) {
                    *started = true;
                    return send_opening(*job, sink) || cancel(*job);
                }
                // Writes fail too once the client is gone, but none happen while a long prompt
                // is evaluated: look at the socket itself.
                if (client.closed()) return cancel(*job);
                for (auto& [index, ev] : job->channel->take(kPollInterval)) {
                    if (!send_progress(*job, index, ev, sink)) return cancel(*job);
                    if (ev.finished) ++*finished;
                }
                if (*finished < job->request.n)
                    return running.load() || end_for_shutdown(*job, sink);
                finish_job(*job);
                if (job->request.include_usage) {
                    json usage = chunk_base(*job);
                    usage["choices"] = json::array();
                    usage["usage"] = usage_json(*job);
                    if (!send_event(sink, usage)) return false;
                }
                return send_done(sink);
            },
            // Runs however the stream ended; when the client left early, stop generating now.
            [this, job](bool) {
                job->channel->cancel_all();
                finish_job(*job, /*cut_short=*/true);
                --open_streams;
            });
    }

    bool cancel(Job& job) {
        job.channel->cancel_all();
        return false;
    }

    static bool send_done(httplib::DataSink& sink) {
        const std::string done = "data: [DONE]\n\n";
        if (!sink.write(done.data(), done.size())) return false;
        sink.done();
        return true;
    }

    // A stream cut short by shutdown ends as OpenAI ends a failed stream: an error event, then
    // [DONE], so clients report an error instead of a silently truncated answer.
    bool end_for_shutdown(Job& job, httplib::DataSink& sink) {
        job.channel->cancel_all();
        finish_job(job, /*cut_short=*/true);
        return send_event(sink, shutting_down().to_json()) && send_done(sink);
    }

    // cpp-httplib stops calling content providers once its listening socket is closed, which
    // would cut streams mid-chunk: they get the chance to end properly first.
    void wait_for_streams_to_end(std::chrono::milliseconds limit) {
        const auto deadline = Clock::now() + limit;
        while (open_streams.load() > 0 && Clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }

    bool send_opening(Job& job, httplib::DataSink& sink) {
        for (int i = 0; i < job.request.n; ++i) {
            json chunk = chunk_base(job);
            if (job.request.chat) {
                chunk["choices"] = json::array({chunk_choice(job, i, "", {}, nullptr, true)});
            } else if (!job.echo_text.empty()) {
                chunk["choices"] =
                    json::array({chunk_choice(job, i, job.echo_text, {}, nullptr, false)});
            } else {
                continue;
            }
            if (!send_event(sink, chunk)) return false;
        }
        return true;
    }

    bool send_text(Job& job, int index, const std::string& text,
                   const std::vector<runtime::TokenLogprob>& lps, httplib::DataSink& sink) {
        json chunk = chunk_base(job);
        chunk["choices"] = json::array({chunk_choice(job, index, text, lps, nullptr, false)});
        return send_event(sink, chunk);
    }

    bool send_delta(Job& job, int index, json delta, httplib::DataSink& sink) {
        json chunk = chunk_base(job);
        chunk["choices"] = json::array({{{"index", index},
                                         {"delta", std::move(delta)},
                                         {"logprobs", nullptr},
                                         {"finish_reason", nullptr}}});
        return send_event(sink, chunk);
    }

    // The end of a streamed chat reply: the text the tool-call parser held back, then each call
    // as OpenAI streams it (id, type and name first, then the arguments).
    bool send_reply_end(Job& job, int index, const char*& finish, httplib::DataSink& sink) {
        chat::ParsedReply end = job.choices[static_cast<size_t>(index)].tool_stream.finish();
        if (!end.content.empty() && !send_text(job, index, end.content, {}, sink)) return false;
        for (size_t i = 0; i < end.calls.size(); ++i) {
            const chat::ToolCall& call = end.calls[i];
            json head = {{"index", i},
                         {"id", random_id("call_")},
                         {"type", "function"},
                         {"function", {{"name", call.name}, {"arguments", ""}}}};
            json args = {{"index", i}, {"function", {{"arguments", call.arguments}}}};
            if (!send_delta(job, index, {{"tool_calls", json::array({head})}}, sink) ||
                !send_delta(job, index, {{"tool_calls", json::array({args})}}, sink))
                return false;
            finish = "tool_calls";
        }
        return true;
    }

    bool send_progress(Job& job, int index, runtime::SequenceEvent& ev, httplib::DataSink& sink) {
        absorb(job, index, ev);
        // Chat text passes the tool-call parser, which holds back what may be a call.
        const std::string text =
            job.request.chat ? job.choices[static_cast<size_t>(index)].tool_stream.push(ev.text)
                             : ev.text;
        if ((!text.empty() || !ev.logprobs.empty()) &&
            !send_text(job, index, text, ev.logprobs, sink))
            return false;
        if (!ev.finished) return true;
        if (!ev.error.empty()) {
            return send_event(
                sink, ApiError(500, "generation failed: " + ev.error, "server_error").to_json());
        }
        if (ev.finish == runtime::FinishReason::Cancelled) return true;
        const char* finish = finish_name(ev.finish);
        if (job.request.chat && !send_reply_end(job, index, finish, sink)) return false;
        json chunk = chunk_base(job);
        chunk["choices"] = json::array({chunk_choice(job, index, "", {}, finish, false)});
        return send_event(sink, chunk);
    }
};

Server::Server(ServerOptions options, std::vector<ModelEntry> models)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(models))) {
    if (!impl_->keys.enabled() && !is_loopback(impl_->options.host)) {
        log::warn(
            "no API keys are set: binding to 127.0.0.1 instead of {} so only this machine can "
            "connect "
            "(set HEARTH_API_KEYS or --api-key-file to serve the network)",
            impl_->options.host);
        impl_->options.host = "127.0.0.1";
    }
    impl_->setup();
}

Server::~Server() {
    stop();
}

int Server::bind() {
    // A client that hangs up mid-stream must not kill the process with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    const ServerOptions& o = impl_->options;
    int port = o.port;
    if (port == 0) {
        port = impl_->http.bind_to_any_port(o.host);
    } else if (!impl_->http.bind_to_port(o.host, port)) {
        port = -1;
    }
    if (port < 0)
        throw Error("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                    " (in use, or not an address of this machine)");
    impl_->options.port = port;
    return port;
}

void Server::run() {
    impl_->running = true;
    if (!impl_->keys.enabled())
        log::info("no API keys set: only clients on this machine can connect");
    else
        log::info("API keys required ({} configured)", impl_->keys.size());
    log::info("listening on http://{}:{} ({} model(s))", impl_->options.host, impl_->options.port,
              impl_->pool.entries().size());
    impl_->http.listen_after_bind();
    impl_->running = false;
}

void Server::stop() {
    impl_->running = false;
    impl_->wait_for_streams_to_end(std::chrono::seconds(5));
    impl_->http.stop();
}

ModelPool& Server::pool() {
    return impl_->pool;
}
const std::string& Server::host() const {
    return impl_->options.host;
}

}  // namespace hearth::server
