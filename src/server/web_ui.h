#pragma once
// The web UI's routes: GET / (the chat page), GET /dashboard, GET /models and
// GET /assets/<file>, from the files embedded at build time (web_assets.h); GET /auth/config
// (how the page signs in) and GET /auth/callback (the page again, where an OpenID provider sends
// the browser back after a login). Pages load without an API key; only their API calls need one.
#include <string>

#include "server/exchange.h"

namespace hearth::server {

// How the page signs in when the server needs a credential: an API key, or, with a client id,
// a login at the OpenID provider (authorization code + PKCE, as a public client: no secret).
struct WebUiSignIn {
    std::string issuer;     // --oidc-issuer ("" : none)
    std::string client_id;  // --oidc-client-id, the UI's public client ("": API keys only)
    std::string scope;      // --oidc-client-scope, what the UI asks the provider for
};

// True for the paths the UI serves (the gate lets them through without a key).
bool is_web_ui_path(const std::string& path);

class WebUi {
  public:
    // Throws hearth::Error when a client id comes without an issuer, or when the issuer's
    // origin is not a plain scheme://host[:port] (it goes into the Content-Security-Policy).
    explicit WebUi(WebUiSignIn sign_in = {});

    // Answers GET/HEAD of a page or asset: the file with its type, a strict
    // Content-Security-Policy, an ETag (304 on If-None-Match) and gzip when the client accepts
    // it; 404 for unknown files. /auth/callback is the chat page.
    void serve(Exchange& ex) const;
    // GET /auth/config: {"oidc": null} or {"oidc": {"issuer", "client_id", "scope"}}.
    void sign_in_config(Exchange& ex) const;

  private:
    void add_page_headers(http::Response& res) const;

    WebUiSignIn sign_in_;
    // Every page's Content-Security-Policy: connect-src also names the issuer's origin when
    // the page logs in there (it fetches the discovery document and the token endpoint).
    std::string csp_;
};

}  // namespace hearth::server
