#pragma once
// The server side of TLS: an OpenSSL context made from a certificate chain and key in PEM
// files, with the policy every HTTPS connection gets (TLS 1.2 or later, OpenSSL's default
// ciphers at security level 2, no renegotiation, ALPN "http/1.1"). Only http/server.cpp uses
// it; it keeps Asio's SSL headers out of http/server.h.
#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "http/server.h"

namespace hearth::http {

// Reads and checks the files. Throws hearth::Error naming the file, what is wrong with it and
// what to do (unreadable, not PEM, encrypted key, key of another certificate, key too weak).
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const TlsFiles& files);

// The first byte of a TLS connection is a handshake record's type (22); a plain-HTTP request
// starts with a letter of its method.
constexpr unsigned char kTlsHandshakeRecord = 0x16;

}  // namespace hearth::http
