// `hearth doctor`: checks the machine and the installation and says how to fix each problem.
// Exit code 0 when nothing failed (warnings allowed), 1 otherwise. `--json` for scripts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "core/format.h"
#include "gguf/reader.h"
#include "http/tls.h"
#include "kernels/cpu.h"

namespace hearth::cli {

namespace {

namespace fs = std::filesystem;

enum class Status { Ok, Warn, Fail };

const char* status_name(Status s) {
    switch (s) {
        case Status::Ok:
            return "ok";
        case Status::Warn:
            return "warn";
        case Status::Fail:
            return "fail";
    }
    return "?";
}

struct Check {
    std::string name;
    Status status = Status::Ok;
    std::string detail;
    std::string fix;  // empty when there is nothing to do
};

struct DoctorOptions {
    std::string models_dir;
    std::string env_file;
    std::string host = "127.0.0.1";
    int port = 8080;
    bool port_given = false;  // on the command line or in $HEARTH_PORT; else the env file's wins
    bool json = false;
};

std::string getenv_str(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

std::string default_models_dir() {
    std::string dir = getenv_str("HEARTH_MODELS_DIR");
    if (!dir.empty()) return dir;
    std::string data = getenv_str("XDG_DATA_HOME");
    if (!data.empty()) return data + "/hearth/models";
    std::string home = getenv_str("HOME");
    return (home.empty() ? std::string(".") : home) + "/.local/share/hearth/models";
}

std::string default_env_file() {
    std::string f = getenv_str("HEARTH_ENV_FILE");
    if (!f.empty()) return f;
    if (fs::exists("/etc/hearth/hearth.env")) return "/etc/hearth/hearth.env";
    return "";
}

std::string trim(std::string s) {
    const char* ws = " \t\r\n";
    s.erase(0, s.find_first_not_of(ws));
    size_t end = s.find_last_not_of(ws);
    s.erase(end == std::string::npos ? 0 : end + 1);
    return s;
}

// KEY=VALUE lines with # comments, optional `export ` and optional quotes (systemd EnvironmentFile
// and docker env_file both read this shape).
std::map<std::string, std::string> parse_env_file(std::istream& in,
                                                  std::vector<std::string>& bad_lines) {
    std::map<std::string, std::string> out;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
        size_t eq = line.find('=');
        if (eq == std::string::npos || eq == 0) {
            bad_lines.push_back("line " + std::to_string(number) + ": no KEY=VALUE");
            continue;
        }
        std::string key = trim(line.substr(0, eq));
        std::string value = trim(line.substr(eq + 1));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
            value.back() == value.front())
            value = value.substr(1, value.size() - 2);
        out[key] = value;
    }
    return out;
}

std::vector<std::string> split_keys(const std::string& list) {
    std::vector<std::string> keys;
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        std::string k = trim(
            list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (!k.empty()) keys.push_back(k);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return keys;
}

bool is_placeholder_key(const std::string& k) {
    std::string l = k;
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const char* p : {"change", "replace", "placeholder", "example", "your-key", "your_key",
                          "xxxx", "secret", "password", "sk-..."})
        if (l.find(p) != std::string::npos) return true;
    return l == "key" || l == "test" || l == "todo";
}

// ---- CPU ----------------------------------------------------------------------------------

Check check_cpu(nlohmann::json& cpu_json) {
    const kernels::CpuFeatures cf = kernels::cpu_features();
    std::vector<std::pair<const char*, bool>> feats = {
        {"avx2", cf.avx2},
        {"fma", cf.fma},
        {"f16c", cf.f16c},
        {"avx512f", cf.avx512f},
        {"avx512bw", cf.avx512bw},
        {"avx512vl", cf.avx512vl},
        {"avx512vnni", cf.avx512vnni},
        {"avx512bf16", cf.avx512bf16},
        {"amx_int8", cf.amx_int8},
    };
    const kernels::CpuLevel detected_level = kernels::detected_cpu_level();
    const bool avx512 = detected_level == kernels::CpuLevel::Avx512;
    const bool avx2 = avx512 || detected_level == kernels::CpuLevel::Avx2;
    std::string detected(kernels::cpu_level_name(detected_level));
    std::string chosen = detected;
    std::string forced = getenv_str("HEARTH_CPU");
    Check c{"cpu", Status::Ok, "", ""};
    if (!forced.empty()) {
        int rank_f = forced == "avx512" ? 2 : forced == "avx2" ? 1 : forced == "scalar" ? 0 : -1;
        int rank_d = avx512 ? 2 : avx2 ? 1 : 0;
        if (rank_f < 0) {
            c.status = Status::Fail;
            c.fix = "unset HEARTH_CPU or set it to one of scalar, avx2, avx512";
        } else {
            chosen = rank_f <= rank_d ? forced : detected;
        }
    }
    std::string list;
    for (auto& [n, v] : feats)
        if (v) list += std::string(list.empty() ? "" : " ") + n;
    c.detail = "kernels: " + chosen + " (detected " + detected +
               (forced.empty() ? "" : ", HEARTH_CPU=" + forced) +
               (kernels::amx_enabled()  ? ", AMX tiles for prompts"
                : kernels::amx_usable() ? ", AMX off (HEARTH_AMX=0)"
                                        : "") +
               "); features: " + (list.empty() ? "none of the SIMD ones hearth uses" : list) +
               "; " + std::to_string(std::thread::hardware_concurrency()) + " logical cores; " +
               std::to_string(kernels::cpu_budget().threads) + " compute threads by default (" +
               kernels::cpu_budget().reason + ")";
    if (c.status == Status::Ok && detected == "scalar") {
        c.status = Status::Warn;
        c.fix =
            "this CPU has no AVX2+FMA+F16C: hearth runs its scalar kernels, several times slower; "
            "use small models (1B-3B, Q4_0/Q4_K) or a newer CPU";
    }
    nlohmann::json f = nlohmann::json::object();
    for (auto& [n, v] : feats) f[n] = v;
    cpu_json = {{"features", f},
                {"detected_level", detected},
                {"level", chosen},
                {"amx", kernels::amx_enabled()},
                {"logical_cores", std::thread::hardware_concurrency()},
                {"default_threads", kernels::cpu_budget().threads},
                {"default_threads_reason", kernels::cpu_budget().reason}};
    return c;
}

// ---- memory and disk ----------------------------------------------------------------------

std::optional<uint64_t> meminfo_kib(const std::string& field) {
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0)
            return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10);
    }
    return std::nullopt;
}

