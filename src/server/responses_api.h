#pragma once
// OpenAI's Responses API: POST /v1/responses, GET and DELETE /v1/responses/{id}. A request is
// translated into the OpenAI chat shape (instructions and input items to messages,
// function_call / function_call_output items to tool calls and tool messages, flat function
// tools to chat tools, text.format to response_format) and read by the one request reader;
// the reply is written as a response object or its named SSE events. With `store` (the
// default) the response and the conversation it answered are kept in the ResponseStore, so
// `previous_response_id` continues it and GET / DELETE find it, for the key that made it only.
#include <nlohmann/json.hpp>
#include <string>

#include "server/generation.h"
#include "server/response_store.h"

namespace hearth::server {

struct ResponsesTranslation {
    nlohmann::ordered_json chat_body;  // the OpenAI chat body the request means
    // The conversation answered, as Responses items: the stored history, then the input.
    nlohmann::ordered_json items;
};

// `history`: the items of previous_response_id's conversation (its input, then its output),
// an empty array when there is none. Throws ApiError(400) naming the Responses field at fault.
ResponsesTranslation responses_to_openai(const nlohmann::ordered_json& body,
                                         const nlohmann::ordered_json& history);

class ResponsesApi {
  public:
    ResponsesApi(Generations& generations, ResponseStore& store)
        : generations_(generations), store_(store) {}

    void create(Exchange& ex, const std::string& path_model);
    void retrieve(Exchange& ex, const std::string& id);
    void remove(Exchange& ex, const std::string& id);

  private:
    Generations& generations_;
    ResponseStore& store_;
};

}  // namespace hearth::server
