#include "server/generation.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>

#include "chat/harmony.h"
#include "chat/reasoning.h"
#include "server/chat_prompt.h"
#include "server/openai_response.h"
#include "server/tool_grammar.h"

namespace hearth::server {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kFingerprint = "hearth-0.1.0";
// How often a waiting handler checks that its client is still there and the server still runs.
constexpr std::chrono::milliseconds kPollInterval{100};

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
    // Streams: separates the reasoning, then tool calls, from the content as text arrives.
    chat::ReasoningStream reasoning_stream;
    chat::ToolCallStream tool_stream{chat::ToolCallSyntax::None};
    chat::HarmonyStream harmony_stream;  // harmony replies: channels, reasoning and calls at once
};

// How the wait for a non-streamed answer ended.
enum class Outcome { Done, ClientLeft, ShuttingDown };

// The smallest number of tokens `bytes` of text can become: no token is longer than the
// vocabulary's longest. Lets a prompt that cannot fit be refused before tokenizing megabytes.
int64_t fewest_tokens(size_t bytes, const LoadedModel& m) {
    const size_t longest = m.longest_token_bytes;
    return static_cast<int64_t>((bytes + longest - 1) / longest);
}

ApiError context_exceeded(int64_t ctx, int64_t tokens, const char* param, bool at_least) {
    return ApiError(400,
                    "this model's context holds " + std::to_string(ctx) +
                        " tokens (prompt and output together); the prompt is " +
                        (at_least ? "at least " : "") + std::to_string(tokens) +
                        " tokens. Shorten the " + param + ".",
                    "invalid_request_error", param, "context_length_exceeded");
}

}  // namespace

ApiError shutting_down() {
    return ApiError(503, "the server is shutting down; retry shortly", "server_error", "",
                    "server_shutting_down");
}

const ModelEntry& resolve_model(const ModelPool& pool, const std::string& from_path,
                                const std::string& from_body) {
    const std::string& name = from_path.empty() ? from_body : from_path;
    if (name.empty()) {
        if (pool.entries().size() == 1) return pool.entries().front();
        throw ApiError::bad_request("'model' is required", "model");
    }
    const ModelEntry* e = pool.find(name);
    if (!e) throw ApiError::model_not_found(name);
    return *e;
}

std::shared_ptr<LoadedModel> acquire_model(ModelPool& pool, const json& body,
                                           const std::string& from_path) {
    auto model = body.find("model");
    if (model != body.end() && !model->is_string())
        throw ApiError::bad_request("'model' must be a string", "model");
    return pool.acquire(
        resolve_model(pool, from_path, model != body.end() ? model->get<std::string>() : ""));
}

// One generation request, from parsed fields to the tokens and sampling the scheduler needs.
struct CompletionsApi::Job {
    GenerationRequest request;
    std::shared_ptr<LoadedModel> model;
    std::vector<int32_t> prompt;
    chat::ToolCallSyntax tool_syntax = chat::ToolCallSyntax::None;  // None: no tool parsing
    std::shared_ptr<const runtime::Grammar> grammar;  // structured output (null: free text)
    bool mistral_args_calls = false;  // forced Mistral calls as [TOOL_CALLS]name[ARGS]{...}
    bool thinks = false;           // the reply's <think> part becomes reasoning_content
    bool starts_thinking = false;  // the prompt opened the <think>
    bool harmony = false;          // gpt-oss: the reply is harmony channel messages
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

    int64_t completion_tokens() const {
        int64_t n = 0;
        for (const ChoiceState& c : choices) n += c.completion_tokens;
        return n;
    }