Check check_memory(uint64_t largest_model, nlohmann::json& mem_json) {
    struct sysinfo si {};
    uint64_t total = 0;
    if (sysinfo(&si) == 0) total = static_cast<uint64_t>(si.totalram) * si.mem_unit;
    uint64_t avail = meminfo_kib("MemAvailable").value_or(0) * 1024;
    if (avail == 0 && sysinfo(&si) == 0)
        avail = static_cast<uint64_t>(si.freeram + si.bufferram) * si.mem_unit;
    mem_json = {
        {"total_bytes", total}, {"available_bytes", avail}, {"largest_model_bytes", largest_model}};
    Check c{"memory", Status::Ok, "", ""};
    c.detail = format_bytes(total) + " total, " + format_bytes(avail) + " available";
    if (largest_model > 0) c.detail += "; largest model file " + format_bytes(largest_model);
    // Weights are mmapped: they need page cache, not heap, but decode speed collapses when they do
    // not stay resident. Leave ~20% for the KV cache and the rest of the system.
    if (largest_model > 0 && largest_model * 12 / 10 > avail) {
        c.status = largest_model > total ? Status::Fail : Status::Warn;
        c.fix =
            "the largest model does not fit in available RAM with room for its KV cache: pick a "
            "smaller "
            "quantization (see docs/CPU_OPTIMIZED_MODELS.md), lower --ctx-size, or add RAM";
    } else if (total > 0 && total < (2ull << 30)) {
        c.status = Status::Warn;
        c.fix = "under 2 GiB of RAM: only the smallest models (<= 1B parameters, 4-bit) will run";
    }
    return c;
}

