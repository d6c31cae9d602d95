"""Reference forward passes, written from the published model definitions (Hugging Face
transformers' modeling_llama / qwen2 / qwen3 / phi3 / gemma / gemma2 / gemma3 / bert (and
roberta's sequence-classification head for rerankers), the
mixture-of-experts modeling_mixtral / qwen2_moe / qwen3_moe / olmoe / gpt_oss, Meta's llama reference,
nomic-ai's nomic-bert), in float64 numpy over a whole sequence at once (no KV
cache, explicit masks). They read weights as stored in GGUF files by llama.cpp's converter:
  * llama's Q/K rows are permuted so HF's rotate_half becomes Meta's adjacent-pair rotation;
  * Gemma norms are stored as 1 + w; the functions here subtract 1 and apply HF's (1 + w);
  * Llama 3 frequency divisors and phi3 LongRoPE factors are tensors;
  * experts are 3-D tensors (expert, rows, columns) and the router is `ffn_gate_inp`;
  * gpt-oss's interleaved gate_up_proj is split into `ffn_gate_exps` (even rows) and
    `ffn_up_exps` (odd rows), transposed to (expert, rows, columns), with their biases.
"""
import math

import numpy as np


class Config:
    def __init__(self, gguf, n_ctx=0):
        self.g = gguf
        self.arch = gguf.get("general.architecture")
        self.n_ctx = n_ctx  # the sequence length the model serves (phi3 picks RoPE factors by it)

    def __call__(self, key, default=None):
        return self.g.get(f"{self.arch}.{key}", default)

    def tensor(self, name):
        return self.g.tensors[name]

    def has(self, name):
        return name in self.g.tensors


# --- building blocks ------------------------------------------------------------------------

def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def gemma_rms_norm(x, stored, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * (1.0 + (stored - 1.0))


def layer_norm(x, w, b, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def default_inv_freq(base, dim):
    return 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))


