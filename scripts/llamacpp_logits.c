// The reference engine's logits for a token list, through its public C API (llama.h), for
// scripts/crosscheck-llamacpp.sh. Not built with hearth: it needs a llama.cpp build.
// usage: llamacpp_logits MODEL.gguf OUT.f32 TOKEN...   (writes n_tokens x n_vocab floats, every
// position's logits from one batch; KV_F32=1 keeps the KV cache in F32)
#include <stdio.h>
#include <stdlib.h>
#include "llama.h"

int main(int argc, char** argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s MODEL OUT TOKEN...\n", argv[0]); return 2; }
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model* model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "load failed\n"); return 1; }
    int n = argc - 3;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_threads = 2; cp.n_threads_batch = 2;
    if (getenv("KV_F32")) { cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32; }
    struct llama_context* ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "context failed\n"); return 1; }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    struct llama_batch batch = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; ++i) {
        batch.token[i] = atoi(argv[3 + i]); batch.pos[i] = i; batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0; batch.logits[i] = 1;
    }
    batch.n_tokens = n;
    if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
    FILE* out = fopen(argv[2], "wb");
    for (int i = 0; i < n; ++i) fwrite(llama_get_logits_ith(ctx, i), sizeof(float), n_vocab, out);
    fclose(out);
    fprintf(stderr, "wrote %d x %d logits\n", n, n_vocab);
    llama_batch_free(batch); llama_free(ctx); llama_model_free(model);
    return 0;
}
