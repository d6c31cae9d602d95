#pragma once
// Errors a client caused or must handle, with the matching status, in the shape of the API the
// client speaks: OpenAI's {"error": {"message", "type", "param", "code"}} by default,
// Anthropic's {"type": "error", "error": {"type", "message"}} on /v1/messages, Ollama's
// {"error": "message"} on /api/.
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hearth::server {

enum class ErrorShape { OpenAI, Anthropic, Ollama };

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
    nlohmann::json to_json(ErrorShape shape = ErrorShape::OpenAI) const {
        if (shape == ErrorShape::Anthropic)
            return {{"type", "error"}, {"error", {{"type", anthropic_type()}, {"message", what()}}}};
        if (shape == ErrorShape::Ollama) return {{"error", what()}};
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
    // Anthropic names errors by their status (docs.anthropic.com, "Errors").
    const char* anthropic_type() const {
        switch (status_) {
            case 401: return "authentication_error";
            case 403: return "permission_error";
            case 404: return "not_found_error";
            case 413: return "request_too_large";
            case 429: return "rate_limit_error";
            case 503: case 529: return "overloaded_error";
            default: return status_ >= 500 ? "api_error" : "invalid_request_error";
        }
    }

    int status_;
    std::string type_, param_, code_;
    std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace hearth::server
