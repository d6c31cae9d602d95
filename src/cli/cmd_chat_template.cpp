// `hearth chat-template`: render a chat template exactly as the server would, for checking a
// model's prompt format or a template override by eye (or by diff against transformers).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "core/error.h"
#include "gguf/reader.h"

namespace hearth::cli {

namespace {

struct ChatTemplateArgs {
    std::string model_path;
    std::string template_path;
    std::string messages_path;
    std::string tools_path;
    bool add_generation_prompt = false;
    std::vector<std::string> vars;
    std::optional<std::string> bos;
    std::optional<std::string> eos;
};

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open '" + path + "'");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

// ordered_json keeps the key order of the file, as Python's json module does; tojson in the
// template then prints objects exactly as transformers would.
nlohmann::ordered_json read_json_file(const std::string& path, const char* what) {
    std::string text = read_text_file(path);
    try {
        return nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw Error(std::string(what) + " file '" + path + "' is not valid JSON: " + e.what());
    }
}

// What a model file contributes: its template (if any) and its bos/eos token strings.
struct ModelChatInfo {
    std::optional<std::string> chat_template;
    std::string bos_token, eos_token;
};

std::string token_text(const gguf::File& file, const char* id_key) {
    const gguf::Value* id = file.find(id_key);
    const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
    if (!id || !tokens) return "";
    const auto& items = tokens->as_array().items;
    uint64_t index = id->as_u64();
    if (index >= items.size()) {
        throw Error(std::string(id_key) + " = " + std::to_string(index) +
                    " is outside the vocabulary (" + std::to_string(items.size()) + " tokens)");
    }
    return items[index].as_string();
}

ModelChatInfo read_model_chat_info(const std::string& path) {
    gguf::File file = gguf::File::open(path);
    ModelChatInfo info;
    if (const gguf::Value* tmpl = file.find("tokenizer.chat_template")) {
        info.chat_template = tmpl->as_string();
    }
    info.bos_token = token_text(file, "tokenizer.ggml.bos_token_id");
    info.eos_token = token_text(file, "tokenizer.ggml.eos_token_id");
    return info;
}

nlohmann::ordered_json parse_vars(const std::vector<std::string>& vars) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const std::string& var : vars) {
        size_t eq = var.find('=');
        if (eq == std::string::npos || eq == 0) {
            throw Error("--var expects NAME=JSON, got '" + var + "'");
        }
        std::string name = var.substr(0, eq);
        std::string value = var.substr(eq + 1);
        try {
            out[name] = nlohmann::ordered_json::parse(value);
        } catch (const nlohmann::json::parse_error&) {
            throw Error("--var " + name + ": '" + value +
                        "' is not JSON (write strings with quotes: " + name +
                        "='\"text\"'; "
                        "booleans as true/false)");
        }
    }
    return out;
}

void run_chat_template(const ChatTemplateArgs& args) {
    if (args.model_path.empty() == args.template_path.empty()) {
        throw Error("give either a MODEL.gguf or --template FILE.jinja (exactly one)");
    }
    chat::ChatRenderOptions opts;
    std::optional<chat::ChatTemplate> tmpl;
    if (!args.template_path.empty()) {
        tmpl.emplace(read_text_file(args.template_path));
    } else {
        ModelChatInfo info = read_model_chat_info(args.model_path);
        opts.bos_token = info.bos_token;
        opts.eos_token = info.eos_token;
        if (info.chat_template) {
            tmpl.emplace(*info.chat_template);
        } else {
            std::fprintf(stderr, "note: %s has no tokenizer.chat_template; using ChatML\n",
                         args.model_path.c_str());
            tmpl.emplace(chat::ChatTemplate::chatml_default());
        }
    }
    if (args.bos) opts.bos_token = *args.bos;
    if (args.eos) opts.eos_token = *args.eos;
    opts.add_generation_prompt = args.add_generation_prompt;

    // Either a bare array of messages or a whole chat-completions request body.
    nlohmann::ordered_json messages = read_json_file(args.messages_path, "messages");
    nlohmann::ordered_json tools = nullptr;
    if (messages.is_object()) {
        if (messages.contains("tools")) tools = messages["tools"];
        messages = messages.value("messages", nlohmann::ordered_json::array());
    }
    if (!messages.is_array()) throw Error("--messages must hold a JSON array of messages");
    if (!args.tools_path.empty()) tools = read_json_file(args.tools_path, "tools");

    std::string prompt = tmpl->render_ordered(messages, tools, opts, parse_vars(args.vars));
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    std::fflush(stdout);
}

}  // namespace

void add_chat_template_command(CLI::App& app) {
    auto args = std::make_shared<ChatTemplateArgs>();
    CLI::App* cmd = app.add_subcommand(
        "chat-template", "Render a chat template on a conversation and print the exact prompt");
    cmd->add_option("model", args->model_path, "GGUF model whose tokenizer.chat_template to use")
        ->check(CLI::ExistingFile);
    cmd->add_option("--template", args->template_path, "Jinja template file instead of a model")
        ->check(CLI::ExistingFile);
    cmd->add_option("--messages", args->messages_path,
                    "JSON file: an array of messages, or a chat-completions request body")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--tools", args->tools_path, "JSON file with the tools array")
        ->check(CLI::ExistingFile);
    cmd->add_flag("--add-generation-prompt", args->add_generation_prompt,
                  "End with the header that opens the assistant's reply");
    cmd->add_option("--var", args->vars,
                    "Extra template variable NAME=JSON, e.g. enable_thinking=false (repeatable)");
    cmd->add_option("--bos", args->bos, "bos_token string (default: the model's)");
    cmd->add_option("--eos", args->eos, "eos_token string (default: the model's)");
    cmd->footer(
        "Examples:\n"
        "  hearth chat-template model.gguf --messages chat.json --add-generation-prompt\n"
        "  hearth chat-template --template t.jinja --messages chat.json --var "
        "enable_thinking=false");
    cmd->callback([args] { run_chat_template(*args); });
}

}  // namespace hearth::cli
