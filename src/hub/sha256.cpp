#include "hub/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <vector>

#include "core/error.h"

namespace hearth::hub {

struct Sha256::State {
    EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
    state_->ctx = EVP_MD_CTX_new();
    if (!state_->ctx) throw Error("out of memory creating a SHA-256 context");
    reset();
}

Sha256::~Sha256() {
    EVP_MD_CTX_free(state_->ctx);
}

void Sha256::reset() {
    EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
}

void Sha256::update(const void* data, size_t size) {
    EVP_DigestUpdate(state_->ctx, data, size);
}

std::string Sha256::hex_digest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(state_->ctx, digest, &length);
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
        out.push_back(kHex[digest[i] >> 4]);
        out.push_back(kHex[digest[i] & 15]);
    }
    reset();
    return out;
}

std::string sha256_file(const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) throw Error("cannot read " + path + " to hash it");
    Sha256 hash;
    std::vector<char> buffer(1 << 20);
    size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), file)) > 0)
        hash.update(buffer.data(), n);
    bool failed = std::ferror(file);
    std::fclose(file);
    if (failed) throw Error("read error while hashing " + path);
    return hash.hex_digest();
}

}  // namespace hearth::hub
