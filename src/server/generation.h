#pragma once
// /v1/chat/completions and /v1/completions: a request becomes prompt tokens and sequences for
// the model's scheduler; their events become one OpenAI answer or an SSE stream.
#include <atomic>
#include <string>

#include "server/exchange.h"
#include "server/metrics.h"
#include "server/model_pool.h"
#include "server/openai_request.h"

namespace hearth::server {

// The model a request names: in the path (/models/NAME/v1/...) first, then the body's
// "model"; none at all is fine when only one model is served. 404 when unknown.
const ModelEntry& resolve_model(const ModelPool& pool, const std::string& from_path,
                                const std::string& from_body);

// resolve_model for a body's optional "model" (400 unless a string), then the model loaded.
std::shared_ptr<LoadedModel> acquire_model(ModelPool& pool, const nlohmann::json& body,
                                           const std::string& from_path);

class CompletionsApi {
  public:
    CompletionsApi(ModelPool& pool, Metrics& metrics, const std::atomic<bool>& running,
                   RequestLimits limits)
        : pool_(pool), metrics_(metrics), running_(running), limits_(limits) {}

    // Answers one request; throws ApiError for what the client got wrong.
    void handle(Exchange& ex, bool chat, const std::string& path_model);

  private:
    struct Job;
    void prepare_prompt(Job& job) const;
    void submit(Job& job) const;
    void respond_when_done(Exchange& ex, Job& job);
    void stream(Exchange& ex, Job& job);
    void absorb(Job& job, int index, const runtime::SequenceEvent& ev);
    void finish_job(Exchange& ex, Job& job, bool cut_short);
    bool send_progress(Exchange& ex, Job& job, int index, runtime::SequenceEvent& ev);
    bool send_reply_end(Exchange& ex, Job& job, int index, const char*& finish);

    ModelPool& pool_;
    Metrics& metrics_;
    const std::atomic<bool>& running_;
    RequestLimits limits_;
};

ApiError shutting_down();

}  // namespace hearth::server