Check check_disk(const std::string& dir, nlohmann::json& disk_json) {
    Check c{"disk", Status::Ok, "", ""};
    // statvfs the directory, or its nearest existing parent when it does not exist yet.
    fs::path p = dir;
    std::error_code ec;
    while (!p.empty() && !fs::exists(p, ec)) p = p.parent_path();
    if (p.empty()) p = ".";
    struct statvfs sv {};
    if (statvfs(p.c_str(), &sv) != 0) {
        c.status = Status::Warn;
        c.detail = "cannot statvfs " + p.string() + ": " + std::strerror(errno);
        return c;
    }
    uint64_t free_bytes = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
    uint64_t total = static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize;
    disk_json = {{"path", p.string()}, {"free_bytes", free_bytes}, {"total_bytes", total}};
    c.detail = format_bytes(free_bytes) + " free of " + format_bytes(total) + " at " + p.string();
    if (free_bytes < (1ull << 30)) {
        c.status = Status::Fail;
        c.fix =
            "under 1 GiB free for models: free space, remove models (`hearth models rm NAME`) or "
            "point "
            "HEARTH_MODELS_DIR at a larger disk";
    } else if (free_bytes < (8ull << 30)) {
        c.status = Status::Warn;
        c.fix = "under 8 GiB free: a 7B model at 4 bits needs about 4 GiB; keep room for downloads";
    }
    return c;
}

// ---- configuration and keys ---------------------------------------------------------------

