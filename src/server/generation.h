#pragma once
// The one generation path under every API. An API reads its own request shape into a
// GenerationRequest (openai_request.h), then Generations::run turns it into prompt tokens and
// scheduler sequences, waits or streams, cancels when the client leaves or the server stops,
// counts tokens in the metrics, and hands what the model said, already split into reasoning,
// content and tool calls, to the API's ReplyWriter, which alone knows the wire format.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "chat/tool_calls.h"
#include "runtime/generate.h"
#include "server/exchange.h"
#include "server/metrics.h"
#include "server/model_pool.h"
#include "server/openai_request.h"
#include "server/rate_limits.h"

namespace hearth::server {

// Whether the caller's key may use the model (its allow-list names the model or an alias).
bool visible_to(const Identity& who, const ModelEntry& entry);

// The model a request names: in the path (/models/NAME/v1/...) first, then the body's
// "model"; none at all is fine when only one model is served. 404 when unknown, and when the
// caller's key may not use it (exactly as if it were absent).
const ModelEntry& resolve_model(const ModelPool& pool, const Identity& who,
                                const std::string& from_path, const std::string& from_body);

// resolve_model for a body's optional "model" (400 unless a string), then the model loaded.
std::shared_ptr<LoadedModel> acquire_model(ModelPool& pool, const Identity& who,
                                           const nlohmann::json& body, const std::string& from_path);

ApiError shutting_down();

// Context shift: the tokens of a chat prompt (`prompt`, rendered from r.messages) that its leading
// system or developer messages take, with the BOS; the BOS alone when there are none or the
// template cannot render them alone.
int32_t system_prompt_tokens(const GenerationRequest& r, const LoadedModel& m,
                             const std::vector<int32_t>& prompt);

// What a writer knows of the generation it writes.
struct GenerationInfo {
    const GenerationRequest& request;
    const LoadedModel& model;
    int64_t created = 0;  // unix seconds
    int64_t prompt_tokens = 0;
    int64_t cached_prompt_tokens = 0;  // known once a choice finished
    int64_t completion_tokens = 0;     // all choices, so far
    // The reply has a reasoning part (a <think> block or harmony's analysis channel), which
    // reaches the writer apart from the content.
    bool splits_reasoning = false;
    std::string echo_text{};  // completions with echo: the prompt as text
    // Timings from the request's first byte (Ollama reports them): the model ready (loaded if
    // it was not), and the first text out (0 until then).
    double seconds_to_model = 0;
    double seconds_to_first_text = 0;
};

// A finished choice, as the model said it.
struct ChoiceReply {
    std::string reasoning;
    std::string content;
    std::vector<chat::ToolCall> calls;
    std::vector<runtime::TokenLogprob> logprobs;
    runtime::FinishReason finish = runtime::FinishReason::Stop;
    std::string stop_sequence;  // the stop string that ended it, if one did
    int64_t completion_tokens = 0;
};

// One API's wire format. A non-streamed answer is one write_whole(); a stream is begin(),
// then per choice any number of reasoning() and text() pieces, its tool_call()s and
// choice_end(), then done(). Each streaming call returns false once the client is gone.
class ReplyWriter {
  public:
    virtual ~ReplyWriter() = default;
    virtual void write_whole(const GenerationInfo& info, const std::vector<ChoiceReply>& choices) = 0;

    virtual bool begin(const GenerationInfo& info) = 0;
    virtual bool reasoning(int choice, const std::string& text) = 0;
    virtual bool text(int choice, const std::string& text,
                      const std::vector<runtime::TokenLogprob>& logprobs) = 0;
    virtual bool tool_call(int choice, size_t index, const chat::ToolCall& call) = 0;
    // `reply` has the finish, the stop string and the counts; its text was streamed already.
    virtual bool choice_end(int choice, const ChoiceReply& reply) = 0;
    // A choice failed, or the server is stopping (then done(complete=false) follows at once).
    virtual bool error(const ApiError& error) = 0;
    // Every choice ended (complete) or the stream is cut short.
    virtual bool done(const GenerationInfo& info, bool complete) = 0;
};

// What a request's prompt became, before anything is generated.
struct PreparedPrompt {
    std::vector<int32_t> tokens;
    chat::ToolCallSyntax tool_syntax = chat::ToolCallSyntax::None;  // None: no tool parsing
    bool mistral_args_calls = false;  // forced Mistral calls as [TOOL_CALLS]name[ARGS]{...}
    bool thinks = false;              // the reply's <think> part is reasoning
    bool starts_thinking = false;     // the prompt opened the <think>
    bool harmony = false;             // gpt-oss: the reply is harmony channel messages
    std::string echo_text;
    int32_t n_keep = 0;  // tokens a context shift keeps (SequenceRequest::n_keep)
};

class Generations {
  public:
    Generations(ModelPool& pool, Metrics& metrics, const std::atomic<bool>& running,
                RequestLimits limits)
        : pool_(pool), metrics_(metrics), running_(running), limits_(limits) {}

    const RequestLimits& limits() const { return limits_; }
    ModelPool& pool() { return pool_; }

    // Generates what `request` asks of the model it names (or `path_model`) and answers
    // through `writer`, streamed when request.stream. Throws ApiError for what the client got
    // wrong, before anything is sent.
    void run(Exchange& ex, const GenerationRequest& request, const std::string& path_model,
             ReplyWriter& writer);

    // The prompt `request` makes for `model` (rendered and tokenized, checked against the
    // context); a 400 when it is empty or does not fit.
    static PreparedPrompt prepare_prompt(const GenerationRequest& request, const LoadedModel& model);

  private:
    struct Job;
    static int32_t max_tokens_of(const Job& job);  // what each choice may generate
    void submit(Job& job) const;
    void absorb(Job& job, int index, const runtime::SequenceEvent& ev);
    void record_timings(Job& job, const runtime::SequenceEvent& ev);
    void finish_job(Exchange& ex, Job& job, bool cut_short);
    void respond_when_done(Exchange& ex, Job& job);
    void stream(Exchange& ex, Job& job);
    bool stream_event(Job& job, int index, const runtime::SequenceEvent& ev);
    bool stream_reply_end(Job& job, int index);

    ModelPool& pool_;
    Metrics& metrics_;
    const std::atomic<bool>& running_;
    RequestLimits limits_;
    RateLimits rate_limits_;  // the callers' keys' limits (rate_limits.h)
};

// A random id after `prefix` ("chatcmpl-", "call_", ...): 24 lowercase letters and digits.
std::string random_id(const char* prefix);
int64_t unix_time();

}  // namespace hearth::server
