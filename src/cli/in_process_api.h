#pragma once
// An ApiClient answered by a server::Server inside this process (no socket, no port): what
// `hearth run` uses when no server runs, so the chat takes the server's one generation path
// (templates, reasoning split, sampling defaults of the model's YAML) without a second copy.
#include <memory>

#include "cli/api_client.h"
#include "server/server.h"

namespace hearth::cli {

class InProcessApi : public ApiClient {
  public:
    // Serves `models` with `options` (its host and port are not used: nothing listens).
    InProcessApi(server::ServerOptions options, std::vector<server::ModelEntry> models);
    ~InProcessApi() override;

    ApiReply get(const std::string& path) override;
    ApiReply post(const std::string& path, const nlohmann::json& body) override;
    ApiReply post_stream(const std::string& path, const nlohmann::json& body, const BodySink& sink,
                         const std::function<bool()>& interrupted) override;
    std::string where() const override { return "this process"; }

    server::ModelPool& pool();

  private:
    ApiReply exchange(const std::string& method, const std::string& path, std::string body,
                      const BodySink* sink, const std::function<bool()>* interrupted);

    std::unique_ptr<server::Server> server_;
};

}  // namespace hearth::cli
