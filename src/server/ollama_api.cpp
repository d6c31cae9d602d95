#include "server/ollama_api.h"

#include <cctype>
#include <cmath>
#include <ctime>

namespace hearth::server {

namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

ApiError bad(const std::string& param, const std::string& message) {
    return ApiError::bad_request(param + ": " + message, param);
}

const ojson* member(const ojson& object, const char* name) {
    auto it = object.find(name);
    return it == object.end() || it->is_null() ? nullptr : &*it;
}

// ---- the request ----

// Ollama's options, as the OpenAI fields they mean. Options for the runner (num_thread,
// num_gpu, use_mmap, ...) and samplers hearth does not have (mirostat, typical_p, ...) are
// ignored, as Ollama ignores options a model does not use.
void map_options(const ojson& options, ojson& out) {
    if (!options.is_object()) throw bad("options", "must be an object");
    auto number = [&](const char* name) -> const ojson* {
        const ojson* v = member(options, name);
        if (v && !v->is_number()) throw bad(std::string("options.") + name, "must be a number");
        return v;
    };
    auto integer = [&](const char* name) -> const ojson* {
        const ojson* v = member(options, name);
        if (v && !v->is_number_integer())
            throw bad(std::string("options.") + name, "must be an integer");
        return v;
    };
    for (const char* name : {"temperature", "top_p", "min_p", "repeat_penalty", "presence_penalty",
                             "frequency_penalty"}) {
        if (const ojson* v = number(name)) out[name] = *v;
    }
    for (const char* name : {"top_k", "seed"}) {
        if (const ojson* v = integer(name)) out[name] = *v;
    }
    if (const ojson* v = integer("num_predict")) {
        const int64_t n = v->get<int64_t>();
        if (n == 0 || n < -2)
            throw bad("options.num_predict",
                      "must be -1 (no limit), -2 (fill the context) or a positive count");
        if (n > 0) out["max_tokens"] = n;  // negative: up to the context, as without a limit
    }
    // The context is fixed when the model loads (--ctx-size or the model's YAML); a prompt
    // that does not fit it gets a 400 naming the real size. num_ctx is checked, not applied.
    if (const ojson* v = integer("num_ctx"); v && v->get<int64_t>() < 1)
        throw bad("options.num_ctx", "must be a positive integer");
    if (const ojson* stop = member(options, "stop")) {
        if (!stop->is_array() && !stop->is_string())
            throw bad("options.stop", "must be an array of strings");
        out["stop"] = *stop;
    }
}

// "json": any JSON object; a JSON schema object: output that follows it.
void map_format(const ojson& format, ojson& out) {
    if (format.is_string()) {
        if (format == "json") {
            out["response_format"] = {{"type", "json_object"}};
            return;
        }
        if (format == "") return;
    } else if (format.is_object()) {
        out["response_format"] = {{"type", "json_schema"},
                                  {"json_schema", {{"name", "format"}, {"schema", format}}}};
        return;
    }
    throw bad("format", "must be \"json\" or a JSON schema object");
}

// think: true/false, or an effort ("low", "medium", "high") for models that take one.
void map_think(const ojson& think, ojson& out) {
    ojson kwargs = ojson::object();
    if (think.is_boolean()) {
        kwargs["enable_thinking"] = think.get<bool>();
    } else if (think == "low" || think == "medium" || think == "high") {
        kwargs["enable_thinking"] = true;
        kwargs["reasoning_effort"] = think;
    } else {
        throw bad("think", "must be true, false, \"low\", \"medium\" or \"high\"");
    }
    out["chat_template_kwargs"] = std::move(kwargs);
}

void refuse_images(const ojson& holder, const std::string& param) {
    const ojson* images = member(holder, "images");
    if (images && !(images->is_array() && images->empty()))
        throw bad(param, "images are not supported: hearth's models read text only");
}

// One Ollama message as an OpenAI one: thinking becomes reasoning_content, tool_calls get ids
// and their arguments as JSON text, a tool result's tool_name becomes its name (results are
// matched to calls in order).
ojson openai_message(const ojson& m, size_t index) {
    const std::string param = "messages." + std::to_string(index);
    if (!m.is_object()) throw bad(param, "must be an object with 'role' and 'content'");
    const ojson* role = member(m, "role");
    if (!role || !role->is_string()) throw bad(param + ".role", "Field required");
    const ojson* content = member(m, "content");
    if (content && !content->is_string()) throw bad(param + ".content", "must be a string");
    refuse_images(m, param + ".images");
    ojson out = {{"role", *role}, {"content", content ? *content : ojson("")}};
    if (const ojson* thinking = member(m, "thinking")) {
        if (!thinking->is_string()) throw bad(param + ".thinking", "must be a string");
        out["reasoning_content"] = *thinking;
    }
    if (const ojson* calls = member(m, "tool_calls")) {
        if (!calls->is_array()) throw bad(param + ".tool_calls", "must be an array");
        ojson converted = ojson::array();
        for (size_t i = 0; i < calls->size(); ++i) {
            const std::string p = param + ".tool_calls." + std::to_string(i);
            const ojson& call = (*calls)[i];
            const ojson* function = call.is_object() ? member(call, "function") : nullptr;
            const ojson* name = function && function->is_object() ? member(*function, "name") : nullptr;
            if (!name || !name->is_string()) throw bad(p + ".function.name", "Field required");
            const ojson* args = member(*function, "arguments");
            if (args && !args->is_object()) throw bad(p + ".function.arguments", "must be an object");
            converted.push_back(
                {{"id", "call_" + std::to_string(index) + "_" + std::to_string(i)},
                 {"type", "function"},
                 {"function", {{"name", *name}, {"arguments", args ? args->dump() : "{}"}}}});
        }
        out["tool_calls"] = std::move(converted);
    }
    if (const ojson* tool_name = member(m, "tool_name")) {
        if (!tool_name->is_string()) throw bad(param + ".tool_name", "must be a string");
        out["name"] = *tool_name;
    }
    return out;
}

// /api/generate's prompt (and system) as chat messages, or as a raw completions prompt.
void map_prompt(const ojson& body, ojson& out, bool& chat) {
    const ojson* prompt = member(body, "prompt");
    if (prompt && !prompt->is_string()) throw bad("prompt", "must be a string");
    refuse_images(body, "images");
    if (const ojson* suffix = member(body, "suffix"); suffix && *suffix != "")
        throw bad("suffix", "fill-in-the-middle is not supported");
    if (const ojson* t = member(body, "template"); t && *t != "")
        throw bad("template", "is not supported: hearth renders with the model's own chat "
                              "template (or send raw: true with the prompt already formatted)");
    const ojson* raw = member(body, "raw");
    if (raw && !raw->is_boolean()) throw bad("raw", "must be a boolean");
    const std::string text = prompt ? prompt->get<std::string>() : "";
    if (raw && raw->get<bool>()) {
        chat = false;
        out["prompt"] = text;
        return;
    }
    ojson messages = ojson::array();
    if (const ojson* system = member(body, "system")) {
        if (!system->is_string()) throw bad("system", "must be a string");
        if (*system != "") messages.push_back({{"role", "system"}, {"content", *system}});
    }
    messages.push_back({{"role", "user"}, {"content", text}});
    out["messages"] = std::move(messages);
}

// ---- the reply ----

int64_t to_nanoseconds(double seconds) {
    return std::llround(std::max(0.0, seconds) * 1e9);
}

// Ollama's NDJSON objects: pieces with done false, then a last one with done true, the reason
// and the counts. /api/chat puts text in message.content, /api/generate in response.
class OllamaWriter : public ReplyWriter {
  public:
    OllamaWriter(Exchange& ex, bool is_chat_route, std::string model)
        : ex_(ex), chat_(is_chat_route), model_(std::move(model)) {}

