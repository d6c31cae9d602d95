#include "hub/discover.h"

#include <algorithm>

#include "core/error.h"
#include "hub/download.h"
#include "hub/model_ref.h"

namespace hearth::hub {
namespace {

bool contains(const std::vector<std::string>& items, const std::string& item) {
    return std::find(items.begin(), items.end(), item) != items.end();
}

std::vector<QuantOption> quant_options(const RepoInfo& info, const FitPolicy& policy) {
    std::vector<QuantOption> options;
    for (const std::string& quant : available_quants(info)) {
        try {
            QuantOption option;
            option.quant = quant;
            for (const HubFile& file : select_quant(info, quant)) option.size += file.size;
            option.ram_needed = estimate_ram_needed(option.size, quant, policy);
            options.push_back(option);
        } catch (const Error&) {
            // Ambiguous or incomplete quant: leave it out of the suggestions.
        }
    }
    return options;
}

}  // namespace

const std::vector<std::string>& quant_preference() {
    // MXFP4 sits with the 4-bit types: gpt-oss ships its experts so (ggml-org's
    // gpt-oss-20b-mxfp4.gguf is the only file of its repo); MXFP4_MOE is llama-quantize's name.
    static const std::vector<std::string> kOrder = {
        "Q4_K_M", "Q5_K_M", "Q4_K_S", "Q4_0",   "IQ4_XS", "MXFP4", "MXFP4_MOE", "Q6_K",
        "Q8_0",   "Q3_K_L", "Q3_K_M", "IQ3_M",  "Q3_K_S", "IQ3_XS", "Q2_K",     "IQ2_M",
    };
    return kOrder;
}

bool is_text_generation(const RepoSummary& repo) {
    if (!repo.pipeline_tag.empty()) return repo.pipeline_tag == "text-generation";
    return contains(repo.tags, "text-generation") || contains(repo.tags, "conversational");
}

void recommend(Suggestion& suggestion, const MachineInfo& machine, const FitPolicy& policy) {
    for (const std::string& quant : quant_preference()) {
        auto it = std::find_if(suggestion.quants.begin(), suggestion.quants.end(),
                               [&](const QuantOption& o) { return o.quant == quant; });
        if (it == suggestion.quants.end() || it->size == 0) continue;
        if (!fits_in_ram(it->ram_needed, machine, policy)) continue;
        if (it->size > machine.disk_free) continue;
        suggestion.recommended = it->quant;
        suggestion.size = it->size;
        suggestion.ram_needed = it->ram_needed;
        return;
    }
    uint64_t smallest = UINT64_MAX;
    for (const QuantOption& option : suggestion.quants) {
        smallest = std::min(smallest, option.ram_needed);
    }
    suggestion.note = suggestion.quants.empty()
                          ? "no usable GGUF quant"
                          : "too big: the smallest quant needs ~" + format_bytes(smallest) + " RAM";
}

std::vector<Suggestion> discover(const HubClient& client, const ModelQuery& query,
                                 const MachineInfo& machine, const FitPolicy& policy,
                                 const SupportCheck& check) {
    std::vector<Suggestion> suggestions;
    for (const RepoSummary& summary : client.list_models(query)) {
        if (!is_text_generation(summary)) continue;
        Suggestion suggestion;
        suggestion.repo = summary;
        try {
            RepoInfo info = client.model_info(summary.id);
            suggestion.quants = quant_options(info, policy);
            if (suggestion.quants.empty()) continue;
            recommend(suggestion, machine, policy);
            if (check && !suggestion.recommended.empty()) {
                const std::string revision = info.commit.empty() ? "main" : info.commit;
                const std::string problem =
                    why_not_runnable(client, info.id, revision,
                                     select_quant(info, suggestion.recommended), check);
                if (!problem.empty()) {
                    suggestion.runnable = false;
                    suggestion.recommended.clear();
                    suggestion.note = "skipped: " + problem;
                }
            }
        } catch (const Error& e) {
            suggestion.note = std::string("could not read the repo: ") + e.what();
        }
        suggestions.push_back(std::move(suggestion));
    }
    return suggestions;
}

}  // namespace hearth::hub
