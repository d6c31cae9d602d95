#pragma once
// The terminal side of `hearth run`: Ctrl-C as a flag instead of the end of the process, and
// line input with history and arrow keys (libedit, BSD-licensed).
#include <atomic>
#include <string>

namespace hearth::cli {

// While alive, SIGINT (Ctrl-C) sets a flag (and hub::cancel_flag(), which stops HTTP transfers)
// instead of ending the process.
class InterruptWatch {
  public:
    InterruptWatch();
    ~InterruptWatch();
    InterruptWatch(const InterruptWatch&) = delete;
    InterruptWatch& operator=(const InterruptWatch&) = delete;

    bool raised() const;
    void clear();
};

// Lines typed at a terminal, with history (Up/Down) kept across runs in `history_file`.
class LineEditor {
  public:
    explicit LineEditor(std::string history_file);
    ~LineEditor();
    LineEditor(const LineEditor&) = delete;
    LineEditor& operator=(const LineEditor&) = delete;

    enum class Status { Line, Interrupted, End };
    // Line: `line` holds what was typed; Interrupted: Ctrl-C; End: Ctrl-D on an empty line.
    Status read(const std::string& prompt, std::string& line, const InterruptWatch& interrupts);
    void remember(const std::string& entry);

  private:
    std::string history_file_;
};

bool stdin_is_terminal();
bool stdout_is_terminal();

}  // namespace hearth::cli
