#include "server/generation.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>

#include "chat/harmony.h"
#include "chat/reasoning.h"
#include "server/chat_prompt.h"
#include "server/tool_grammar.h"

namespace hearth::server {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// How often a waiting handler checks that its client is still there and the server still runs.
constexpr std::chrono::milliseconds kPollInterval{100};

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
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
    std::string stop_sequence;
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

// Context shift keeps a chat's system prompt: the tokens its leading system (or developer)
// messages take, found as the prompt's common prefix with the same template rendered with only
// those messages (and the tools, which templates write into the system part). Templates that
// refuse such a conversation, and chats without a system message, keep the BOS only.
int32_t system_prompt_tokens(const GenerationRequest& r, const LoadedModel& m,
                             const std::vector<int32_t>& prompt) {
    const int32_t bos = prompt.front() == m.tokenizer->vocab().bos ? 1 : 0;
    const bool has_order = r.ordered_messages.is_array() &&
                           r.ordered_messages.size() == r.messages.size();
    json system = json::array();
    nlohmann::ordered_json ordered = nlohmann::ordered_json::array();
    for (size_t i = 0; i < r.messages.size(); ++i) {
        const json& message = r.messages[i];
        if (!message.is_object()) break;
        const json role = message.value("role", json());
        if (role != "system" && role != "developer") break;
        system.push_back(message);
        if (has_order) ordered.push_back(r.ordered_messages[i]);
    }
    if (system.empty()) return bos;
    try {
        const std::vector<int32_t> alone =
            render_chat_prompt(*m.model, *m.tokenizer, system, m.entry.chat_template,
                               r.chat_template_kwargs, has_order ? &ordered : nullptr,
                               r.ordered_tools)
                .tokenize(*m.tokenizer);
        size_t n = 0;
        while (n < alone.size() && n < prompt.size() && alone[n] == prompt[n]) ++n;
        return std::max(bos, static_cast<int32_t>(n));
    } catch (const std::exception&) {
        return bos;
    }
}

ApiError shutting_down() {
    return ApiError(503, "the server is shutting down; retry shortly", "server_error", "",
                    "server_shutting_down");
}

bool visible_to(const Identity& who, const ModelEntry& entry) {
    if (who.allows_model_name(entry.name)) return true;
    return std::any_of(entry.aliases.begin(), entry.aliases.end(),
                       [&](const std::string& alias) { return who.allows_model_name(alias); });
}

const ModelEntry& resolve_model(const ModelPool& pool, const Identity& who,
                                const std::string& from_path, const std::string& from_body) {
    const std::string& name = from_path.empty() ? from_body : from_path;
    if (name.empty()) {
        const ModelEntry* only = pool.sole_entry();
        if (only && visible_to(who, *only)) return *only;
        throw ApiError::bad_request("'model' is required", "model");
    }
    const ModelEntry* e = pool.find(name);
    if (!e || !visible_to(who, *e)) throw ApiError::model_not_found(name);
    return *e;
}

std::shared_ptr<LoadedModel> acquire_model(ModelPool& pool, const Identity& who, const json& body,
                                           const std::string& from_path) {
    auto model = body.find("model");
    if (model != body.end() && !model->is_string())
        throw ApiError::bad_request("'model' must be a string", "model");
    return pool.acquire(resolve_model(pool, who, from_path,
                                      model != body.end() ? model->get<std::string>() : ""));
}

// One request being generated: its prompt, its choices' running state, and the writer.
struct Generations::Job {
    Job(const GenerationRequest& r, std::shared_ptr<LoadedModel> m, ReplyWriter& w)
        : request(r), model(std::move(m)), writer(w), info{request, *model} {}

    const GenerationRequest& request;
    std::shared_ptr<LoadedModel> model;
    ReplyWriter& writer;
    GenerationInfo info;
    PreparedPrompt prompt;
    std::shared_ptr<const runtime::Grammar> grammar;  // structured output (null: free text)
    Clock::time_point start;
    bool first_text_seen = false;
    bool recorded = false;  // tokens counted in the metrics
    bool queue_wait_recorded = false, first_token_recorded = false;  // the metrics, too
    std::vector<ChoiceState> choices;
    std::shared_ptr<GenerationChannel> channel = std::make_shared<GenerationChannel>();
    RateLease rate_lease;  // the caller's key limits, held until the job ends
    std::string fair_share_group;  // the caller's key: the scheduler admits keys in turn

    int64_t completion_tokens() const {
        int64_t n = 0;
        for (const ChoiceState& c : choices) n += c.completion_tokens;
        return n;
    }

