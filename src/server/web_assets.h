#pragma once
// The web UI's files, embedded in the binary at build time: web/ bundled by esbuild
// (web/build.mjs), then written out as byte arrays by scripts/embed-web.py into a generated
// web_assets.cpp in the build directory.
#include <cstddef>

namespace hearth::server {

struct WebAsset {
    const char* path;          // "/index.html", "/assets/app.js"
    const char* content_type;
    const char* data;
    size_t size;
    const char* gzip;  // the same bytes gzip-compressed; gzip_size 0 when not smaller
    size_t gzip_size;
    const char* etag;           // strong, quoted: a hash of the bytes
};

// False when the build had no npm packages to bundle with (web/node_modules missing): then
// there are no assets and / says how to build the UI.
extern const bool kWebUiBuilt;
extern const size_t kWebAssetCount;
extern const WebAsset kWebAssets[];

}  // namespace hearth::server
