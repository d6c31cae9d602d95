#include "hub/model_ref.h"

#include <algorithm>
#include <map>
#include <regex>

#include "core/error.h"

namespace hearth::hub {
namespace {

std::string upper(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return text;
}

bool ends_with_gguf(const std::string& path) {
    return path.size() > 5 && upper(path.substr(path.size() - 5)) == ".GGUF";
}

// Multimodal projector files ship next to the model and share its quant name.
bool is_projector(const std::string& path) {
    std::string name = upper(path.substr(path.find_last_of('/') + 1));
    return name.find("MMPROJ") != std::string::npos;
}

bool is_model_gguf(const HubFile& file) {
    return ends_with_gguf(file.path) && !is_projector(file.path);
}

bool valid_repo_id(const std::string& repo) {
    static const std::regex kRepo(R"([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)");
    return std::regex_match(repo, kRepo);
}

// "owner/repo@rev" -> repo and revision.
void split_revision(std::string& repo, std::string& revision) {
    size_t at = repo.find('@');
    if (at == std::string::npos) return;
    revision = repo.substr(at + 1);
    repo = repo.substr(0, at);
    if (revision.empty()) throw Error("empty revision after '@' in " + repo + "@");
}

ModelRef parse_url(const std::string& text) {
    size_t scheme_end = text.find("://");
    size_t path_start = text.find('/', scheme_end + 3);
    if (path_start == std::string::npos) throw Error("URL has no path: " + text);
    ModelRef ref;
    ref.kind = ModelRef::Kind::Url;
    ref.endpoint = text.substr(0, path_start);
    std::string path = text.substr(path_start + 1);
    path = path.substr(0, path.find_first_of("?#"));
    // Browser "blob" links point at the same file as "resolve" links.
    size_t marker = path.find("/resolve/");
    if (marker == std::string::npos) marker = path.find("/blob/");
    if (marker == std::string::npos) {
        throw Error("not a Hugging Face file URL: " + text +
                    " (expected https://host/owner/repo/resolve/revision/file.gguf)");
    }
    ref.repo = path.substr(0, marker);
    std::string rest = path.substr(path.find('/', marker + 1) + 1);
    size_t slash = rest.find('/');
    if (slash == std::string::npos || !valid_repo_id(ref.repo)) {
        throw Error("cannot find owner/repo/resolve/revision/file in URL " + text);
    }
    ref.revision = rest.substr(0, slash);
    ref.file = rest.substr(slash + 1);
    return ref;
}

struct QuantGroup {
    std::string key;  // split stem, or the file path for a single file
    std::vector<HubFile> files;
};

std::vector<QuantGroup> group_files(const std::vector<HubFile>& files) {
    std::vector<QuantGroup> groups;
    for (const HubFile& file : files) {
        SplitName split;
        std::string key = parse_split_name(file.path, split) ? split.stem : file.path;
        auto it = std::find_if(groups.begin(), groups.end(),
                               [&](const QuantGroup& g) { return g.key == key; });
        if (it == groups.end()) {
            groups.push_back({key, {file}});
        } else {
            it->files.push_back(file);
        }
    }
    for (QuantGroup& group : groups) {
        std::sort(group.files.begin(), group.files.end(),
                  [](const HubFile& a, const HubFile& b) { return a.path < b.path; });
    }
    return groups;
}

void check_split_complete(const std::vector<HubFile>& files) {
    SplitName split;
    if (!parse_split_name(files.front().path, split)) return;
    if (static_cast<int>(files.size()) != split.count) {
        throw Error("the split model " + split.stem + " should have " +
                    std::to_string(split.count) + " parts but the repo lists " +
                    std::to_string(files.size()));
    }
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
    std::string out;
    for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
    return out;
}

}  // namespace

ModelRef parse_model_ref(const std::string& input) {
    std::string text = input;
    if (text.rfind("http://", 0) == 0 || text.rfind("https://", 0) == 0) return parse_url(text);
    for (const char* prefix : {"hf.co/", "huggingface.co/"}) {
        if (text.rfind(prefix, 0) == 0) text = text.substr(std::string(prefix).size());
    }
    ModelRef ref;
    if (text.find('/') == std::string::npos) {
        if (text.empty()) throw Error("empty model name");
        ref.kind = ModelRef::Kind::Catalog;
        ref.catalog_name = text;
        return ref;
    }
    size_t colon = text.find(':');
    if (colon != std::string::npos) {
        ref.kind = ModelRef::Kind::RepoQuant;
        ref.quant = upper(text.substr(colon + 1));
        text = text.substr(0, colon);
        if (ref.quant.empty()) throw Error("missing quant after ':' in " + input);
    }
    size_t first = text.find('/');
    size_t second = text.find('/', first + 1);
    ref.repo = text.substr(0, second);
    if (second != std::string::npos) {
        if (ref.kind == ModelRef::Kind::RepoQuant) {
            throw Error("give either a file or a quant, not both: " + input);
        }
        ref.kind = ModelRef::Kind::RepoFile;
        ref.file = text.substr(second + 1);
    }
    split_revision(ref.repo, ref.revision);
    if (!valid_repo_id(ref.repo)) {
        throw Error("'" + input + "' is not a model reference. Use owner/repo:QUANT, " +
                    "owner/repo/file.gguf, a https://.../resolve/... URL or a catalog name " +
                    "(hearth models catalog)");
    }
    return ref;
}

std::string quant_of(const std::string& path) {
    // A quant is a whole token of the name: bounded by start, '/', '-', '.' or '_' before and
    // by '-', '.', '/' or the end after (so "Q4_K" never matches inside "Q4_K_M").
    static const std::regex kQuant(
        R"((?:^|[-._/])((?:I?Q[1-8](?:_[0-9A-Z]+)*)|BF16|F16|F32|FP16|TQ[12]_0|MXFP4(?:_MOE)?)(?=[-./]|$))",
        std::regex::icase);
    std::smatch match;
    std::string name = path.substr(path.find_last_of('/') + 1);
    if (std::regex_search(name, match, kQuant)) return upper(match[1]);
    // Some repos keep each quant's split parts in a folder named after it.
    if (std::regex_search(path, match, kQuant)) return upper(match[1]);
    return "";
}

std::vector<std::string> available_quants(const RepoInfo& repo) {
    std::vector<std::string> quants;
    for (const HubFile& file : repo.files) {
        if (!is_model_gguf(file)) continue;
        std::string quant = quant_of(file.path);
        if (!quant.empty() && std::find(quants.begin(), quants.end(), quant) == quants.end()) {
            quants.push_back(quant);
        }
    }
    return quants;
}

std::vector<HubFile> select_quant(const RepoInfo& repo, const std::string& quant) {
    std::vector<HubFile> matching;
    for (const HubFile& file : repo.files) {
        if (is_model_gguf(file) && quant_of(file.path) == upper(quant)) matching.push_back(file);
    }
    if (matching.empty()) {
        std::vector<std::string> quants = available_quants(repo);
        throw Error("no " + upper(quant) + " GGUF file in " + repo.id + ". Available: " +
                    (quants.empty() ? "none (this repo has no GGUF files)" : join(quants, ", ")));
    }
    std::vector<QuantGroup> groups = group_files(matching);
    if (groups.size() > 1) {
        std::vector<std::string> names;
        for (const QuantGroup& group : groups) names.push_back(group.files.front().path);
        throw Error("several " + upper(quant) + " models in " + repo.id + ": " + join(names, ", ") +
                    ". Name one: hearth pull " + repo.id + "/<file>");
    }
    check_split_complete(groups.front().files);
    return groups.front().files;
}

std::vector<HubFile> select_file(const RepoInfo& repo, const std::string& path) {
    const HubFile* file = repo.find_file(path);
    if (!file) {
        throw Error(path + " is not in " + repo.id +
                    ". Its GGUF quants: " + join(available_quants(repo), ", "));
    }
    SplitName split;
    if (!parse_split_name(path, split)) return {*file};
    std::vector<HubFile> parts;
    for (const HubFile& candidate : repo.files) {
        SplitName other;
        if (parse_split_name(candidate.path, other) && other.stem == split.stem) {
            parts.push_back(candidate);
        }
    }
    std::sort(parts.begin(), parts.end(),
              [](const HubFile& a, const HubFile& b) { return a.path < b.path; });
    check_split_complete(parts);
    return parts;
}

std::string default_quant(const RepoInfo& repo) {
    std::vector<std::string> quants = available_quants(repo);
    // Q4_K_M is the usual sweet spot of size, speed and quality on CPUs.
    for (const char* preferred :
         {"Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_XS", "MXFP4", "MXFP4_MOE", "Q5_K_M", "Q8_0"}) {
        if (std::find(quants.begin(), quants.end(), preferred) != quants.end()) return preferred;
    }
    if (quants.size() == 1) return quants.front();
    if (quants.empty()) {
        throw Error(repo.id +
                    " has no GGUF model files; hearth needs a GGUF repo (search the "
                    "hub for \"" +
                    repo.id.substr(repo.id.find('/') + 1) + " GGUF\")");
    }
    throw Error(repo.id + " offers " + join(quants, ", ") + "; pick one, e.g. hearth pull " +
                repo.id + ":" + quants.front());
}

}  // namespace hearth::hub