    json usage_json() const {
        const int64_t completion = completion_tokens();
        return {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion},
                {"total_tokens", prompt_tokens + completion},
                {"prompt_tokens_details", {{"cached_tokens", cached_prompt_tokens}}}};
    }

    json chunk_base() const {
        json chunk = {{"id", id},
                      {"object", request.chat ? "chat.completion.chunk" : "text_completion"},
                      {"created", created},
                      {"model", model->entry.name},
                      {"system_fingerprint", kFingerprint}};
        if (request.include_usage) chunk["usage"] = nullptr;
        return chunk;
    }

    json chunk_choice(int index, const std::string& text,
                      const std::vector<runtime::TokenLogprob>& lps, const char* finish,
                      bool first) const {
        const tokenizer::Tokenizer& tok = *model->tokenizer;
        const bool want_logprobs = request.top_logprobs >= 0 && !lps.empty();
        json choice = {{"index", index}};
        if (request.chat) {
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

    json text_chunk(int index, const std::string& text,
                    const std::vector<runtime::TokenLogprob>& lps) const {
        json chunk = chunk_base();
        chunk["choices"] = json::array({chunk_choice(index, text, lps, nullptr, false)});
        return chunk;
    }

    json delta_chunk(int index, json delta) const {
        json chunk = chunk_base();
        chunk["choices"] = json::array({{{"index", index},
                                         {"delta", std::move(delta)},
                                         {"logprobs", nullptr},
                                         {"finish_reason", nullptr}}});
        return chunk;
    }

    // The assistant message of a finished choice; a reply holding tool calls becomes
    // `tool_calls` (with the rest as content, null when empty) and finishes with "tool_calls".
    json message_json(const ChoiceState& c, json& choice) const {
        std::string answer = c.text;
        json message = {{"role", "assistant"}, {"content", answer}, {"refusal", nullptr}};
        if (harmony) {
            chat::HarmonyReply reply = chat::parse_harmony(c.text);
            message["reasoning_content"] =
                reply.reasoning.empty() ? json() : json(std::move(reply.reasoning));
            return with_calls(std::move(message), std::move(reply.content), reply.calls, choice);
        }
        if (thinks) {
            chat::SplitReply split = chat::split_reasoning(c.text, starts_thinking);
            answer = std::move(split.content);
            message["content"] = answer;
            message["reasoning_content"] =
                split.reasoning.empty() ? json() : json(std::move(split.reasoning));
        }
        chat::ParsedReply reply = chat::parse_tool_calls(tool_syntax, answer);
        if (reply.calls.empty()) return message;
        return with_calls(std::move(message), std::move(reply.content), reply.calls, choice);
    }

    // The message with its content, and its calls as `tool_calls` (null content when empty).
    static json with_calls(json message, std::string content,
                           const std::vector<chat::ToolCall>& calls, json& choice) {
        if (calls.empty()) {
            message["content"] = std::move(content);
            return message;
        }
        message["content"] = content.empty() ? json() : json(std::move(content));
        message["tool_calls"] = json::array();
        for (const chat::ToolCall& call : calls) {
            message["tool_calls"].push_back(
                {{"id", random_id("call_")},
                 {"type", "function"},
                 {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        }
        choice["finish_reason"] = "tool_calls";
        return message;
    }
};

namespace {

// SamplingParams' defaults, then the model's, then the request's.
runtime::SamplingParams sampling_for(const GenerationRequest& r, const ModelEntry& model,
                                     int choice) {
    runtime::SamplingParams s = r.sampling.applied_to(model.sampling.applied_to({}));
    // Each of n choices gets its own stream: equal seeds would give n equal answers.
    if (r.sampling.seed || model.sampling.seed) s.seed += static_cast<uint64_t>(choice);
    return s;
}

// Bytes of text a chat request brings (message contents), for the cheap length check.
size_t message_bytes(const json& messages) {
    size_t n = 0;
    for (const json& m : messages) {
        auto content = m.find("content");
        if (content == m.end()) continue;
        if (content->is_string()) {
            n += content->get_ref<const std::string&>().size();
        } else if (content->is_array()) {
            for (const json& part : *content) {
                auto text = part.find("text");
                if (text != part.end() && text->is_string())
                    n += text->get_ref<const std::string&>().size();
            }
        }
    }
    return n;
}

}  // namespace

void CompletionsApi::handle(Exchange& ex, bool chat, const std::string& path_model) {
    if (!running_.load()) throw shutting_down();
    Job job;
    job.start = ex.request.started;
    job.request = read_generation_request(ex.request.body, chat, limits_);
    const ModelEntry& entry = resolve_model(pool_, path_model, job.request.model);
    job.model = pool_.acquire(entry);
    prepare_prompt(job);
    const bool forced_call = job.request.tool_choice == ToolChoice::Required ||
                             job.request.tool_choice == ToolChoice::Function;
    // A template without a call syntax: the forced call takes the generic JSON form.
    if (forced_call && job.tool_syntax == chat::ToolCallSyntax::None)
        job.tool_syntax = chat::ToolCallSyntax::Llama3Json;
    job.grammar = grammar_for(job.request, job.tool_syntax, job.thinks, job.starts_thinking,
                              job.mistral_args_calls, job.harmony);
    ex.prompt_tokens = job.prompt_tokens;
    submit(job);
    if (job.request.stream) {
        stream(ex, job);
    } else {
        respond_when_done(ex, job);
    }
}

void CompletionsApi::prepare_prompt(Job& job) const {
    const GenerationRequest& r = job.request;
    const LoadedModel& m = *job.model;
    const char* param = r.chat ? "messages" : "prompt";
    // Tokenizing megabytes only to say they do not fit would let one request hold a thread.
    const size_t text_bytes = r.chat ? message_bytes(r.messages) : r.prompt_text.size();
    const int64_t at_least = fewest_tokens(text_bytes, m);
    if (at_least >= m.ctx_size) throw context_exceeded(m.ctx_size, at_least, param, true);
    if (r.chat) {
        ChatPrompt p =
            render_chat_prompt(*m.model, *m.tokenizer, r.messages, m.entry.chat_template,
                               r.chat_template_kwargs, &r.ordered_messages, r.ordered_tools);
        job.prompt = p.tokenize(*m.tokenizer);
        job.tool_syntax = p.tool_call_syntax;
        job.thinks = p.thinks;
        job.mistral_args_calls = p.mistral_args_calls;
        job.starts_thinking = p.starts_thinking;
        job.harmony = p.harmony;
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
    if (n >= m.ctx_size) throw context_exceeded(m.ctx_size, n, param, false);
    job.prompt_tokens = n;
}

void CompletionsApi::submit(Job& job) const {
    const GenerationRequest& r = job.request;
    const int64_t room = job.model->ctx_size - job.prompt_tokens;
    const int32_t max_tokens = static_cast<int32_t>(std::min<int64_t>(
        r.max_tokens.value_or(job.model->entry.max_tokens.value_or(INT32_MAX)), room));
    job.id = random_id(r.chat ? "chatcmpl-" : "cmpl-");
    job.created = unix_time();
    job.choices.resize(static_cast<size_t>(r.n));
    for (ChoiceState& c : job.choices) {
        c.reasoning_stream = chat::ReasoningStream(job.starts_thinking);
        c.tool_stream = chat::ToolCallStream(job.tool_syntax);
    }
    std::vector<runtime::SequenceRequest> seqs;
    for (int i = 0; i < r.n; ++i) {
        runtime::SequenceRequest s;
        s.prompt = job.prompt;
        s.sampling = sampling_for(r, job.model->entry, i);
        s.sampling.grammar = job.grammar;
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
void CompletionsApi::absorb(Job& job, int index, const runtime::SequenceEvent& ev) {
    ChoiceState& c = job.choices[static_cast<size_t>(index)];
    c.text += ev.text;
    c.logprobs.insert(c.logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
    if (!ev.text.empty() && !job.first_text_seen) {
        job.first_text_seen = true;
        metrics_.record_time_to_first_token(seconds_since(job.start));
    }
    c.completion_tokens = ev.completion_tokens;
    if (!ev.finished) return;
    c.finished = true;
    c.finish = ev.finish;
    c.error = ev.error;
    job.cached_prompt_tokens = ev.cached_prompt_tokens;
}

// Records the request's tokens once, however it ended.
// cut_short: the client left or the server is stopping, whatever the choices say yet.
void CompletionsApi::finish_job(Exchange& ex, Job& job, bool cut_short) {
    if (job.recorded) return;
    job.recorded = true;
    job.model->touch();
    bool cancelled = cut_short;
    for (const ChoiceState& c : job.choices)
        cancelled |= c.finish == runtime::FinishReason::Cancelled;
    ex.completion_tokens = job.completion_tokens();
    metrics_.record_generation(job.prompt_tokens, ex.completion_tokens, cancelled);
}

void CompletionsApi::respond_when_done(Exchange& ex, Job& job) {
    // Waits for every choice to finish. A client that hung up (its answer would go nowhere)
    // or a server shutting down cancels the generation at the scheduler's next step.
    Outcome outcome = Outcome::Done;
    int finished = 0;
    while (finished < job.request.n) {
        if (outcome == Outcome::Done) {
            if (!running_.load())
                outcome = Outcome::ShuttingDown;
            else if (ex.responder.client_gone())
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
    if (!cut_short) outcome = Outcome::Done;
    finish_job(ex, job, /*cut_short=*/outcome != Outcome::Done);
    if (outcome == Outcome::ShuttingDown) throw shutting_down();
    if (outcome == Outcome::ClientLeft) {
        // Nobody reads this; 499 (nginx's "client closed request") tells the log and metrics.
        ex.send_error(ApiError(499, "the client closed the connection"));
        return;
    }
    for (const ChoiceState& c : job.choices) {
        if (!c.error.empty()) throw ApiError(500, "generation failed: " + c.error, "server_error");
    }
    const tokenizer::Tokenizer& tok = *job.model->tokenizer;
    const bool want_logprobs = job.request.top_logprobs >= 0;
    json choices = json::array();
    for (size_t i = 0; i < job.choices.size(); ++i) {
        const ChoiceState& c = job.choices[i];
        json choice = {{"index", i}, {"finish_reason", finish_name(c.finish)}};
        if (job.request.chat) {
            choice["message"] = job.message_json(c, choice);
            choice["logprobs"] = want_logprobs ? chat_logprobs_json(tok, c.logprobs) : json();
        } else {
            choice["text"] = job.echo_text + c.text;
            choice["logprobs"] = want_logprobs
                                     ? completion_logprobs_json(tok, c.logprobs, job.echo_text.size())
                                     : json();
        }
        choices.push_back(choice);
    }
    ex.send_json(200, {{"id", job.id},
                       {"object", job.request.chat ? "chat.completion" : "text_completion"},
                       {"created", job.created},
                       {"model", job.model->entry.name},
                       {"system_fingerprint", kFingerprint},
                       {"choices", choices},
                       {"usage", job.usage_json()}});
}

// Server-Sent Events, framed as OpenAI frames them. Runs on the handler's thread until the
// last event, the client leaving, or shutdown (an error event and [DONE], so clients report an
// error instead of a silently truncated answer).
void CompletionsApi::stream(Exchange& ex, Job& job) {
    bool ok = ex.begin_event_stream();
    for (int i = 0; ok && i < job.request.n; ++i) {
        json chunk = job.chunk_base();
        if (job.request.chat) {
            chunk["choices"] = json::array({job.chunk_choice(i, "", {}, nullptr, true)});
        } else if (!job.echo_text.empty()) {
            chunk["choices"] = json::array({job.chunk_choice(i, job.echo_text, {}, nullptr, false)});
        } else {
            continue;
        }
        ok = ex.send_event(chunk);
    }
    int finished = 0;
    bool cut_short = true;
    while (ok) {
        // Writes fail once the client is gone, but none happen while a long prompt is
        // evaluated: look at the connection itself.
        if (ex.responder.client_gone()) break;
        for (auto& [index, ev] : job.channel->take(kPollInterval)) {
            if (!send_progress(ex, job, index, ev)) {
                ok = false;
                break;
            }
            if (ev.finished) ++finished;
        }
        if (!ok) break;
        if (finished < job.request.n) {
            if (running_.load()) continue;
            job.channel->cancel_all();
            finish_job(ex, job, /*cut_short=*/true);
            if (ex.send_event(shutting_down().to_json())) ex.send_event_text("[DONE]");
            break;
        }
        cut_short = false;
        finish_job(ex, job, false);
        if (job.request.include_usage) {
            json usage = job.chunk_base();
            usage["choices"] = json::array();
            usage["usage"] = job.usage_json();
            if (!ex.send_event(usage)) break;
        }
        ex.send_event_text("[DONE]");
        break;
    }
    // However the stream ended: when the client left early, stop generating now.
    job.channel->cancel_all();
    finish_job(ex, job, cut_short);
    ex.end_stream();
}

// The end of a streamed chat reply: the text the tool-call parser held back, then each call
// as OpenAI streams it (id, type and name first, then the arguments).
bool CompletionsApi::send_reply_end(Exchange& ex, Job& job, int index, const char*& finish) {
    ChoiceState& c = job.choices[static_cast<size_t>(index)];
    std::string content_left;
    chat::ParsedReply end;
    if (job.harmony) {
        chat::HarmonyReply rest = c.harmony_stream.finish();
        if (!rest.reasoning.empty() &&
            !ex.send_event(job.delta_chunk(index, {{"reasoning_content", rest.reasoning}})))
            return false;
        end = {std::move(rest.content), std::move(rest.calls)};
    } else if (job.thinks) {
        chat::SplitReply rest = c.reasoning_stream.finish();
        if (!rest.reasoning.empty() &&
            !ex.send_event(job.delta_chunk(index, {{"reasoning_content", rest.reasoning}})))
            return false;
        content_left = c.tool_stream.push(rest.content);
    }
    if (!job.harmony) {
        end = c.tool_stream.finish();
        end.content = content_left + end.content;
    }
    if (!end.content.empty() && !ex.send_event(job.text_chunk(index, end.content, {})))
        return false;
    for (size_t i = 0; i < end.calls.size(); ++i) {
        const chat::ToolCall& call = end.calls[i];
        json head = {{"index", i},
                     {"id", random_id("call_")},
                     {"type", "function"},
                     {"function", {{"name", call.name}, {"arguments", ""}}}};
        json args = {{"index", i}, {"function", {{"arguments", call.arguments}}}};
        if (!ex.send_event(job.delta_chunk(index, {{"tool_calls", json::array({head})}})) ||
            !ex.send_event(job.delta_chunk(index, {{"tool_calls", json::array({args})}})))
            return false;
        finish = "tool_calls";
    }
    return true;
}

bool CompletionsApi::send_progress(Exchange& ex, Job& job, int index,
                                   runtime::SequenceEvent& ev) {
    absorb(job, index, ev);
    ChoiceState& c = job.choices[static_cast<size_t>(index)];
    // Chat text passes the reasoning splitter, then the tool-call parser, which holds back
    // what may be a call; a harmony reply passes its own reader, which does both.
    std::string text = ev.text;
    if (job.request.chat && job.harmony) {
        chat::HarmonyReply split = c.harmony_stream.push(text);
        if (!split.reasoning.empty() &&
            !ex.send_event(job.delta_chunk(index, {{"reasoning_content", split.reasoning}})))
            return false;
        text = std::move(split.content);
    } else if (job.request.chat && job.thinks) {
        chat::SplitReply split = c.reasoning_stream.push(text);
        if (!split.reasoning.empty() &&
            !ex.send_event(job.delta_chunk(index, {{"reasoning_content", split.reasoning}})))
            return false;
        text = std::move(split.content);
    }
    if (job.request.chat && !job.harmony) text = c.tool_stream.push(text);
    if ((!text.empty() || !ev.logprobs.empty()) &&
        !ex.send_event(job.text_chunk(index, text, ev.logprobs)))
        return false;
    if (!ev.finished) return true;
    if (!ev.error.empty()) {
        return ex.send_event(
            ApiError(500, "generation failed: " + ev.error, "server_error").to_json());
    }
    if (ev.finish == runtime::FinishReason::Cancelled) return true;
    const char* finish = finish_name(ev.finish);
    if (job.request.chat && !send_reply_end(ex, job, index, finish)) return false;
    json chunk = job.chunk_base();
    chunk["choices"] = json::array({job.chunk_choice(index, "", {}, finish, false)});
    return ex.send_event(chunk);
}

}  // namespace hearth::server
