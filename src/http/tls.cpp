#include "http/tls.h"

#include <boost/asio/ssl/context.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/log.h"

namespace hearth::http {

namespace {

// The first error of OpenSSL's queue (the cause; later ones only say which call failed), its
// code and reason as text. The queue is emptied.
struct OpensslError {
    unsigned long code = 0;
    std::string reason;
};

OpensslError first_openssl_error() {
    OpensslError e;
    e.code = ERR_get_error();
    ERR_clear_error();
    const char* reason = e.code ? ERR_reason_error_string(e.code) : nullptr;
    e.reason = reason ? reason : "unknown OpenSSL error";
    return e;
}

// An encrypted key would make OpenSSL ask for its passphrase on the terminal: refuse instead.
int no_passphrase(char*, int, int, void*) {
    return 0;
}

// ALPN: hearth speaks HTTP/1.1 only. A client that offers other protocols only gets no ALPN
// answer (it may still speak HTTP/1.1) rather than a failed handshake.
int select_http11(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                  unsigned int in_len, void*) {
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, out_len, ours, sizeof ours - 1, in, in_len) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

// Fails with the OS's reason when `path` cannot be opened for reading (OpenSSL's own message
// for a missing file is "system lib").
void require_readable(const std::string& path, const char* what, const char* option) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        throw Error(std::string("cannot read the TLS ") + what + " " + path + " (" + option + "): " +
                    std::strerror(errno));
    }
    std::fclose(f);
}

std::string asn1_time_text(const ASN1_TIME* t) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio) return "?";
    ASN1_TIME_print(bio, t);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<size_t>(n > 0 ? n : 0));
    BIO_free(bio);
    return text;
}

// A certificate outside its validity period still loads (the clock may be wrong, or a new one
// is on its way), but clients will refuse it: say so at startup.
void warn_if_not_valid_now(SSL_CTX* ctx, const std::string& cert_file) {
    X509* cert = SSL_CTX_get0_certificate(ctx);
    if (!cert) return;
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
        log::warn("the TLS certificate {} expired on {}: clients will refuse it; renew it and "
                  "send hearth SIGHUP (or restart)",
                  cert_file, asn1_time_text(X509_get0_notAfter(cert)));
    } else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        log::warn("the TLS certificate {} is not valid before {}: clients will refuse it until then",
                  cert_file, asn1_time_text(X509_get0_notBefore(cert)));
    }
}

}  // namespace

std::shared_ptr<boost::asio::ssl::context> make_tls_context(const std::string& cert_file,
                                                            const std::string& key_file) {
    if (cert_file.empty() || key_file.empty())
        throw Error("TLS needs both a certificate (--tls-cert) and its key (--tls-key)");
    require_readable(cert_file, "certificate", "--tls-cert");
    require_readable(key_file, "key", "--tls-key");

    auto context = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
    SSL_CTX* ctx = context->native_handle();
    ERR_clear_error();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_security_level(ctx, 2);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    // An idle keep-alive connection need not hold its record buffers.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    SSL_CTX_set_alpn_select_cb(ctx, select_http11, nullptr);

    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
        const OpensslError e = first_openssl_error();
        std::string hint =
            "it must hold the server's certificate in PEM (-----BEGIN CERTIFICATE-----), then "
            "any intermediate certificates";
        const int reason = ERR_GET_REASON(e.code);
        if (reason == SSL_R_EE_KEY_TOO_SMALL || reason == SSL_R_CA_KEY_TOO_SMALL ||
            reason == SSL_R_CA_MD_TOO_WEAK)
            hint = "security level 2 needs RSA keys of 2048 bits or more, EC keys of 224 bits "
                   "or more and SHA-256 (or stronger) signatures";
        throw Error("cannot use the TLS certificate " + cert_file + " (--tls-cert): " +
                    e.reason + "; " + hint);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        const OpensslError e = first_openssl_error();
        const int reason = ERR_GET_REASON(e.code);
        if (reason == X509_R_KEY_VALUES_MISMATCH || reason == X509_R_KEY_TYPE_MISMATCH) {
            throw Error("the TLS key " + key_file + " (--tls-key) does not belong to the "
                        "certificate " + cert_file + " (--tls-cert): " + e.reason +
                        "; give the private key the certificate was made for");
        }
        throw Error("cannot use the TLS key " + key_file + " (--tls-key): " + e.reason +
                    "; it must be the certificate's private key in PEM, without a passphrase "
                    "(`openssl pkey -in KEY -out KEY.plain` removes one)");
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        const OpensslError e = first_openssl_error();
        throw Error("the TLS key " + key_file + " (--tls-key) does not belong to the "
                    "certificate " + cert_file + " (--tls-cert): " + e.reason +
                    "; give the private key the certificate was made for");
    }
    warn_if_not_valid_now(ctx, cert_file);
    return context;
}

}  // namespace hearth::http
