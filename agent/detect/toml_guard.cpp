// SPDX-License-Identifier: Apache-2.0
#include "detect/toml_guard.h"

#include <fmt/format.h>

namespace sanwatch {

namespace {

// A small lexer that knows just enough TOML to tell strings and comments
// (where any UTF-8 is allowed) from everything else (ASCII only).
class Guard {
 public:
  explicit Guard(std::string_view t) : t_(t) {}

  std::optional<std::string> run() {
    while (i_ < t_.size()) {
      const char c = t_[i_];
      if (c == '#') {
        skip_to_eol();
      } else if (c == '"' || c == '\'') {
        skip_string(c);
      } else if (c == '[' && line_start_ && depth_ == 0) {
        if (auto e = table_header()) return e;
      } else {
        if (static_cast<unsigned char>(c) >= 0x80)
          return here("non-ASCII character outside a string or comment");
        note_bracket(c);
        advance();
      }
    }
    return std::nullopt;
  }

 private:
  void advance() {
    const char c = t_[i_++];
    if (c == '\n') {
      ++line_;
      col_ = 1;
      line_start_ = true;
      return;
    }
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++col_;  // not a continuation byte
    if (c != ' ' && c != '\t' && c != '\r') line_start_ = false;
  }

  std::string here(std::string_view what) const {
    return fmt::format("{}:{}: {}", line_, col_, what);
  }

  void note_bracket(char c) {
    if (c == '[' || c == '{') ++depth_;
    if ((c == ']' || c == '}') && depth_ > 0) --depth_;
  }

  void skip_to_eol() {
    while (i_ < t_.size() && t_[i_] != '\n') advance();
  }

  bool at(std::string_view s) const { return t_.substr(i_, s.size()) == s; }

  // Basic strings honour backslash escapes, literal strings do not; a
  // single-line string ends at the line's end (toml++ reports the error).
  void skip_string(char q) {
    const std::string triple(3, q);
    const bool multi = at(triple);
    for (int k = 0; k < (multi ? 3 : 1); ++k) advance();
    while (i_ < t_.size()) {
      if (multi && at(triple)) {
        for (int k = 0; k < 3; ++k) advance();
        while (i_ < t_.size() && t_[i_] == q) advance();  // up to two quotes may close it
        return;
      }
      const char c = t_[i_];
      if (!multi && (c == q || c == '\n')) {
        if (c == q) advance();
        return;
      }
      if (c == '\\' && q == '"' && i_ + 1 < t_.size()) advance();
      advance();
    }
  }

  // "[name]" or "[[name]]" at the start of a line: the name must begin
  // with a bare-key character or a quote.
  std::optional<std::string> table_header() {
    advance();
    if (i_ < t_.size() && t_[i_] == '[') advance();
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t')) advance();
    const char c = i_ < t_.size() ? t_[i_] : '\n';
    const bool key = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '-' || c == '"' || c == '\'';
    if (!key) return here("expected a table name after '['");
    // The rest of the header: keys (quoted ones skipped as strings) up to ']'.
    while (i_ < t_.size() && t_[i_] != ']' && t_[i_] != '\n') {
      const char k = t_[i_];
      if (k == '"' || k == '\'') {
        skip_string(k);
        continue;
      }
      if (static_cast<unsigned char>(k) >= 0x80)
        return here("non-ASCII character outside a string or comment");
      advance();
    }
    return std::nullopt;
  }

  std::string_view t_;
  std::size_t i_ = 0;
  std::size_t line_ = 1, col_ = 1;
  bool line_start_ = true;
  int depth_ = 0;  // open [ and { of values (arrays, inline tables)
};

}  // namespace

std::optional<std::string> toml_guard(std::string_view text) { return Guard(text).run(); }

}  // namespace sanwatch