    void write_whole(const GenerationInfo& info, const std::vector<ChoiceReply>& replies) override {
        const ChoiceReply& r = replies.front();
        json object = piece(r.content, r.reasoning);
        if (chat_ && !r.calls.empty()) {
            json calls = json::array();
            for (const chat::ToolCall& call : r.calls) calls.push_back(call_json(call));
            object["message"]["tool_calls"] = std::move(calls);
        }
        add_final(object, info, r);
        ex_.send_json(200, object);
    }

    bool begin(const GenerationInfo&) override { return ex_.begin_line_stream(); }

    bool reasoning(int, const std::string& text) override {
        return ex_.send_line(piece("", text));
    }

    bool text(int, const std::string& text, const std::vector<runtime::TokenLogprob>&) override {
        if (text.empty()) return true;
        return ex_.send_line(piece(text, ""));
    }

    bool tool_call(int, size_t, const chat::ToolCall& call) override {
        json object = piece("", "");
        object["message"]["tool_calls"] = json::array({call_json(call)});
        return ex_.send_line(object);
    }

    bool choice_end(int, const ChoiceReply& reply) override {
        end_ = reply;
        return true;
    }

    bool error(const ApiError& error) override {
        return ex_.send_line(error.to_json(ErrorShape::Ollama));
    }