std::vector<Check> check_config(DoctorOptions& o, nlohmann::json& cfg_json) {
    std::vector<Check> out;
    std::map<std::string, std::string> env;
    Check file{"config", Status::Ok, "", ""};
    if (o.env_file.empty()) {
        file.detail =
            "no env file (looked at $HEARTH_ENV_FILE and /etc/hearth/hearth.env); using the "
            "environment";
    } else {
        std::ifstream in(o.env_file);
        struct stat st {};
        if (!in) {
            file.status = Status::Fail;
            file.detail = "cannot read " + o.env_file + ": " + std::strerror(errno);
            file.fix =
                "run as a user that may read it (e.g. `sudo -u hearth hearth doctor`), or fix the "
                "path "
                "with --env-file";
        } else {
            std::vector<std::string> bad;
            env = parse_env_file(in, bad);
            file.detail = o.env_file + ": " + std::to_string(env.size()) + " settings";
            if (!bad.empty()) {
                file.status = Status::Fail;
                file.detail += "; malformed " + bad.front();
                file.fix = "each line must be KEY=VALUE or a # comment";
            } else if (stat(o.env_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
                file.status = Status::Fail;
                file.detail += "; mode " + [&] {
                    char b[8];
                    std::snprintf(b, sizeof b, "%03o", st.st_mode & 0777);
                    return std::string(b);
                }() + " lets other users read the API keys";
                file.fix = "chmod 600 " + o.env_file;
            }
            for (auto& [k, v] : env) {
                if (k == "HEARTH_PORT" || k == "HEARTH_PARALLEL" || k == "HEARTH_THREADS" ||
                    k == "HEARTH_CTX_SIZE") {
                    char* end = nullptr;
                    long n = std::strtol(v.c_str(), &end, 10);
                    if (v.empty() || *end != '\0' || n < 0 || (k == "HEARTH_PORT" && n > 65535)) {
                        file.status = Status::Fail;
                        file.detail += "; " + k + "=" + v + " is not a valid number";
                        file.fix = "set " + k + " to a whole number";
                    }
                }
            }
        }
    }
    out.push_back(file);
    if (!o.port_given && env.count("HEARTH_PORT") && file.status == Status::Ok)
        o.port = std::atoi(env["HEARTH_PORT"].c_str());

    // Keys: the process environment wins over the file (flags > env > file).
    std::string key_list = getenv_str("HEARTH_API_KEYS");
    std::string source = "HEARTH_API_KEYS";
    if (key_list.empty() && env.count("HEARTH_API_KEYS")) {
        key_list = env["HEARTH_API_KEYS"];
        source = o.env_file;
    }
    std::string key_file = env.count("HEARTH_API_KEY_FILE") ? env["HEARTH_API_KEY_FILE"]
                                                            : getenv_str("HEARTH_API_KEY_FILE");
    std::vector<std::string> keys = split_keys(key_list);
    Check k{"api-keys", Status::Ok, "", ""};
    if (!key_file.empty()) {
        std::ifstream kf(key_file);
        if (!kf) {
            k.status = Status::Fail;
            k.detail = "key file " + key_file + " is not readable";
            k.fix =
                "create it (one key per line, mode 600, owned by the hearth user) or remove "
                "HEARTH_API_KEY_FILE";
        } else {
            std::string line;
            while (std::getline(kf, line)) {
                line = trim(line);
                if (!line.empty() && line[0] != '#') keys.push_back(line);
            }
            source += source.empty() ? key_file : " + " + key_file;
        }
    }
    int placeholders = 0, weak = 0;
    for (auto& key : keys) {
        if (is_placeholder_key(key))
            ++placeholders;
        else if (key.size() < 32)
            ++weak;
    }
    std::string host = getenv_str("HEARTH_HOST");
    if (host.empty() && env.count("HEARTH_HOST")) host = env["HEARTH_HOST"];
    if (host.empty()) host = o.host;
    const bool loopback = host == "127.0.0.1" || host == "localhost" || host == "::1";
    if (k.status == Status::Ok) {
        if (keys.empty()) {
            k.status = loopback ? Status::Warn : Status::Fail;
            k.detail = "no API keys configured";
            k.fix = loopback
                        ? "fine for a single-user machine; to require keys, put "
                          "HEARTH_API_KEYS=$(openssl rand -hex 32) in the env file"
                        : "HEARTH_HOST=" + host +
                              " exposes the server: set HEARTH_API_KEYS=$(openssl rand -hex 32) "
                              "in the env file, or bind to 127.0.0.1 behind the proxy";
        } else if (placeholders > 0) {
            k.status = Status::Fail;
            k.detail = std::to_string(placeholders) + " of " + std::to_string(keys.size()) +
                       " keys is a placeholder";
            k.fix =
                "replace it with a random key: openssl rand -hex 32 (scripts/setup-hearth.sh "
                "generates one)";
        } else {
            k.detail = std::to_string(keys.size()) + " key(s) from " + source;
            if (weak > 0) {
                k.status = Status::Warn;
                k.fix = std::to_string(weak) +
                        " key(s) shorter than 32 characters: prefer openssl rand -hex 32";
            }
        }
    }
    out.push_back(k);

    // Native TLS (--tls-cert / --tls-key): the files are loaded as `hearth serve` would.
    auto setting = [&](const char* name) {
        std::string v = getenv_str(name);
        return v.empty() && env.count(name) ? env[name] : v;
    };
    const std::string cert = setting("HEARTH_TLS_CERT"), key = setting("HEARTH_TLS_KEY");
    if (!cert.empty() || !key.empty()) {
        Check t{"tls", Status::Ok, "", ""};
        try {
            http::make_tls_context(cert, key);
            t.detail = "certificate " + cert + " and key " + key + " load and match";
        } catch (const Error& e) {
            t.status = Status::Fail;
            t.detail = e.what();
            t.fix = "fix HEARTH_TLS_CERT / HEARTH_TLS_KEY (see docs/SERVER.md, \"HTTPS without a gateway\")";
        }
        out.push_back(t);
    }
    cfg_json = {{"env_file", o.env_file}, {"keys", keys.size()}, {"host", host}};
    return out;
}

// ---- models -------------------------------------------------------------------------------

std::vector<Check> check_models(const std::string& dir, uint64_t& largest,
                                nlohmann::json& models_json) {
    std::vector<Check> out;
    models_json = nlohmann::json::array();
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        out.push_back(
            {"models-dir", Status::Warn, dir + " does not exist",
             "mkdir -p " + dir +
                 " and add models: hearth pull REF (or scripts/download-cpu-optimized-models.sh)"});
        return out;
    }
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(
             dir, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && it->path().extension() == ".gguf")
            files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
        out.push_back({"models-dir", Status::Warn, dir + " holds no .gguf files",
                       "hearth pull REF, or scripts/download-cpu-optimized-models.sh for the "
                       "catalog entries that fit"});
        return out;
    }
    out.push_back({"models-dir", Status::Ok,
                   dir + ": " + std::to_string(files.size()) + " model file(s)", ""});
    if (access(dir.c_str(), W_OK) != 0)
        out.back() = {
            "models-dir", Status::Warn, out.back().detail + ", not writable by this user",
            "hearth pull needs write access: run as the hearth user (sudo -u hearth ...)"};
    for (const auto& path : files) {
        Check c{"model " + path.filename().string(), Status::Ok, "", ""};
        nlohmann::json j = {{"path", path.string()}};
        try {
            gguf::File f = gguf::File::open(path.string());
            largest = std::max<uint64_t>(largest, f.file_size());
            std::string arch = f.get_string("general.architecture", "?");
            c.detail = "GGUF v" + std::to_string(f.version()) + ", " + arch + ", " +
                       std::to_string(f.tensors().size()) + " tensors, " +
                       format_bytes(f.file_size());
            j["ok"] = true;
            j["architecture"] = arch;
            j["bytes"] = f.file_size();
        } catch (const std::exception& e) {
            c.status = Status::Fail;
            c.detail = e.what();
            c.fix =
                "the file is damaged or incomplete: delete it and download it again (hearth pull "
                "REF), "
                "or move it out of the models dir";
            j["ok"] = false;
            j["error"] = e.what();
        }
        models_json.push_back(j);
        out.push_back(c);
    }
    return out;
}

