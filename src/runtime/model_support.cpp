#include "runtime/model_support.h"

#include "core/error.h"
#include "kernels/type_traits.h"
#include "model/hparams.h"
#include "tokenizer/tokenizer.h"

namespace hearth::runtime {

std::string why_unsupported(const gguf::File& metadata,
                            const std::vector<gguf::TensorInfo>& tensors) {
    try {
        model::HParams::from_gguf(metadata);
    } catch (const Error& e) {
        return e.what();
    }
    for (const gguf::TensorInfo& t : tensors) {
        if (!kernels::is_supported(t.type))
            return "tensor '" + t.name + "' is " + std::string(gguf::type_name(t.type)) +
                   ", a weight type hearth cannot compute yet";
    }
    try {
        tokenizer::Tokenizer::from_gguf(metadata);
    } catch (const Error& e) {
        return std::string("its tokenizer: ") + e.what();
    }
    return "";
}

}  // namespace hearth::runtime