def yarn_inv_freq(base, dim, factor, original_max, beta_fast=32.0, beta_slow=1.0):
    """HF _compute_yarn_parameters: blend of interpolated and extrapolated frequencies."""
    def correction_dim(num_rotations):
        return (dim * math.log(original_max / (num_rotations * 2 * math.pi))) / (2 * math.log(base))

    low = max(math.floor(correction_dim(beta_fast)), 0)
    high = min(math.ceil(correction_dim(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
    extrapolation_factor = 1 - ramp
    pos_freqs = base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    inv_extrapolation = 1.0 / pos_freqs
    inv_interpolation = 1.0 / (factor * pos_freqs)
    inv_freq = inv_interpolation * (1 - extrapolation_factor) + inv_extrapolation * extrapolation_factor
    return inv_freq, 0.1 * math.log(factor) + 1.0


def rope_neox(x, positions, inv_freq, mscale=1.0):
    """HF apply_rotary_pos_emb: x * cos + rotate_half(x) * sin on (tokens, heads, head_dim)."""
    d = inv_freq.shape[0] * 2
    angles = np.outer(positions, inv_freq)
    emb = np.concatenate([angles, angles], axis=-1)
    cos = (np.cos(emb) * mscale)[:, None, :]
    sin = (np.sin(emb) * mscale)[:, None, :]
    rot, rest = x[..., :d], x[..., d:]
    half = d // 2
    rotated = np.concatenate([-rot[..., half:], rot[..., :half]], axis=-1)
    return np.concatenate([rot * cos + rotated * sin, rest], axis=-1)


def rope_interleaved(x, positions, inv_freq):
    """Meta's llama apply_rotary_emb: consecutive pairs as complex numbers times e^(i*theta)."""
    d = inv_freq.shape[0] * 2
    angles = np.outer(positions, inv_freq)[:, None, :]
    pairs = x[..., :d].reshape(*x.shape[:-1], d // 2, 2)
    z = (pairs[..., 0] + 1j * pairs[..., 1]) * np.exp(1j * angles)
    out = np.stack([z.real, z.imag], axis=-1).reshape(*x.shape[:-1], d)
    return np.concatenate([out, x[..., d:]], axis=-1)


def attention(q, k, v, mask, scale, softcap=None, sinks=None):
    """q: (T, H, D), k/v: (T, Hkv, D); grouped-query heads share K/V (HF repeat_kv). sinks: one
    logit per head appended to every row's scores before the softmax and dropped after it
    (gpt-oss's eager_attention_forward)."""
    group = q.shape[1] // k.shape[1]
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)
    scores = np.einsum("thd,shd->hts", q, k) * scale
    if softcap:
        scores = np.tanh(scores / softcap) * softcap
    scores = np.where(mask[None, :, :], scores, -np.inf)
    if sinks is None:
        probs = softmax(scores)
    else:
        column = np.broadcast_to(sinks[:, None, None], scores.shape[:2] + (1,))
        probs = softmax(np.concatenate([scores, column], axis=-1))[..., :-1]
    return np.einsum("hts,shd->thd", probs, v).reshape(q.shape[0], -1)


def causal_mask(n, window=None):
    t = np.arange(n)[:, None]
    s = np.arange(n)[None, :]
    mask = s <= t
    if window:
        mask &= (t - s) < window
    return mask


# --- mixture of experts ----------------------------------------------------------------------

# norm_topk_prob of each model's config: Qwen3-MoE renormalises the top-k routing weights,
# Qwen2-MoE and OLMoE do not; Mixtral always does. A GGUF expert_weights_norm key overrides.
NORM_TOPK_PROB = {"qwen3moe": True, "qwen2moe": False, "olmoe": False, "llama": True}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def sparse_moe_block(c, h, p):
    """Qwen3MoeSparseMoeBlock / Qwen2MoeSparseMoeBlock / OlmoeSparseMoeBlock /
    MixtralSparseMoeBlock: softmax routing over all experts, top-k, optional renormalisation,
    the weighted sum of the chosen experts' SwiGLU outputs; Qwen2-MoE adds a shared expert
    scaled by sigmoid(shared_expert_gate(h))."""
    t = lambda name: c.tensor(p + name)
    k = c("expert_used_count")
    renormalise = c("expert_weights_norm", NORM_TOPK_PROB[c.arch])
    probs = softmax(linear(h, t("ffn_gate_inp.weight")))
    gate, up, down = t("ffn_gate_exps.weight"), t("ffn_up_exps.weight"), t("ffn_down_exps.weight")
    out = np.zeros_like(h)
    for i in range(h.shape[0]):
        top = np.argsort(-probs[i], kind="stable")[:k]
        weights = probs[i, top]
        if renormalise:
            weights = weights / weights.sum()
        for e, w in zip(top, weights):
            out[i] += w * linear(silu(linear(h[i], gate[e])) * linear(h[i], up[e]), down[e])
    if c.has(p + "ffn_up_shexp.weight"):
        shared = linear(silu(linear(h, t("ffn_gate_shexp.weight"))) * linear(h, t("ffn_up_shexp.weight")),
                        t("ffn_down_shexp.weight"))
        if c.has(p + "ffn_gate_inp_shexp.weight"):
            shared = shared * sigmoid(h @ t("ffn_gate_inp_shexp.weight"))[:, None]
        out = out + shared
    return out


# gpt-oss's clamped SwiGLU (GptOssExperts): limit 7, alpha 1.702. check_arch.py changes the
# limit to show that the comparison notices it.
SWIGLU_LIMIT = 7.0
SWIGLU_ALPHA = 1.702


def gpt_oss_moe_block(c, h, p):
    """GptOssMLP: router logits with bias, top k, softmax over the k chosen logits; each chosen
    expert gate = min(h W_g + b_g, limit), up = clip(h W_u + b_u, -limit, limit),
    (up + 1) * gate * sigmoid(alpha * gate), then W_d with its bias."""
    t = lambda name: c.tensor(p + name)
    k = c("expert_used_count")
    logits = linear(h, t("ffn_gate_inp.weight"), t("ffn_gate_inp.bias"))
    gate, up, down = t("ffn_gate_exps.weight"), t("ffn_up_exps.weight"), t("ffn_down_exps.weight")
    gate_b, up_b, down_b = t("ffn_gate_exps.bias"), t("ffn_up_exps.bias"), t("ffn_down_exps.bias")
    out = np.zeros_like(h)
    for i in range(h.shape[0]):
        top = np.argsort(-logits[i], kind="stable")[:k]
        for e, w in zip(top, softmax(logits[i, top])):
            g = np.minimum(linear(h[i], gate[e], gate_b[e]), SWIGLU_LIMIT)
            u = np.clip(linear(h[i], up[e], up_b[e]), -SWIGLU_LIMIT, SWIGLU_LIMIT)
            out[i] += w * linear((u + 1) * g * sigmoid(SWIGLU_ALPHA * g), down[e], down_b[e])
    return out


# --- decoders -------------------------------------------------------------------------------

def decoder_dims(c):
    n_head = c("attention.head_count")
    n_kv = c("attention.head_count_kv", n_head)
    head_dim = c("attention.key_length", c("embedding_length") // n_head)
    return n_head, n_kv, head_dim


def llama_family(c, tokens, hidden=False):
    """LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM / Phi3ForCausalLM, and with experts
    MixtralForCausalLM / Qwen2MoeForCausalLM / Qwen3MoeForCausalLM / OlmoeForCausalLM; with hidden,
    the final normalized hidden states (what decoder embedding models pool) instead of logits."""
    arch = c.arch
    n_head, n_kv, hd = decoder_dims(c)
    eps = c("attention.layer_norm_rms_epsilon")
    base = c("rope.freq_base", 10000.0)
    rope_dim = c("rope.dimension_count", hd)
    T = len(tokens)
    pos = np.arange(T, dtype=np.float64)
    mscale = 1.0
    inv_freq = default_inv_freq(base, rope_dim)
    if c("rope.scaling.type") == "yarn":
        inv_freq, mscale = yarn_inv_freq(base, rope_dim, c("rope.scaling.factor"),
                                         c("rope.scaling.original_context_length"))
    if c.has("rope_freqs.weight"):  # Llama 3.1 scaling, precomputed by the converter
        inv_freq = inv_freq / c.tensor("rope_freqs.weight")
    if arch == "phi3" and c.has("rope_factors_short.weight"):
        # HF Phi3 LongRoPE: short factors within the original context, long ones beyond it;
        # attention factor from max_position_embeddings / original_max_position_embeddings.
        original = c("rope.scaling.original_context_length")
        factors = c.tensor("rope_factors_long.weight" if c.n_ctx > original else "rope_factors_short.weight")
        inv_freq = 1.0 / (factors * base ** (np.arange(0, rope_dim, 2) / rope_dim))
        factor = c("context_length") / original
        mscale = math.sqrt(1 + math.log(factor) / math.log(original)) if factor > 1 else 1.0

    def rope(x):
        return rope_interleaved(x, pos, inv_freq) if arch == "llama" else rope_neox(x, pos, inv_freq, mscale)

    x = c.tensor("token_embd.weight")[tokens]
    for l in range(c("block_count")):
        p = f"blk.{l}."
        t = lambda name: c.tensor(p + name)
        bias = lambda name: c.tensor(p + name) if c.has(p + name) else None
        h = rms_norm(x, t("attn_norm.weight"), eps)
        if arch == "phi3":
            qkv = linear(h, t("attn_qkv.weight"))
            q, k, v = np.split(qkv, [n_head * hd, n_head * hd + n_kv * hd], axis=-1)
        else:
            q = linear(h, t("attn_q.weight"), bias("attn_q.bias"))
            k = linear(h, t("attn_k.weight"), bias("attn_k.bias"))
            v = linear(h, t("attn_v.weight"), bias("attn_v.bias"))
        if arch == "olmoe":  # OlmoeAttention: q_norm / k_norm over all heads, before the split
            q = rms_norm(q, t("attn_q_norm.weight"), eps)
            k = rms_norm(k, t("attn_k_norm.weight"), eps)
        q, k, v = q.reshape(T, n_head, hd), k.reshape(T, n_kv, hd), v.reshape(T, n_kv, hd)
        if arch in ("qwen3", "qwen3moe"):
            q = rms_norm(q, t("attn_q_norm.weight"), eps)
            k = rms_norm(k, t("attn_k_norm.weight"), eps)
        q, k = rope(q), rope(k)
        a = attention(q, k, v, causal_mask(T), 1.0 / math.sqrt(hd))
        x = x + linear(a, t("attn_output.weight"))
        h = rms_norm(x, t("ffn_norm.weight"), eps)
        if c("expert_count", 0) > 0:
            x = x + sparse_moe_block(c, h, p)
            continue
        if arch == "phi3":
            gate, up = np.split(linear(h, t("ffn_up.weight")), 2, axis=-1)
        else:
            gate, up = linear(h, t("ffn_gate.weight")), linear(h, t("ffn_up.weight"))
        x = x + linear(silu(gate) * up, t("ffn_down.weight"))
    x = rms_norm(x, c.tensor("output_norm.weight"), eps)
    if hidden:
        return x
    out = c.tensor("output.weight") if c.has("output.weight") else c.tensor("token_embd.weight")
    return linear(x, out)


def gpt_oss(c, tokens, hidden=False):
    """GptOssForCausalLM: pre-norm layers; attention with Q/K/V/O biases, a learned sink per
    head and, on even layers (layer_types "sliding_attention"), a window of sliding_window
    positions; YaRN NeoX RoPE; the MoE block above.

    YaRN: HF's gpt-oss config sets rope_scaling.truncate = false (correction range not rounded);
    GGUF files do not carry it and llama.cpp rounds it (floor / ceil), as yarn_inv_freq does, so
    this follows the GGUF reading."""
    n_head, n_kv, hd = decoder_dims(c)
    eps = c("attention.layer_norm_rms_epsilon")
    T = len(tokens)
    pos = np.arange(T, dtype=np.float64)
    inv_freq, mscale = yarn_inv_freq(c("rope.freq_base"), c("rope.dimension_count", hd),
                                     c("rope.scaling.factor"), c("rope.scaling.original_context_length"),
                                     c("rope.scaling.yarn_beta_fast", 32.0), c("rope.scaling.yarn_beta_slow", 1.0))
    window = c("attention.sliding_window")
    x = c.tensor("token_embd.weight")[tokens]
    for l in range(c("block_count")):
        p = f"blk.{l}."
        t = lambda name: c.tensor(p + name)
        h = rms_norm(x, t("attn_norm.weight"), eps)
        q = linear(h, t("attn_q.weight"), t("attn_q.bias")).reshape(T, n_head, hd)
        k = linear(h, t("attn_k.weight"), t("attn_k.bias")).reshape(T, n_kv, hd)
        v = linear(h, t("attn_v.weight"), t("attn_v.bias")).reshape(T, n_kv, hd)
        q, k = rope_neox(q, pos, inv_freq, mscale), rope_neox(k, pos, inv_freq, mscale)
        mask = causal_mask(T, window if l % 2 == 0 else None)
        a = attention(q, k, v, mask, hd ** -0.5, sinks=t("attn_sinks.weight"))
        x = x + linear(a, t("attn_output.weight"), t("attn_output.bias"))
        x = x + gpt_oss_moe_block(c, rms_norm(x, t("post_attention_norm.weight"), eps), p)
    x = rms_norm(x, c.tensor("output_norm.weight"), eps)
    return x if hidden else linear(x, c.tensor("output.weight"))


def gemma_family(c, tokens, hidden=False):
    """GemmaForCausalLM / Gemma2ForCausalLM / Gemma3ForCausalLM (text)."""
    arch = c.arch
    n_head, n_kv, hd = decoder_dims(c)
    eps = c("attention.layer_norm_rms_epsilon")
    T = len(tokens)
    pos = np.arange(T, dtype=np.float64)
    E = c("embedding_length")
    norm = lambda x, w: gemma_rms_norm(x, w, eps)
    base = c("rope.freq_base", 10000.0)
    global_inv_freq = default_inv_freq(base, hd)
    if c("rope.scaling.type") == "linear":
        global_inv_freq = global_inv_freq / c("rope.scaling.factor")
    local_inv_freq = default_inv_freq(10000.0, hd) if arch == "gemma3" else global_inv_freq
    window = c("attention.sliding_window")
    softcap = c("attn_logit_softcapping")
    scale = hd ** -0.5  # query_pre_attn_scalar == head_dim for the 2b/4b/9b/12b models

    x = c.tensor("token_embd.weight")[tokens] * np.float64(E) ** 0.5
    for l in range(c("block_count")):
        p = f"blk.{l}."
        t = lambda name: c.tensor(p + name)
        if arch == "gemma2":
            sliding = l % 2 == 0
        elif arch == "gemma3":
            sliding = (l + 1) % 6 != 0
        else:
            sliding = False
        inv_freq = local_inv_freq if sliding else global_inv_freq
        h = norm(x, t("attn_norm.weight"))
        q = linear(h, t("attn_q.weight")).reshape(T, n_head, hd)
        k = linear(h, t("attn_k.weight")).reshape(T, n_kv, hd)
        v = linear(h, t("attn_v.weight")).reshape(T, n_kv, hd)
        if arch == "gemma3":
            q, k = norm(q, t("attn_q_norm.weight")), norm(k, t("attn_k_norm.weight"))
        q, k = rope_neox(q, pos, inv_freq), rope_neox(k, pos, inv_freq)
        a = linear(attention(q, k, v, causal_mask(T, window if sliding else None), scale, softcap),
                   t("attn_output.weight"))
        if arch != "gemma":
            a = norm(a, t("post_attention_norm.weight"))
        x = x + a
        h = norm(x, t("ffn_norm.weight"))
        f = linear(gelu_tanh(linear(h, t("ffn_gate.weight"))) * linear(h, t("ffn_up.weight")),
                   t("ffn_down.weight"))
        if arch != "gemma":
            f = norm(f, t("post_ffw_norm.weight"))
        x = x + f
    x = norm(x, c.tensor("output_norm.weight"))
    if hidden:
        return x
    logits = linear(x, c.tensor("token_embd.weight"))
    final_cap = c("final_logit_softcapping")
    if final_cap:
        logits = np.tanh(logits / final_cap) * final_cap
    return logits


# --- encoders -------------------------------------------------------------------------------

def encoder(c, tokens, second=None):
    """BertModel (post-norm, learned positions, GELU) or NomicBertModel (RoPE, SwiGLU).
    second: index of the first token of segment B (HF token_type_ids 1 from there on)."""
    nomic = c.arch == "nomic-bert"
    n_head = c("attention.head_count")
    E = c("embedding_length")
    hd = E // n_head
    eps = c("attention.layer_norm_epsilon")
    T = len(tokens)
    pos = np.arange(T, dtype=np.float64)
    types = c.tensor("token_types.weight")
    segment = np.array([1 if second is not None and i >= second and len(types) > 1 else 0
                        for i in range(T)])
    if SINGLE_SEGMENT:
        segment[:] = 0
    x = c.tensor("token_embd.weight")[tokens] + types[segment]
    if not nomic:
        x = x + c.tensor("position_embd.weight")[:T]
    x = layer_norm(x, c.tensor("token_embd_norm.weight"), c.tensor("token_embd_norm.bias"), eps)
    everything = np.ones((T, T), dtype=bool)
    for l in range(c("block_count")):
        p = f"blk.{l}."
        t = lambda name: c.tensor(p + name)
        if nomic:
            q, k, v = np.split(linear(x, t("attn_qkv.weight")), 3, axis=-1)
            inv_freq = default_inv_freq(c("rope.freq_base"), hd)
            q = rope_neox(q.reshape(T, n_head, hd), pos, inv_freq)
            k = rope_neox(k.reshape(T, n_head, hd), pos, inv_freq)
            a = linear(attention(q, k, v.reshape(T, n_head, hd), everything, hd ** -0.5), t("attn_output.weight"))
        else:
            q = linear(x, t("attn_q.weight"), t("attn_q.bias")).reshape(T, n_head, hd)
            k = linear(x, t("attn_k.weight"), t("attn_k.bias")).reshape(T, n_head, hd)
            v = linear(x, t("attn_v.weight"), t("attn_v.bias")).reshape(T, n_head, hd)
            a = linear(attention(q, k, v, everything, hd ** -0.5), t("attn_output.weight"), t("attn_output.bias"))
        x = layer_norm(x + a, t("attn_output_norm.weight"), t("attn_output_norm.bias"), eps)
        if nomic:
            f = linear(linear(x, t("ffn_up.weight")) * silu(linear(x, t("ffn_gate.weight"))), t("ffn_down.weight"))
        else:
            f = linear(gelu_erf(linear(x, t("ffn_up.weight"), t("ffn_up.bias"))), t("ffn_down.weight"),
                       t("ffn_down.bias"))
        x = layer_norm(x + f, t("layer_output_norm.weight"), t("layer_output_norm.bias"), eps)
    return x


def embeddings(c, tokens):
    """Mean pooling then L2 normalization (sentence-transformers), and the raw [CLS] state."""
    states = encoder(c, tokens)
    mean = states.mean(axis=0)
    return {"mean": mean / np.linalg.norm(mean), "cls": states[0]}


# A check of the check: the reference ignores segment B (every token type 0).
SINGLE_SEGMENT = False


def rerank_score(c, tokens, second):
    """A cross-encoder's relevance logit: RobertaForSequenceClassification's head
    (out_proj(tanh(dense(h_cls)))) on the first token's final state; without `cls` (the dense
    layer) the projection reads h_cls, as BertForSequenceClassification's classifier does."""
    h = encoder(c, tokens, second)[0]
    if c.has("cls.weight"):
        h = np.tanh(linear(h, c.tensor("cls.weight"), c.tensor("cls.bias")))
    return linear(h, c.tensor("cls.output.weight"), c.tensor("cls.output.bias"))[0]


def logits(c, tokens, hidden=False):
    family = gemma_family if c.arch.startswith("gemma") else gpt_oss if c.arch == "gpt-oss" else llama_family
    return family(c, tokens, hidden)


def last_token_embedding(c, tokens):
    """Decoder embedding models (Qwen3-Embedding): the last token's state, unit length."""
    last = logits(c, tokens, hidden=True)[-1]
    return last / np.linalg.norm(last)