// ---- port ---------------------------------------------------------------------------------

// When the port is taken, is it a server answering GET /health (most likely hearth itself)?
// hearth with --tls-cert answers this plain request with a 400 saying to use https.
bool answers_health(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        std::string req = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
            std::string reply;
            char buf[1024];
            for (ssize_t n; reply.size() < 4096 && (n = recv(fd, buf, sizeof buf, 0)) > 0;)
                reply.append(buf, static_cast<size_t>(n));
            const bool http = reply.size() > 12 && reply.rfind("HTTP/1.", 0) == 0;
            ok = http && (reply.compare(9, 3, "200") == 0 ||
                          (reply.compare(9, 3, "400") == 0 &&
                           reply.find(http::kHttpsOnlyMessage) != std::string::npos));
        }
    }
    close(fd);
    return ok;
}

Check check_port(int port) {
    Check c{"port", Status::Ok, "", ""};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        c.status = Status::Warn;
        c.detail = std::string("cannot create a socket: ") + std::strerror(errno);
        return c;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    int err = errno;
    close(fd);
    if (rc == 0) {
        c.detail = "127.0.0.1:" + std::to_string(port) + " is free";
    } else if (err == EADDRINUSE && answers_health(port)) {
        c.status = Status::Warn;
        c.detail = "127.0.0.1:" + std::to_string(port) +
                   " is in use by a server answering /health (hearth already running?)";
        c.fix =
            "nothing to do if that is this hearth (systemctl status hearth); otherwise choose "
            "another --port";
    } else {
        c.status = Status::Fail;
        c.detail = "cannot bind 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(err);
        c.fix = err == EADDRINUSE
                    ? "another program holds the port: find it with `ss -ltnp 'sport = :" +
                          std::to_string(port) +
                          "'`, stop it, or set HEARTH_PORT / --port to a free port"
                    : "choose a port >= 1024 or run with the needed privilege";
    }
    return c;
}

