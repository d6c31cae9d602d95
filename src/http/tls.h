#pragma once
// The server side of TLS: an OpenSSL context made from a certificate chain and key in PEM
// files, with the policy every HTTPS connection gets (TLS 1.2 or later, OpenSSL's default
// ciphers at security level 2, no renegotiation, ALPN "http/1.1"). http/server.cpp uses it, and
// `hearth doctor` to check the files; Asio's SSL headers stay out of http/server.h.
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace hearth::http {

// Reads and checks the files (PEM: the certificate chain, and its key; see TlsFiles in
// http/server.h). Throws hearth::Error naming the file, what is wrong with it and
// what to do (unreadable, not PEM, encrypted key, key of another certificate, key too weak).
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const std::string& cert_file,
                                                            const std::string& key_file);

// The first byte of a TLS connection is a handshake record's type (22); a plain-HTTP request
// starts with a letter of its method.
constexpr unsigned char kTlsHandshakeRecord = 0x16;

// What a plain-HTTP request to a TLS port gets with its 400.
inline constexpr const char* kHttpsOnlyMessage = "this port speaks HTTPS: use an https:// URL";

}  // namespace hearth::http
