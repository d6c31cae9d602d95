#pragma once
// The web UI's routes: GET / (the chat page), GET /dashboard, GET /models and
// GET /assets/<file>, from the files embedded at build time (web_assets.h). Pages load without
// an API key; only their API calls need one.
#include <string>

#include "server/exchange.h"

namespace hearth::server {

// True for the paths the UI serves (the gate lets them through without a key).
bool is_web_ui_path(const std::string& path);

// Answers GET/HEAD of a UI path: the file with its type, a strict Content-Security-Policy,
// an ETag (304 on If-None-Match) and gzip when the client accepts it; 404 for unknown files.
void serve_web_ui(Exchange& ex);

}  // namespace hearth::server
