// The HTTP front over TLS, on loopback, with a throwaway certificate made here with OpenSSL:
// clients that verify it (libcurl, and OpenSSL's own client for what curl hides: ALPN, the
// protocol version, close_notify, raw bytes) get their answers, keep-alive and streaming work,
// and every protection of the plain front still holds: a client that never finishes its
// handshake is cut off by the header deadline, a stalled body and an unread answer by theirs,
// plain HTTP to the port is answered with a 400 saying to use https, and the connection caps
// evict half-open handshakes. Bad certificate files are refused with errors that say why.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/error.h"
#include "http/server.h"

namespace hearth::http {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// ---- a throwaway certificate authority of one self-signed certificate ----

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

PKey ec_key() {
    return PKey(EVP_EC_gen("P-256"), EVP_PKEY_free);
}

PKey rsa_key(unsigned bits) {
    return PKey(EVP_RSA_gen(bits), EVP_PKEY_free);
}

void add_extension(X509* cert, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    ASSERT_NE(ext, nullptr);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

// Writes a certificate for localhost and 127.0.0.1 signed by `key` itself, valid for a day.
void write_cert(const fs::path& path, EVP_PKEY* key, const char* common_name, long serial) {
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    add_extension(cert, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
    FILE* f = fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    PEM_write_X509(f, cert);
    fclose(f);
    X509_free(cert);
}

void write_key(const fs::path& path, EVP_PKEY* key, const char* passphrase = nullptr) {
    FILE* f = fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    if (passphrase) {
        PEM_write_PrivateKey(f, key, EVP_aes_128_cbc(), nullptr, 0, nullptr,
                             const_cast<char*>(passphrase));
    } else {
        PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    }
    fclose(f);
}

class TempDir {
  public:
    TempDir() {
        char pattern[] = "/tmp/hearth-tls-XXXXXX";
        path_ = mkdtemp(pattern);
    }
    ~TempDir() { fs::remove_all(path_); }
    fs::path operator/(const char* name) const { return path_ / name; }

  private:
    fs::path path_;
};

// ---- the server under test ----

// Routes: /hello answers at once; /stream sends "part 1", waits until the test says the
// client has read it, then "part 2"; /flood streams 1 MB chunks until a write fails;
// /until-gone sends one event, then polls client_gone() (as a generation does) for 10 s.
class TlsServer {
  public:
    explicit TlsServer(ServerLimits limits = fast_limits()) {
        TlsFiles files{(dir / "cert.pem").string(), (dir / "key.pem").string()};
        PKey key = ec_key();
        write_cert(files.cert_file, key.get(), "hearth test", 1);
        write_key(files.key_file, key.get());
        server_ = std::make_unique<Server>(limits, [this](const Request& r, Responder& out) {
            handle(r, out);
        });
        server_->use_tls(files);
        port_ = server_->bind("127.0.0.1", 0);
        thread_ = std::thread([this] { server_->run(); });
    }
    ~TlsServer() {
        release_stream();
        server_->stop(milliseconds(2000));
        thread_.join();
    }

    static ServerLimits fast_limits() {
        ServerLimits l;
        l.header_timeout = milliseconds(600);
        l.body_stall_timeout = milliseconds(600);
        l.idle_timeout = milliseconds(800);
        l.write_timeout = milliseconds(600);
        l.handler_threads = 4;
        return l;
    }

    int port() const { return port_; }
    std::string url(const char* path) const {
        return "https://127.0.0.1:" + std::to_string(port_) + path;
    }
    std::string cert() const { return (dir / "cert.pem").string(); }
    Server& server() { return *server_; }

    void release_stream() {
        std::lock_guard lock(mutex_);
        part1_read_ = true;
        changed_.notify_all();
    }
    // Whether the stream handler waited for the client (false: it gave up after 10 s).
    bool stream_waited() const { return stream_waited_.load(); }
    // How the /flood handler ended: 0 still running, 1 a write failed.
    int flood_result() const { return flood_result_.load(); }
    bool gone_seen() const { return gone_seen_.load(); }

    TempDir dir;

  private:
    void handle(const Request& r, Responder& out) {
        if (r.path == "/hello") {
            out.send(Response(200, "hello over tls", "text/plain"));
        } else if (r.path == "/echo") {
            out.send(Response(200, r.body, "text/plain"));
        } else if (r.path == "/stream") {
            out.begin_stream(Response(200, "", "text/event-stream"));
            out.write("data: part 1\n\n");
            std::unique_lock lock(mutex_);
            stream_waited_ = changed_.wait_for(lock, std::chrono::seconds(10),
                                               [&] { return part1_read_; });
            lock.unlock();
            out.write("data: part 2\n\n");
            out.end_stream();
        } else if (r.path == "/flood") {
            out.begin_stream(Response(200, "", "application/octet-stream"));
            const std::string mb(1 << 20, 'x');
            for (int i = 0; i < 1024 && out.write(mb); ++i) {
            }
            flood_result_ = 1;
            out.end_stream();
        } else if (r.path == "/until-gone") {
            out.begin_stream(Response(200, "", "text/event-stream"));
            out.write("data: started\n\n");
            const auto t0 = Clock::now();
            while (seconds_since(t0) < 10 && !out.client_gone())
                std::this_thread::sleep_for(milliseconds(10));
            if (out.client_gone()) gone_seen_ = true;
        } else {
            out.send(Response(404, "no such path", "text/plain"));
        }
    }

    std::unique_ptr<Server> server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool part1_read_ = false;
    std::atomic<bool> stream_waited_{false};
    std::atomic<int> flood_result_{0};
    std::atomic<bool> gone_seen_{false};
};

// ---- clients ----

int connect_tcp(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

// Reads until the peer closes (or 10 s pass); returns what came.
std::string read_raw_until_close(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

// OpenSSL's client, verifying the server against `ca_file` and its name against 127.0.0.1.
class TlsClient {
  public:
    TlsClient(int port, const std::string& ca_file, int max_version = 0) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        if (max_version) {
            // Let this client speak old protocols, so that only the server can refuse them.
            SSL_CTX_set_security_level(ctx_, 0);
            SSL_CTX_set_min_proto_version(ctx_, TLS1_VERSION);
            SSL_CTX_set_max_proto_version(ctx_, max_version);
            SSL_CTX_set_cipher_list(ctx_, "ALL:@SECLEVEL=0");
        }
        fd_ = connect_tcp(port);
        ssl_ = SSL_new(ctx_);
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
        static const unsigned char protos[] = "\x02h2\x08http/1.1";
        SSL_set_alpn_protos(ssl_, protos, sizeof protos - 1);
        SSL_set_fd(ssl_, fd_);
        connected_ = SSL_connect(ssl_) == 1;
        if (!connected_) ERR_clear_error();
    }
    ~TlsClient() {
        SSL_free(ssl_);
        SSL_CTX_free(ctx_);
        if (fd_ >= 0) close(fd_);
    }
    bool connected() const { return connected_; }
    SSL* ssl() { return ssl_; }
    int fd() const { return fd_; }

    std::string alpn() {
        const unsigned char* p = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(ssl_, &p, &len);
        return std::string(reinterpret_cast<const char*>(p), len);
    }
    bool send(const std::string& bytes) {
        return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
               static_cast<int>(bytes.size());
    }
    // Reads until `stop` is found in what came (true), or the connection ends (false).
    bool read_until(const std::string& stop, std::string& got) {
        char buf[4096];
        while (got.find(stop) == std::string::npos) {
            const int n = SSL_read(ssl_, buf, sizeof buf);
            if (n <= 0) {
                last_error_ = SSL_get_error(ssl_, n);
                ERR_clear_error();
                return false;
            }
            got.append(buf, static_cast<size_t>(n));
        }
        return true;
    }
    // The SSL_get_error code of the read that ended the connection.
    int last_error() const { return last_error_; }

  private:
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    int fd_ = -1;
    bool connected_ = false;
    int last_error_ = 0;
};

size_t append_body(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

struct Curl {
    CURL* h = curl_easy_init();
    std::string body;
    ~Curl() { curl_easy_cleanup(h); }
    CURLcode get(const std::string& url, const std::string& ca_file) {
        body.clear();
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_CAINFO, ca_file.c_str());
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
        return curl_easy_perform(h);
    }
    long info_long(CURLINFO what) {
        long v = -1;
        curl_easy_getinfo(h, what, &v);
        return v;
    }
};

// ---- what clients see ----

TEST(Tls, CurlGetsAnAnswerVerifyingTheCertificate) {
    TlsServer s;
    Curl c;
    ASSERT_EQ(c.get(s.url("/hello"), s.cert()), CURLE_OK);
    EXPECT_EQ(c.info_long(CURLINFO_RESPONSE_CODE), 200);
    EXPECT_EQ(c.body, "hello over tls");
}

TEST(Tls, ACertificateTheClientDoesNotTrustFailsVerification) {
    // The oracle that verification is real: another self-signed certificate as the CA.
    TlsServer s;
    TempDir other;
    PKey key = ec_key();
    write_cert(other / "ca.pem", key.get(), "someone else", 7);
    Curl c;
    EXPECT_EQ(c.get(s.url("/hello"), (other / "ca.pem").string()), CURLE_PEER_FAILED_VERIFICATION);
}

TEST(Tls, KeepAliveReusesOneConnection) {
    TlsServer s;
    Curl c;
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(c.get(s.url("/hello"), s.cert()), CURLE_OK);
        EXPECT_EQ(c.body, "hello over tls");
        // New connections made by this transfer: one for the first, none after.
        EXPECT_EQ(c.info_long(CURLINFO_NUM_CONNECTS), i == 0 ? 1 : 0) << "request " << i;
    }
    EXPECT_EQ(s.server().open_connections(), 1u);
}

TEST(Tls, NegotiatesHttp11AndTls12OrLater) {
    TlsServer s;
    TlsClient c(s.port(), s.cert());
    ASSERT_TRUE(c.connected());
    EXPECT_EQ(c.alpn(), "http/1.1");  // the client offered h2 first
    EXPECT_GE(SSL_version(c.ssl()), TLS1_2_VERSION);
}

TEST(Tls, RefusesTls11AndAcceptsTls12) {
    TlsServer s;
    TlsClient old(s.port(), s.cert(), TLS1_1_VERSION);
    EXPECT_FALSE(old.connected());
    TlsClient tls12(s.port(), s.cert(), TLS1_2_VERSION);
    EXPECT_TRUE(tls12.connected());
    EXPECT_EQ(SSL_version(tls12.ssl()), TLS1_2_VERSION);
}

TEST(Tls, AStreamArrivesInPieces) {
    TlsServer s;
    TlsClient c(s.port(), s.cert());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    std::string got;
    // The handler sends part 2 only after this read: part 1 must come on its own.
    ASSERT_TRUE(c.read_until("part 1", got));
    EXPECT_EQ(got.find("part 2"), std::string::npos);
    EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos);
    s.release_stream();
    ASSERT_TRUE(c.read_until("0\r\n\r\n", got));
    EXPECT_NE(got.find("part 2"), std::string::npos);
    EXPECT_TRUE(s.stream_waited());
    // The connection stays usable after the stream.
    got.clear();
    ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    EXPECT_TRUE(c.read_until("hello over tls", got));
}

TEST(Tls, AClientHangingUpMidStreamIsNoticed) {
    // What cancels a generation when its client leaves.
    TlsServer s;
    {
        TlsClient c(s.port(), s.cert());
        ASSERT_TRUE(c.connected());
        ASSERT_TRUE(c.send("GET /until-gone HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        std::string got;
        ASSERT_TRUE(c.read_until("started", got));
    }  // closed without a TLS goodbye, as a killed client would
    const auto t0 = Clock::now();
    while (!s.gone_seen() && seconds_since(t0) < 5) std::this_thread::sleep_for(milliseconds(10));
    EXPECT_TRUE(s.gone_seen());
}

TEST(Tls, ConnectionCloseEndsWithCloseNotify) {
    TlsServer s;
    TlsClient c(s.port(), s.cert());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
    std::string got;
    EXPECT_FALSE(c.read_until("never sent", got));
    EXPECT_NE(got.find("hello over tls"), std::string::npos);
    // A clean TLS end, not a cut connection (which OpenSSL reports as SSL_ERROR_SSL).
    EXPECT_EQ(c.last_error(), SSL_ERROR_ZERO_RETURN);
}

TEST(Tls, PlainHttpToTheTlsPortGetsA400SayingHttps) {
    TlsServer s;
    const int fd = connect_tcp(s.port());
    ASSERT_GE(fd, 0);
    const std::string request = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    const auto t0 = Clock::now();
    const std::string reply = read_raw_until_close(fd);
    close(fd);
    EXPECT_EQ(reply.rfind("HTTP/1.1 400 ", 0), 0u) << reply;
    EXPECT_NE(reply.find("https://"), std::string::npos) << reply;
    EXPECT_EQ(reply.find("hello over tls"), std::string::npos);
    EXPECT_LT(seconds_since(t0), 2.0);  // closed, not left hanging
}

// ---- deadlines and caps, as for plain HTTP ----

TEST(Tls, AClientThatNeverHandshakesIsCutOffAtTheHeaderDeadline) {
    TlsServer s;  // header deadline 0.6 s
    const auto t0 = Clock::now();
    const int silent = connect_tcp(s.port());
    const int partial = connect_tcp(s.port());
    ASSERT_GE(silent, 0);
    ASSERT_GE(partial, 0);
    // The first bytes of a ClientHello record, then nothing more.
    const char hello_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
    ASSERT_EQ(::send(partial, hello_start, sizeof hello_start, MSG_NOSIGNAL), 6);
    EXPECT_EQ(read_raw_until_close(silent), "");
    EXPECT_EQ(read_raw_until_close(partial), "");
    const double waited = seconds_since(t0);
    EXPECT_GE(waited, 0.5);
    EXPECT_LT(waited, 5.0);  // far below the 10 s receive timeout of the client
    close(silent);
    close(partial);
}

TEST(Tls, TheHeaderDeadlineCoversTheHandshakeAndTheHead) {
    TlsServer s;
    const auto t0 = Clock::now();
    TlsClient c(s.port(), s.cert());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: loc"));  // and never the rest
    std::string got;
    EXPECT_FALSE(c.read_until("HTTP/1.1", got));
    EXPECT_EQ(got, "");
    EXPECT_LT(seconds_since(t0), 5.0);
}

TEST(Tls, AStalledBodyIsDropped) {
    TlsServer s;
    TlsClient c(s.port(), s.cert());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n"
                       "only ten.."));
    const auto t0 = Clock::now();
    std::string got;
    EXPECT_FALSE(c.read_until("HTTP/1.1", got));
    EXPECT_GE(seconds_since(t0), 0.5);
    EXPECT_LT(seconds_since(t0), 5.0);
}

TEST(Tls, AnIdleKeepAliveConnectionIsClosed) {
    TlsServer s;  // idle deadline 0.8 s
    TlsClient c(s.port(), s.cert());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    std::string got;
    ASSERT_TRUE(c.read_until("hello over tls", got));
    const auto t0 = Clock::now();
    EXPECT_FALSE(c.read_until("never sent", got));
    EXPECT_GE(seconds_since(t0), 0.7);
    EXPECT_LT(seconds_since(t0), 5.0);
}

TEST(Tls, AClientThatReadsNothingOfItsAnswerIsDropped) {
    TlsServer s;  // write deadline 0.6 s
    TlsClient c(s.port(), s.cert());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("GET /flood HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    // Read nothing: the handler's writes must fail once the socket buffers are full.
    const auto t0 = Clock::now();
    while (s.flood_result() == 0 && seconds_since(t0) < 20)
        std::this_thread::sleep_for(milliseconds(20));
    EXPECT_EQ(s.flood_result(), 1);
    EXPECT_LT(seconds_since(t0), 10.0);
}

TEST(Tls, AtTheConnectionCapHalfOpenHandshakesAreEvictedFirst) {
    ServerLimits limits = TlsServer::fast_limits();
    limits.header_timeout = milliseconds(30'000);  // only eviction may close them
    limits.max_connections_per_client = 2;
    TlsServer s(limits);
    const int first = connect_tcp(s.port());
    const int second = connect_tcp(s.port());
    ASSERT_GE(first, 0);
    ASSERT_GE(second, 0);
    for (int i = 0; i < 1000 && s.server().open_connections() < 2; ++i)
        std::this_thread::sleep_for(milliseconds(5));
    Curl c;
    ASSERT_EQ(c.get(s.url("/hello"), s.cert()), CURLE_OK);
    EXPECT_EQ(c.body, "hello over tls");
    // The oldest half-open connection made room.
    const auto t0 = Clock::now();
    EXPECT_EQ(read_raw_until_close(first), "");
    EXPECT_LT(seconds_since(t0), 5.0);
    close(first);
    close(second);
}

// ---- certificates ----

std::string use_tls_error(const TlsFiles& files) {
    Server server(ServerLimits{}, [](const Request&, Responder&) {});
    try {
        server.use_tls(files);
    } catch (const Error& e) {
        EXPECT_FALSE(server.tls());
        return e.what();
    }
    return "";
}

TEST(TlsCertificates, UnusableFilesAreRefusedWithTheReason) {
    TempDir dir;
    PKey key = ec_key();
    PKey other = ec_key();
    write_cert(dir / "cert.pem", key.get(), "hearth test", 1);
    write_key(dir / "key.pem", key.get());
    write_key(dir / "other.pem", other.get());
    write_key(dir / "locked.pem", key.get(), "a passphrase");
    {
        FILE* f = fopen((dir / "garbage.pem").c_str(), "w");
        fputs("not a certificate\n", f);
        fclose(f);
    }
    const std::string cert = (dir / "cert.pem").string();

    std::string e = use_tls_error({(dir / "missing.pem").string(), (dir / "key.pem").string()});
    EXPECT_NE(e.find("cannot read the TLS certificate"), std::string::npos) << e;
    EXPECT_NE(e.find("No such file"), std::string::npos) << e;

    e = use_tls_error({(dir / "garbage.pem").string(), (dir / "key.pem").string()});
    EXPECT_NE(e.find("cannot use the TLS certificate"), std::string::npos) << e;
    EXPECT_NE(e.find("BEGIN CERTIFICATE"), std::string::npos) << e;

    e = use_tls_error({cert, (dir / "other.pem").string()});
    EXPECT_NE(e.find("does not belong to the certificate"), std::string::npos) << e;

    e = use_tls_error({cert, (dir / "locked.pem").string()});
    EXPECT_NE(e.find("passphrase"), std::string::npos) << e;

    e = use_tls_error({cert, ""});
    EXPECT_NE(e.find("--tls-key"), std::string::npos) << e;

    EXPECT_EQ(use_tls_error({cert, (dir / "key.pem").string()}), "");
}

TEST(TlsCertificates, AWeakKeyIsRefusedAtSecurityLevel2) {
    TempDir dir;
    PKey weak = rsa_key(1024);
    write_cert(dir / "cert.pem", weak.get(), "weak", 1);
    write_key(dir / "key.pem", weak.get());
    const std::string e =
        use_tls_error({(dir / "cert.pem").string(), (dir / "key.pem").string()});
    EXPECT_NE(e.find("2048 bits"), std::string::npos) << e;
}

TEST(TlsCertificates, ReloadingServesTheNewCertificateToNewConnections) {
    TlsServer s;
    TlsClient before(s.port(), s.cert());
    ASSERT_TRUE(before.connected());
    // A new key and certificate in new files; the old CA file no longer verifies them.
    PKey key = ec_key();
    write_cert(s.dir / "new-cert.pem", key.get(), "hearth renewed", 2);
    write_key(s.dir / "new-key.pem", key.get());
    s.server().use_tls({(s.dir / "new-cert.pem").string(), (s.dir / "new-key.pem").string()});
    TlsClient with_old_ca(s.port(), s.cert());
    EXPECT_FALSE(with_old_ca.connected());
    TlsClient with_new_ca(s.port(), (s.dir / "new-cert.pem").string());
    ASSERT_TRUE(with_new_ca.connected());
    // The connection made before keeps working.
    std::string got;
    ASSERT_TRUE(before.send("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    EXPECT_TRUE(before.read_until("hello over tls", got));
}

}  // namespace
}  // namespace hearth::http
