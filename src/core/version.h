#pragma once
// hearth's version, from project(VERSION) in the top CMakeLists.txt: the one place to bump it
// (the .deb's version, `hearth --version`, the User-Agent and the OpenAI fingerprint follow).
namespace hearth {

inline constexpr const char* kVersion = HEARTH_VERSION;

}  // namespace hearth