    bool done(const GenerationInfo& info, bool complete) override {
        if (!complete) return true;
        json object = piece("", "");
        add_final(object, info, end_);
        return ex_.send_line(object);
    }

  private:
    json piece(const std::string& text, const std::string& thinking) const {
        json object = {{"model", model_},
                       {"created_at", ollama_time(std::chrono::system_clock::now())}};
        if (chat_) {
            json message = {{"role", "assistant"}, {"content", text}};
            if (!thinking.empty()) message["thinking"] = thinking;
            object["message"] = std::move(message);
        } else {
            object["response"] = text;
            if (!thinking.empty()) object["thinking"] = thinking;
        }
        object["done"] = false;
        return object;
    }

    static json call_json(const chat::ToolCall& call) {
        json args = json::parse(call.arguments, nullptr, /*allow_exceptions=*/false);
        return {{"function", {{"name", call.name}, {"arguments", args.is_object() ? args : json::object()}}}};
    }

    // done, done_reason and the counts; durations in nanoseconds from the request's first byte
    // (the prompt's: from the model ready to the first text, which includes the first token).
    void add_final(json& object, const GenerationInfo& info, const ChoiceReply& r) const {
        const double total = std::chrono::duration<double>(http::Clock::now() -
                                                           ex_.request.started).count();
        const double first = info.seconds_to_first_text > 0 ? info.seconds_to_first_text : total;
        object["done"] = true;
        object["done_reason"] = r.finish == runtime::FinishReason::Length ? "length" : "stop";
        object["total_duration"] = to_nanoseconds(total);
        object["load_duration"] = to_nanoseconds(info.seconds_to_model);
        object["prompt_eval_count"] = info.prompt_tokens;
        object["prompt_eval_duration"] = to_nanoseconds(first - info.seconds_to_model);
        object["eval_count"] = info.completion_tokens;
        object["eval_duration"] = to_nanoseconds(total - first);
    }

    Exchange& ex_;
    bool chat_;
    std::string model_;
    ChoiceReply end_;
};

// An empty prompt only loads the model (or, with keep_alive 0, unloads it), as Ollama does.
void answer_load(Exchange& ex, bool is_chat_route, const std::string& model, bool unload) {
    json object = {{"model", model}, {"created_at", ollama_time(std::chrono::system_clock::now())}};
    if (is_chat_route)
        object["message"] = {{"role", "assistant"}, {"content", ""}};
    else
        object["response"] = "";
    object["done"] = true;
    object["done_reason"] = unload ? "unload" : "load";
    ex.send_json(200, object);
}

bool only_loads(const ojson& body, bool is_chat_route) {
    if (is_chat_route) {
        const ojson* messages = member(body, "messages");
        return !messages || (messages->is_array() && messages->empty());
    }
    const ojson* prompt = member(body, "prompt");
    return !prompt || *prompt == "";
}

}  // namespace

std::string ollama_time(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    const auto ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(ns / 1000000000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char head[32];
    std::strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &utc);
    char tail[16];
    std::snprintf(tail, sizeof tail, ".%09lldZ", static_cast<long long>(ns % 1000000000));
    return std::string(head) + tail;
}

std::string ollama_model_name(const ModelPool& pool, const std::string& name) {
    if (pool.find(name)) return name;
    static const std::string kLatest = ":latest";
    if (name.size() > kLatest.size() &&
        name.compare(name.size() - kLatest.size(), kLatest.size(), kLatest) == 0) {
        std::string bare = name.substr(0, name.size() - kLatest.size());
        if (pool.find(bare)) return bare;
    }
    return name;
}

