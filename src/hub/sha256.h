#pragma once
// Incremental SHA-256 (OpenSSL EVP), the hash the Hugging Face hub publishes for LFS files.
#include <cstddef>
#include <memory>
#include <string>

namespace hearth::hub {

class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const void* data, size_t size);
    std::string hex_digest();  // lower-case hex; the object is reset afterwards
    void reset();

  private:
    struct State;
    std::unique_ptr<State> state_;
};

// Hashes a whole file (throws hearth::Error when it cannot be read).
std::string sha256_file(const std::string& path);

}  // namespace hearth::hub
