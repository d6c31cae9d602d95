// `hearth tokenize`: show how a model's tokenizer cuts a text, for debugging prompts. Needs only
// the tokenizer metadata, so vocab-only GGUF files work too.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "gguf/reader.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {

namespace {

std::string read_stdin_bytes() {
    std::string text;
    char buf[1 << 16];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) text.append(buf, n);
    if (std::ferror(stdin)) throw Error("could not read the text from standard input");
    return text;
}

// JSON-quoted so whitespace, control bytes and partial UTF-8 stay visible on one line.
std::string quoted(const std::string& bytes) {
    return nlohmann::json(bytes).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print_table(const tokenizer::Tokenizer& tok, const std::vector<int32_t>& ids) {
    const tokenizer::Vocab& vocab = tok.vocab();
    for (int32_t id : ids) {
        std::printf("%8d  %-24s %s\n", id, quoted(vocab.tokens[id]).c_str(),
                    quoted(tok.token_to_piece(id, true)).c_str());
    }
    std::printf("%zu tokens (%s tokenizer%s%s)\n", ids.size(), vocab.model.c_str(),
                vocab.pre.empty() ? "" : ", pre-tokenizer ", vocab.pre.c_str());
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
    struct Options {
        std::string path;
        std::string text;
        bool ids = false;
        bool pieces = false;
        bool no_special = false;
        bool parse_special = false;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand(
        "tokenize",
        "Show the tokens a model's tokenizer makes of a text (id, vocabulary entry, bytes).");
    cmd->add_option("model", o->path, "Path to a .gguf file (a vocab-only file is enough)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("text", o->text, "The text, or - to read it from standard input byte for byte")
        ->required();
    auto* ids = cmd->add_flag("--ids", o->ids, "Print only a JSON list of token ids");
    auto* pieces = cmd->add_flag("--pieces", o->pieces,
                                 "Print only a JSON list of the tokens' vocabulary entries");
    ids->excludes(pieces);
    cmd->add_flag("--no-special", o->no_special,
                  "Add no BOS/EOS (or CLS/SEP) even where the model's vocabulary asks for them");
    cmd->add_flag("--parse-special", o->parse_special,
                  "Match control tokens written in the text (e.g. <|im_start|>) as single tokens, "
                  "as a rendered chat prompt needs; by default they are plain text");
    cmd->footer(
        "Examples:\n"
        "  hearth tokenize model.gguf \"Hello world\"\n"
        "  printf '<|im_start|>user\\nHi<|im_end|>' | hearth tokenize model.gguf - --parse-special "
        "--ids");
    cmd->callback([o] {
        gguf::File file = gguf::File::open(o->path);
        auto tok = tokenizer::Tokenizer::from_gguf(file);
        const std::string text = o->text == "-" ? read_stdin_bytes() : o->text;
        std::vector<int32_t> ids = tok->encode(text, !o->no_special, o->parse_special);
        if (o->ids) {
            std::cout << nlohmann::json(ids).dump() << "\n";
        } else if (o->pieces) {
            nlohmann::json list = nlohmann::json::array();
            for (int32_t id : ids) list.push_back(tok->vocab().tokens[id]);
            std::cout << list.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                      << "\n";
        } else {
            print_table(*tok, ids);
        }
    });
}

}  // namespace hearth::cli