    // A finished choice's text split into reasoning, content and tool calls.
    ChoiceReply reply_of(const ChoiceState& c) const {
        ChoiceReply reply;
        reply.logprobs = c.logprobs;
        reply.finish = c.finish;
        reply.stop_sequence = c.stop_sequence;
        reply.completion_tokens = c.completion_tokens;
        if (!request.chat) {
            reply.content = c.text;
            return reply;
        }
        if (prompt.harmony) {
            chat::HarmonyReply h = chat::parse_harmony(c.text);
            reply.reasoning = std::move(h.reasoning);
            reply.content = std::move(h.content);
            reply.calls = std::move(h.calls);
            return reply;
        }
        std::string answer = c.text;
        if (prompt.thinks) {
            chat::SplitReply split = chat::split_reasoning(c.text, prompt.starts_thinking);
            reply.reasoning = std::move(split.reasoning);
            answer = std::move(split.content);
        }
        chat::ParsedReply parsed = chat::parse_tool_calls(prompt.tool_syntax, answer);
        reply.content = std::move(parsed.content);
        reply.calls = std::move(parsed.calls);
        if (reply.calls.empty()) reply.content = std::move(answer);
        return reply;
    }
};

void Generations::run(Exchange& ex, const GenerationRequest& request,
                      const std::string& path_model, ReplyWriter& writer) {
    if (!running_.load()) throw shutting_down();
    const ModelEntry& entry = resolve_model(pool_, ex.identity, path_model, request.model);
    ex.model = entry.name;
    Job job(request, pool_.acquire(entry), writer);
    job.start = ex.request.started;
    job.info.seconds_to_model = seconds_since(job.start);
    job.prompt = prepare_prompt(request, *job.model);
    const bool forced_call = request.tool_choice == ToolChoice::Required ||
                             request.tool_choice == ToolChoice::Function;
    // A template without a call syntax: the forced call takes the generic JSON form.
    if (forced_call && job.prompt.tool_syntax == chat::ToolCallSyntax::None)
        job.prompt.tool_syntax = chat::ToolCallSyntax::Llama3Json;
    job.grammar = grammar_for(request, job.prompt.tool_syntax, job.prompt.thinks,
                              job.prompt.starts_thinking, job.prompt.mistral_args_calls,
                              job.prompt.harmony);
    job.info.prompt_tokens = static_cast<int64_t>(job.prompt.tokens.size());
    job.info.splits_reasoning = request.chat && (job.prompt.thinks || job.prompt.harmony);
    job.info.echo_text = job.prompt.echo_text;
    // Counted up front as OpenAI does: the prompt and all that n choices may generate.
    job.rate_lease = rate_limits_.admit(
        ex, job.info.prompt_tokens + static_cast<int64_t>(request.n) * max_tokens_of(job));
    job.fair_share_group = ex.identity.key_id;
    submit(job);
    // Only now: a request refused by a full queue used no tokens.
    ex.prompt_tokens = job.info.prompt_tokens;
    if (request.stream) {
        stream(ex, job);
    } else {
        respond_when_done(ex, job);
    }
}

PreparedPrompt Generations::prepare_prompt(const GenerationRequest& r, const LoadedModel& m) {
    PreparedPrompt out;
    const char* param = r.chat ? "messages" : "prompt";
    // Tokenizing megabytes only to say they do not fit would let one request hold a thread.
    const size_t text_bytes = r.chat ? message_bytes(r.messages) : r.prompt_text.size();
    const int64_t at_least = fewest_tokens(text_bytes, m);
    if (at_least >= m.ctx_size) throw context_exceeded(m.ctx_size, at_least, param, true);
    if (r.chat) {
        ChatPrompt p =
            render_chat_prompt(*m.model, *m.tokenizer, r.messages, m.entry.chat_template,
                               r.chat_template_kwargs, &r.ordered_messages, r.ordered_tools);
        out.tokens = p.tokenize(*m.tokenizer);
        out.tool_syntax = p.tool_call_syntax;
        out.thinks = p.thinks;
        out.mistral_args_calls = p.mistral_args_calls;
        out.starts_thinking = p.starts_thinking;
        out.harmony = p.harmony;
        if (m.context_shift) out.n_keep = system_prompt_tokens(r, m, out.tokens);
    } else if (!r.prompt_tokens.empty()) {
        for (int32_t id : r.prompt_tokens) {
            if (id < 0 || id >= m.tokenizer->vocab().size()) {
                throw ApiError::bad_request(
                    "token id " + std::to_string(id) + " is not in the vocabulary", "prompt");
            }
        }
        out.tokens = r.prompt_tokens;
        if (r.echo) out.echo_text = m.tokenizer->decode(r.prompt_tokens);
    } else {
        // A raw prompt is the caller's own text, control tokens included.
        out.tokens =
            m.tokenizer->encode(r.prompt_text, /*add_special=*/true, /*parse_special=*/true);
        if (r.echo) out.echo_text = r.prompt_text;
    }
    if (out.tokens.empty()) throw ApiError::bad_request("the prompt is empty", param);
    const int64_t n = static_cast<int64_t>(out.tokens.size());
    if (n >= m.ctx_size) throw context_exceeded(m.ctx_size, n, param, false);
    if (!r.chat) {
        // As llama-server: n_keep counts the prompt after its BOS.
        const bool bos = out.tokens.front() == m.tokenizer->vocab().bos;
        out.n_keep = r.n_keep < 0 ? static_cast<int32_t>(n)
                                  : static_cast<int32_t>(std::min<int64_t>(r.n_keep + bos, n));
    }
    return out;
}

int32_t Generations::max_tokens_of(const Job& job) {
    const GenerationRequest& r = job.request;
    const int64_t room = job.model->ctx_size - job.info.prompt_tokens;
    // With context shift a sequence may outgrow the context: only an unset max_tokens stops
    // where the context is full.
    const std::optional<int32_t> asked = r.max_tokens ? r.max_tokens : job.model->entry.max_tokens;
    return job.model->context_shift && asked
               ? *asked
               : static_cast<int32_t>(std::min<int64_t>(asked.value_or(INT32_MAX), room));
}

void Generations::submit(Job& job) const {
    const GenerationRequest& r = job.request;
    const int32_t max_tokens = max_tokens_of(job);
    job.info.created = unix_time();
    job.choices.resize(static_cast<size_t>(r.n));
    for (ChoiceState& c : job.choices) {
        c.reasoning_stream = chat::ReasoningStream(job.prompt.starts_thinking);
        c.tool_stream = chat::ToolCallStream(job.prompt.tool_syntax);
    }
    std::vector<runtime::SequenceRequest> seqs;
    for (int i = 0; i < r.n; ++i) {
        runtime::SequenceRequest s;
        s.prompt = job.prompt.tokens;
        s.sampling = sampling_for(r, job.model->entry, i);
        s.sampling.grammar = job.grammar;
        s.max_tokens = max_tokens;
        s.stop = r.stop;
        s.ignore_eos = r.ignore_eos;
        s.top_logprobs = r.top_logprobs;
        s.n_keep = job.prompt.n_keep;
        s.fair_share_group = job.fair_share_group;
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
void Generations::absorb(Job& job, int index, const runtime::SequenceEvent& ev) {
    ChoiceState& c = job.choices[static_cast<size_t>(index)];
    c.text += ev.text;
    c.logprobs.insert(c.logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
    if (!ev.text.empty() && !job.first_text_seen) {
        job.first_text_seen = true;
        job.info.seconds_to_first_text = seconds_since(job.start);
    }
    record_timings(job, ev);
    c.completion_tokens = ev.completion_tokens;
    job.info.completion_tokens = job.completion_tokens();
    if (!ev.finished) return;
    c.finished = true;
    c.finish = ev.finish;
    c.stop_sequence = ev.stop_sequence;
    c.error = ev.error;
    job.info.cached_prompt_tokens = ev.cached_prompt_tokens;
}

// The metrics' timings from the scheduler's timestamps: a request's queue wait and time to
// first token from the first of its choices to reach them, every token's gap.
void Generations::record_timings(Job& job, const runtime::SequenceEvent& ev) {
    const std::string& model = job.model->entry.name;
    auto seconds = [](Clock::time_point from, Clock::time_point to) {
        return std::chrono::duration<double>(to - from).count();
    };
    if (!job.queue_wait_recorded && ev.admitted_at != Clock::time_point{}) {
        job.queue_wait_recorded = true;
        metrics_.record_queue_wait(model, seconds(ev.queued_at, ev.admitted_at));
    }
    if (!job.first_token_recorded && ev.first_token_at != Clock::time_point{}) {
        job.first_token_recorded = true;
        metrics_.record_time_to_first_token(model,
                                            seconds(ev.prefill_started_at, ev.first_token_at));
    }
    metrics_.record_token_gaps(model, ev.token_gaps);
}

// Records the request's tokens once, however it ended.
// cut_short: the client left or the server is stopping, whatever the choices say yet.
void Generations::finish_job(Exchange& ex, Job& job, bool cut_short) {
    if (job.recorded) return;
    job.recorded = true;
    job.model->touch();
    bool cancelled = cut_short;
    for (const ChoiceState& c : job.choices)
        cancelled |= c.finish == runtime::FinishReason::Cancelled;
    ex.completion_tokens = job.completion_tokens();
    ex.cached_tokens = job.info.cached_prompt_tokens;
    metrics_.record_generation(job.model->entry.name, api_label(ex.request.path),
                               job.info.prompt_tokens, job.info.cached_prompt_tokens,
                               ex.completion_tokens, cancelled, seconds_since(job.start));
    job.rate_lease.settle(job.info.prompt_tokens + ex.completion_tokens);
}

void Generations::respond_when_done(Exchange& ex, Job& job) {
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
    std::vector<ChoiceReply> replies;
    for (const ChoiceState& c : job.choices) replies.push_back(job.reply_of(c));
    job.writer.write_whole(job.info, replies);
}

// Runs on the handler's thread until the last event, the client leaving, or shutdown (an
// error and a cut-short end, so clients report an error instead of a silently truncated
// answer).
void Generations::stream(Exchange& ex, Job& job) {
    bool ok = job.writer.begin(job.info);
    int finished = 0;
    bool cut_short = true;
    while (ok) {
        // Writes fail once the client is gone, but none happen while a long prompt is
        // evaluated: look at the connection itself.
        if (ex.responder.client_gone()) break;
        for (auto& [index, ev] : job.channel->take(kPollInterval)) {
            absorb(job, index, ev);
            if (!stream_event(job, index, ev)) {
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
            if (job.writer.error(shutting_down())) job.writer.done(job.info, false);
            break;
        }
        cut_short = false;
        finish_job(ex, job, false);
        job.writer.done(job.info, true);
        break;
    }
    // However the stream ended: when the client left early, stop generating now.
    job.channel->cancel_all();
    finish_job(ex, job, cut_short);
    ex.end_stream();
}

// One scheduler event, written: chat text passes the reasoning splitter, then the tool-call
// parser, which holds back what may be a call; a harmony reply passes its own reader, which
// does both.
bool Generations::stream_event(Job& job, int index, const runtime::SequenceEvent& ev) {
    ChoiceState& c = job.choices[static_cast<size_t>(index)];
    ReplyWriter& w = job.writer;
    std::string text = ev.text;
    if (job.request.chat && job.prompt.harmony) {
        chat::HarmonyReply split = c.harmony_stream.push(text);
        if (!split.reasoning.empty() && !w.reasoning(index, split.reasoning)) return false;
        text = std::move(split.content);
    } else if (job.request.chat && job.prompt.thinks) {
        chat::SplitReply split = c.reasoning_stream.push(text);
        if (!split.reasoning.empty() && !w.reasoning(index, split.reasoning)) return false;
        text = std::move(split.content);
    }
    if (job.request.chat && !job.prompt.harmony) text = c.tool_stream.push(text);
    if ((!text.empty() || !ev.logprobs.empty()) && !w.text(index, text, ev.logprobs))
        return false;
    if (!ev.finished) return true;
    if (!ev.error.empty())
        return w.error(ApiError(500, "generation failed: " + ev.error, "server_error"));
    if (ev.finish == runtime::FinishReason::Cancelled) return true;
    return stream_reply_end(job, index);
}

// The end of a streamed reply: the text the parsers held back, then each call, then the end.
bool Generations::stream_reply_end(Job& job, int index) {
    ChoiceState& c = job.choices[static_cast<size_t>(index)];
    ReplyWriter& w = job.writer;
    ChoiceReply end;
    end.finish = c.finish;
    end.stop_sequence = c.stop_sequence;
    end.completion_tokens = c.completion_tokens;
    if (job.request.chat) {
        std::string content_left;
        if (job.prompt.harmony) {
            chat::HarmonyReply rest = c.harmony_stream.finish();
            if (!rest.reasoning.empty() && !w.reasoning(index, rest.reasoning)) return false;
            end.content = std::move(rest.content);
            end.calls = std::move(rest.calls);
        } else {
            if (job.prompt.thinks) {
                chat::SplitReply rest = c.reasoning_stream.finish();
                if (!rest.reasoning.empty() && !w.reasoning(index, rest.reasoning)) return false;
                content_left = c.tool_stream.push(rest.content);
            }
            chat::ParsedReply parsed = c.tool_stream.finish();
            end.content = content_left + parsed.content;
            end.calls = std::move(parsed.calls);
        }
    }
    if (!end.content.empty() && !w.text(index, end.content, {})) return false;
    for (size_t i = 0; i < end.calls.size(); ++i) {
        if (!w.tool_call(index, i, end.calls[i])) return false;
    }
    return w.choice_end(index, end);
}

}  // namespace hearth::server
