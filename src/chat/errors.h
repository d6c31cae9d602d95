#pragma once
// Failures inside the Jinja interpreter. They are hearth::Errors; the interpreter adds the
// template position ("line 3, column 14") before they leave ChatTemplate.
#include <string>

#include "core/error.h"

namespace hearth::chat {

// Position in the template source, 1-based.
struct SourcePos {
    int line = 1;
    int column = 1;
};

// A failure that does not yet know where in the template it happened.
class JinjaFailure : public hearth::Error {
  public:
    explicit JinjaFailure(const std::string& message) : hearth::Error(message) {}
};

// A failure with its position attached: the message already says "line L, column C".
class JinjaError : public hearth::Error {
  public:
    JinjaError(const std::string& what, SourcePos pos, const std::string& message)
        : hearth::Error("chat template " + what + " at line " + std::to_string(pos.line) +
                        ", column " + std::to_string(pos.column) + ": " + message),
          pos_(pos),
          detail_(message) {}
    SourcePos pos() const { return pos_; }
    const std::string& detail() const { return detail_; }

  private:
    SourcePos pos_;
    std::string detail_;
};

}  // namespace hearth::chat
