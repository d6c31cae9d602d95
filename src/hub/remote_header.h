#pragma once
// What a GGUF file on the hub holds, read before downloading it: its metadata and tensor list
// come from the first bytes of the file (Range requests), so `pull`, `discover` and `update`
// can tell whether hearth runs a model without fetching gigabytes.
#include <functional>
#include <string>
#include <vector>

#include "gguf/reader.h"
#include "hub/hub_client.h"

namespace hearth::hub {

// The header of one file: the first 2 MiB, then 4x more while the header goes on (vocabularies
// of 200k tokens take ~10 MiB), at most 128 MiB. Throws an Error for a file that is not GGUF,
// is malformed, or cannot be fetched. A known file size bounds the reads (some servers answer a
// range past the end with a Content-Length they never send).
gguf::File fetch_gguf_header(const HubClient& client, const std::string& repo,
                             const std::string& revision, const HubFile& file);

// The model a set of files makes (one file, or every part of a split model): the first file's
// metadata and every part's tensor list.
struct RemoteModel {
    gguf::File first;
    std::vector<gguf::TensorInfo> tensors;
};
RemoteModel fetch_model_header(const HubClient& client, const std::string& repo,
                               const std::string& revision, const std::vector<HubFile>& files);

// Why hearth cannot run a model ("" when it can): given by the layers that know (the runtime's
// support check), so the hub layer stays below them.
using SupportCheck = std::function<std::string(const gguf::File& metadata,
                                               const std::vector<gguf::TensorInfo>& tensors)>;

// fetch_model_header + check, with a failed fetch reported as the reason.
std::string why_not_runnable(const HubClient& client, const std::string& repo,
                             const std::string& revision, const std::vector<HubFile>& files,
                             const SupportCheck& check);

}  // namespace hearth::hub
