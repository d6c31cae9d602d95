#include "runtime/generate.h"

#include <chrono>

#include "core/utf8.h"

namespace hearth::runtime {

const char* finish_reason_name(FinishReason r) {
    switch (r) {
        case FinishReason::Stop:
            return "stop";
        case FinishReason::Length:
            return "length";
        case FinishReason::Cancelled:
            return "cancelled";
    }
    return "stop";
}

std::string StopMatcher::push(const std::string& text, bool& stopped) {
    held_ += text;
    stopped = false;
    size_t first = std::string::npos;
    for (const std::string& s : stops_) {
        if (s.empty()) continue;
        size_t at = held_.find(s);
        if (at < first) {
            first = at;
            matched_ = s;
        }
    }
    if (first != std::string::npos) {
        stopped = true;
        std::string out = held_.substr(0, first);
        held_.clear();
        return out;
    }
    // Keep the longest tail that is a prefix of some stop string.
    size_t keep = 0;
    for (const std::string& s : stops_) {
        for (size_t n = std::min(s.size() - (s.empty() ? 0 : 1), held_.size()); n > keep; --n) {
            if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
                keep = n;
                break;
            }
        }
    }
    // Never split a UTF-8 character between what we emit and what we hold.
    size_t emit = held_.size() - keep;
    while (emit > 0 && emit < held_.size() &&
           (static_cast<unsigned char>(held_[emit]) & 0xC0) == 0x80)
        --emit;
    std::string out = held_.substr(0, emit);
    held_.erase(0, emit);
    return out;
}

std::string StopMatcher::flush() {
    std::string rest;
    rest.swap(held_);
    return rest;
}

GenerateResult generate(Context& ctx, const tokenizer::Tokenizer& tok, const GenerateRequest& req,
                        const std::function<bool(const std::string&)>& on_text, int32_t seq) {
    using clock = std::chrono::steady_clock;
    GenerateResult result;
    result.prompt_tokens = static_cast<int64_t>(req.prompt.size());
    const int32_t n_vocab = static_cast<int32_t>(ctx.model().hparams().n_vocab);
    SamplingParams sampling = req.sampling;
    if (sampling.grammar && !sampling.token_table)
        sampling.token_table = TokenTable::from_tokenizer(tok);
    Sampler sampler(sampling, n_vocab);
    for (int32_t t : req.prompt) sampler.accept_prompt(t);

    auto t0 = clock::now();
    const float* logits = ctx.append(seq, req.prompt);
    auto t1 = clock::now();
    result.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();

    tokenizer::StreamDecoder decoder(tok);
    StopMatcher stops(req.stop);
    auto emit = [&](const std::string& text) {
        if (text.empty()) return true;
        result.text += text;
        return on_text ? on_text(text) : true;
    };
    bool stopped_by_string = false;
    for (int32_t i = 0; i < req.max_tokens; ++i) {
        int32_t id = sampler.sample(logits);
        // With a grammar, end of generation is only sampled when the grammar is complete, and
        // then it ends generation even with ignore_eos; -1: the grammar allows nothing.
        if (id < 0 || ((!req.ignore_eos || sampler.has_grammar()) &&
                       tok.vocab().is_end_of_generation(id))) {
            result.finish = FinishReason::Stop;
            break;
        }
        sampler.accept(id);
        result.tokens.push_back(id);
        bool stopped = false;
        std::string text = stops.push(decoder.push(id), stopped);
        if (!emit(text)) {
            result.finish = FinishReason::Cancelled;
            break;
        }
        if (stopped) {
            result.finish = FinishReason::Stop;
            stopped_by_string = true;
            break;
        }
        if (sampler.grammar_finished()) {  // nothing but the end can follow
            result.finish = FinishReason::Stop;
            break;
        }
        if (i + 1 == req.max_tokens) {
            result.finish = FinishReason::Length;
            break;
        }
        if (ctx.cache().length(seq) >= ctx.n_ctx()) {
            result.finish = FinishReason::Length;
            break;
        }
        logits = ctx.append(seq, {id});
    }
    if (result.finish != FinishReason::Cancelled && !stopped_by_string) {
        // Release what the decoder and the stop matcher still hold: it was not a stop string.
        bool stopped = false;
        std::string tail = stops.push(decoder.flush(), stopped);
        if (!stopped) tail += stops.flush();
        emit(tail);
    }
    result.generate_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    return result;
}

}  // namespace hearth::runtime
