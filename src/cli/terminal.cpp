#include "cli/terminal.h"

#include <editline/readline.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <clocale>
#include <cstdio>
#include <cstdlib>

#include "hub/http.h"

namespace hearth::cli {

namespace {

std::atomic<bool> g_interrupted{false};
struct sigaction g_previous {};

void on_interrupt(int) {
    g_interrupted = true;
    hub::cancel_flag() = true;
}

// One character typed, as a Unicode code point (UTF-8 decoded here: libedit takes what this
// returns as a wide character); -1 at the end of input or on Ctrl-C. libedit's own reader
// retries a read that a signal interrupted, so Ctrl-C would only be seen at the next key.
int read_key(FILE* in) {
    auto byte = [&]() -> int {
        for (;;) {
            unsigned char c = 0;
            const ssize_t n = ::read(fileno(in), &c, 1);
            if (n == 1) return c;
            if (n < 0 && errno == EINTR && !g_interrupted) continue;
            return -1;
        }
    };
    const int first = byte();
    if (first < 0x80) return first;  // ASCII, or -1
    const int extra = first >= 0xF0 ? 3 : first >= 0xE0 ? 2 : first >= 0xC0 ? 1 : 0;
    int code = first & (0x3F >> extra);
    for (int i = 0; i < extra; ++i) {
        const int next = byte();
        if (next < 0) return -1;
        code = (code << 6) | (next & 0x3F);
    }
    return extra ? code : 0xFFFD;
}

}  // namespace

InterruptWatch::InterruptWatch() {
    g_interrupted = false;
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    // No SA_RESTART: a read waiting for the user's line returns, so Ctrl-C is seen at once.
    action.sa_flags = 0;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &g_previous);
}

InterruptWatch::~InterruptWatch() {
    sigaction(SIGINT, &g_previous, nullptr);
}

bool InterruptWatch::raised() const {
    return g_interrupted.load();
}

void InterruptWatch::clear() {
    g_interrupted = false;
    hub::cancel_flag() = false;
}

LineEditor::LineEditor(std::string history_file) : history_file_(std::move(history_file)) {
    // Wide characters follow the user's locale (UTF-8 input).
    std::setlocale(LC_CTYPE, "");
    // libedit's own signal handlers would re-raise SIGINT to the whole process group.
    rl_catch_signals = 0;
    rl_getc_function = read_key;
    using_history();
    stifle_history(1000);
    if (!history_file_.empty()) read_history(history_file_.c_str());
}

LineEditor::~LineEditor() {
    if (!history_file_.empty()) write_history(history_file_.c_str());
}

LineEditor::Status LineEditor::read(const std::string& prompt, std::string& line,
                                    const InterruptWatch& interrupts) {
    char* text = readline(prompt.c_str());
    if (interrupts.raised()) {
        std::free(text);
        return Status::Interrupted;
    }
    if (!text) return Status::End;
    line = text;
    std::free(text);
    return Status::Line;
}

void LineEditor::remember(const std::string& entry) {
    if (!entry.empty()) add_history(entry.c_str());
}

bool stdin_is_terminal() {
    return isatty(STDIN_FILENO) == 1;
}

bool stdout_is_terminal() {
    return isatty(STDOUT_FILENO) == 1;
}

}  // namespace hearth::cli
