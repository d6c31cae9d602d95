#pragma once
// An in-process Hugging Face Hub for tests: cpp-httplib on 127.0.0.1 (random port) speaking
// the API shapes hearth uses, with switches to inject the faults real networks produce.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace hearth::fake {

struct FakeFile {
    std::string content;
    std::string advertised_sha256;  // empty: the true hash (set this to simulate corruption)
};

struct FakeRepo {
    std::string commit = "1111111111111111111111111111111111111111";
    std::map<std::string, FakeFile> files;
    bool private_repo = false;  // needs the hub's token
    bool gated = false;         // files answer 403 GatedRepo until the token is set
    std::string pipeline_tag = "text-generation";
};

struct Faults {
    uint64_t drop_after_bytes = 0;  // close the connection after this many body bytes...
    int drops = 0;                  // ...for this many downloads
    bool redirect_to_cdn = true;    // resolve answers 302 to /cdn/... like the real hub
    bool refuse_ranges = false;     // answer 416 to any Range request
    int slow_ms_per_chunk = 0;
    std::string api_body_override;  // served instead of the real JSON by /api/models*
    std::string cdn_endpoint;       // redirect downloads to another server (default: this one)
};

class FakeHub {
  public:
    FakeHub();
    ~FakeHub();
    FakeHub(const FakeHub&) = delete;
    FakeHub& operator=(const FakeHub&) = delete;

    std::string endpoint() const;  // http://127.0.0.1:<port>
    void add_repo(const std::string& id, FakeRepo repo);
    void set_file(const std::string& repo, const std::string& path, FakeFile file);
    void set_commit(const std::string& repo, const std::string& commit);
    void set_faults(const Faults& faults);
    void set_token(const std::string& token);  // required for private repos
    // Entries for GET /api/models (raw JSON objects as text).
    void set_listing(std::vector<std::string> json_objects);

    // "GET /path[?query] [Range: bytes=N-] [auth]" for each request, in order.
    std::vector<std::string> requests() const;
    int count_requests(const std::string& substring) const;

    struct State;  // shared with the server thread

  private:
    std::shared_ptr<State> state_;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    int port_ = 0;
};

// A small valid GGUF file whose bytes depend on `seed`.
std::string make_gguf(int seed, size_t payload_floats = 4096);
std::string sha256_hex(const std::string& data);

}  // namespace hearth::fake