int64_t parse_keep_alive(const json& value) {
    auto fail = [] {
        return bad("keep_alive", "must be a number of seconds or a duration such as \"5m\", "
                                 "\"1h\" or \"-1\" (forever)");
    };
    double seconds = 0;
    if (value.is_number()) {
        seconds = value.get<double>();
    } else if (value.is_string()) {
        const std::string s = value.get<std::string>();
        size_t i = 0;
        const bool negative = !s.empty() && s[0] == '-';
        if (negative || (!s.empty() && s[0] == '+')) i = 1;
        if (i == s.size()) throw fail();
        while (i < s.size()) {
            size_t used = 0;
            double amount = 0;
            try {
                amount = std::stod(s.substr(i), &used);
            } catch (const std::exception&) {
                throw fail();
            }
            if (!std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') throw fail();
            i += used;
            size_t unit_end = i;
            while (unit_end < s.size() && std::isalpha(static_cast<unsigned char>(s[unit_end])))
                ++unit_end;
            const std::string unit = s.substr(i, unit_end - i);
            i = unit_end;
            double scale = 0;
            if (unit == "h") scale = 3600;
            else if (unit == "m") scale = 60;
            else if (unit == "s" || (unit.empty() && i == s.size())) scale = 1;  // bare: seconds
            else if (unit == "ms") scale = 1e-3;
            else if (unit == "us") scale = 1e-6;
            else if (unit == "ns") scale = 1e-9;
            else throw fail();
            seconds += amount * scale;
        }
        if (negative) seconds = -seconds;
    } else {
        throw fail();
    }
    if (seconds < 0) return LoadedModel::kKeepForever;
    return static_cast<int64_t>(std::min(seconds, 1e12) * 1000);
}

ojson ollama_to_openai(const ojson& body, bool is_chat_route, bool& chat) {
    ojson out = ojson::object();
    chat = true;
    const ojson* model = member(body, "model");
    if (!model) throw bad("model", "Field required");
    if (!model->is_string()) throw bad("model", "must be a string");
    if (is_chat_route) {
        const ojson* messages = member(body, "messages");
        if (!messages || !messages->is_array()) throw bad("messages", "must be an array of messages");
        ojson converted = ojson::array();
        for (size_t i = 0; i < messages->size(); ++i)
            converted.push_back(openai_message((*messages)[i], i));
        out["messages"] = std::move(converted);
    } else {
        map_prompt(body, out, chat);
    }
    if (const ojson* tools = member(body, "tools")) {
        if (!is_chat_route) throw bad("tools", "tools are sent to /api/chat");
        if (!tools->is_array()) throw bad("tools", "must be an array of tools");
        if (!tools->empty()) out["tools"] = *tools;
    }
    if (const ojson* options = member(body, "options")) map_options(*options, out);
    if (const ojson* format = member(body, "format")) map_format(*format, out);
    if (const ojson* think = member(body, "think")) {
        if (chat) map_think(*think, out);
    }
    const ojson* stream = member(body, "stream");
    if (stream && !stream->is_boolean()) throw bad("stream", "must be a boolean");
    out["stream"] = stream ? stream->get<bool>() : true;  // Ollama streams unless told not to
    return out;
}

void OllamaApi::generate_or_chat(Exchange& ex, bool is_chat_route) {
    ojson body = parse_ordered_json_object_body(ex.request.body);
    bool chat = true;
    ojson openai = ollama_to_openai(body, is_chat_route, chat);
    const std::string client_model = body["model"].get<std::string>();
    ModelPool& pool = generations_.pool();
    const ModelEntry& entry = resolve_model(pool, ex.identity, "", ollama_model_name(pool, client_model));
    const ojson* keep_alive = member(body, "keep_alive");
    const int64_t keep_ms = keep_alive ? parse_keep_alive(json::parse(keep_alive->dump()))
                                       : LoadedModel::kPoolKeepAlive;
    if (only_loads(body, is_chat_route)) {
        // Unloading a model that is not loaded must not load it first.
        const bool unload = keep_ms == 0;
        if (!unload) pool.acquire(entry)->keep_alive_ms.store(keep_ms);
        else pool.release(entry.name);
        answer_load(ex, is_chat_route, client_model, unload);
        return;
    }
    openai["model"] = entry.name;
    GenerationRequest request = read_generation_request(openai, chat, generations_.limits());
    // The keep-alive counts from the end of this request (the model is touched then).
    pool.acquire(entry)->keep_alive_ms.store(keep_ms);
    OllamaWriter writer(ex, is_chat_route, client_model);
    generations_.run(ex, request, "", writer);
}

}  // namespace hearth::server
