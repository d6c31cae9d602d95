#pragma once
// Errors a client caused or must handle, in OpenAI's shape:
// {"error": {"message": ..., "type": ..., "param": ..., "code": ...}} with the matching status.
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hearth::server {

class ApiError : public std::runtime_error {
  public:
    ApiError(int status, const std::string& message, std::string type = "invalid_request_error",
             std::string param = {}, std::string code = {})
        : std::runtime_error(message),
          status_(status),
          type_(std::move(type)),
          param_(std::move(param)),
          code_(std::move(code)) {}

    int status() const { return status_; }
    // Extra response headers (e.g. Allow for a 405).
    const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
    ApiError& with_header(std::string name, std::string value) {
        headers_.emplace_back(std::move(name), std::move(value));
        return *this;
    }
    nlohmann::json to_json() const {
        nlohmann::json error = {{"message", what()}, {"type", type_}};
        error["param"] = param_.empty() ? nlohmann::json() : nlohmann::json(param_);
        error["code"] = code_.empty() ? nlohmann::json() : nlohmann::json(code_);
        return {{"error", error}};
    }

    // The common cases, named so call sites read as what happened.
    static ApiError bad_request(const std::string& message, const std::string& param = {}) {
        return ApiError(400, message, "invalid_request_error", param);
    }
    // The model exists but does not do what the route asks (embeddings, reranking).
    static ApiError model_not_supported(const std::string& message) {
        return ApiError(400, message, "invalid_request_error", "model", "model_not_supported");
    }
    static ApiError model_not_found(const std::string& model) {
        return ApiError(404, "The model '" + model + "' does not exist or is not served here",
                        "invalid_request_error", "model", "model_not_found");
    }

  private:
    int status_;
    std::string type_, param_, code_;
    std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace hearth::server
