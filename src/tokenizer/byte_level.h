#pragma once
// GPT-2's byte-to-unicode map: byte-level BPE vocabularies spell every byte as a printable
// character (printable ASCII and Latin-1 map to themselves, the other 68 bytes to U+0100 and up),
// so the tokens of such a vocabulary are UTF-8 strings of those characters.
#include <array>
#include <string>
#include <string_view>

namespace hearth::tokenizer::byte_level {

// The UTF-8 spelling of byte `b` in the vocabulary.
const std::string& encode_byte(unsigned char b);

// Appends the byte-level spelling of `bytes`.
void encode(std::string_view bytes, std::string& out);

// The raw bytes a byte-level token stands for. Characters outside the map (vocabularies with
// hand-added tokens) are copied through unchanged.
std::string decode(std::string_view token);

}  // namespace hearth::tokenizer::byte_level
