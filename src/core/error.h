#pragma once
// One exception type for every failure a user can cause (bad file, bad input, bad config).
// The message is the whole story: what went wrong and, where we know, what to do next.
#include <stdexcept>
#include <string>

namespace hearth {

class Error : public std::runtime_error {
  public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace hearth