int run_doctor(DoctorOptions o) {
    std::vector<Check> checks;
    nlohmann::json cpu, mem, disk, cfg, models;
    checks.push_back(check_cpu(cpu));
    uint64_t largest = 0;
    std::vector<Check> model_checks = check_models(o.models_dir, largest, models);
    checks.push_back(check_memory(largest, mem));
    checks.push_back(check_disk(o.models_dir, disk));
    for (auto& c : check_config(o, cfg))
        checks.push_back(c);  // may take the port from the env file
    checks.push_back(check_port(o.port));
    for (auto& c : model_checks) checks.push_back(c);

    int fails = 0, warns = 0;
    for (auto& c : checks) {
        fails += c.status == Status::Fail;
        warns += c.status == Status::Warn;
    }
    if (o.json) {
        nlohmann::json out;
        out["ok"] = fails == 0;
        out["failures"] = fails;
        out["warnings"] = warns;
        out["cpu"] = cpu;
        out["memory"] = mem;
        out["disk"] = disk;
        out["config"] = cfg;
        out["models_dir"] = o.models_dir;
        out["models"] = models;
        out["port"] = o.port;
        nlohmann::json arr = nlohmann::json::array();
        for (auto& c : checks) {
            nlohmann::json j = {
                {"name", c.name}, {"status", status_name(c.status)}, {"detail", c.detail}};
            if (!c.fix.empty()) j["fix"] = c.fix;
            arr.push_back(j);
        }
        out["checks"] = arr;
        std::cout << out.dump(2) << "\n";
    } else {
        for (auto& c : checks) {
            const char* tag = c.status == Status::Ok     ? " ok "
                              : c.status == Status::Warn ? "warn"
                                                         : "FAIL";
            std::printf("[%s] %-12s %s\n", tag, c.name.c_str(), c.detail.c_str());
            if (!c.fix.empty()) std::printf("       fix: %s\n", c.fix.c_str());
        }
        std::printf("\n%s: %d failure(s), %d warning(s)\n",
                    fails == 0 ? "all good" : "problems found", fails, warns);
    }
    return fails == 0 ? 0 : 1;
}

}  // namespace

void add_doctor_command(CLI::App& app) {
    auto opts = std::make_shared<DoctorOptions>();
    opts->models_dir = default_models_dir();
    opts->env_file = default_env_file();
    auto* cmd = app.add_subcommand("doctor",
                                   "Check CPU, memory, disk, configuration, keys, port and model "
                                   "files; say how to fix each problem");
    cmd->add_option("--models-dir", opts->models_dir,
                    "Models directory (default $HEARTH_MODELS_DIR or ~/.local/share/hearth/models)")
        ->capture_default_str();
    cmd->add_option("--env-file", opts->env_file,
                    "Env file with HEARTH_* settings and keys (default $HEARTH_ENV_FILE or "
                    "/etc/hearth/hearth.env)")
        ->capture_default_str();
    cmd->add_option("--host", opts->host, "Address hearth serves on")
        ->capture_default_str()
        ->envname("HEARTH_HOST");
    cmd->add_option("--port", opts->port, "Port hearth serves on")
        ->capture_default_str()
        ->envname("HEARTH_PORT")
        ->check(CLI::Range(1, 65535));
    cmd->add_flag("--json", opts->json, "Print JSON instead of text");
    cmd->footer("Exit code 0 when nothing failed (warnings allowed), 1 otherwise.");
    cmd->callback([opts, cmd] {
        opts->port_given = cmd->count("--port") > 0 || !getenv_str("HEARTH_PORT").empty();
        int rc = run_doctor(*opts);
        if (rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace hearth::cli
