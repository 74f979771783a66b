// SPDX-License-Identifier: Apache-2.0
#include "report/html/html_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>

namespace sanwatch::html {

std::string escape(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&#39;";
        break;
      default:
        // Control characters have no business in a report and some are
        // invalid in HTML; tab and newline are kept.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') break;
        o += c;
    }
  }
  return o;
}

const Json* field(const Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string text(const Json& j, std::string_view key, std::string_view fallback) {
  const Json* v = field(j, key);
  if (v == nullptr) return std::string(fallback);
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number() || v->is_boolean())
    return v->dump(-1, ' ', false, Json::error_handler_t::replace);
  return std::string(fallback);
}

std::optional<double> number(const Json& j, std::string_view key) {
  const Json* v = field(j, key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::optional<std::int64_t> integer(const Json& j, std::string_view key) {
  const Json* v = field(j, key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!std::isfinite(d) || std::fabs(d) > 9e18) return std::nullopt;
    return static_cast<std::int64_t>(std::llround(d));
  }
  if (v->is_number_unsigned() && v->get<std::uint64_t>() > 9'000'000'000'000'000'000ULL)
    return std::nullopt;
  return v->get<std::int64_t>();
}

std::optional<bool> boolean(const Json& j, std::string_view key) {
  const Json* v = field(j, key);
  if (v == nullptr || !v->is_boolean()) return std::nullopt;
  return v->get<bool>();
}

std::vector<const Json*> elements(const Json& j, std::string_view key) {
  std::vector<const Json*> out;
  const Json* v = field(j, key);
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& e : *v) out.push_back(&e);
  return out;
}

std::vector<std::string> strings(const Json& j, std::string_view key) {
  std::vector<std::string> out;
  for (const Json* e : elements(j, key)) {
    if (e->is_string())
      out.push_back(e->get<std::string>());
    else if (e->is_number())
      out.push_back(e->dump());
  }
  return out;
}

std::string format_duration(double ms) {
  if (!std::isfinite(ms) || ms < 0) return "?";
  if (ms < 999.5) return fmt::format("{:.0f} ms", ms);
  if (ms < 59'950) {
    const double s = std::round(ms / 100.0) / 10.0;  // 2592 ms -> "2.6 s"
    return s == std::floor(s) ? fmt::format("{:.0f} s", s) : fmt::format("{:.1f} s", s);
  }
  const auto total = static_cast<std::int64_t>(std::llround(ms / 1000.0));
  const std::int64_t d = total / 86400, h = total / 3600 % 24, m = total / 60 % 60, s = total % 60;
  // "14 h 02 min 17 s"; trailing zero units left out ("28 d 12 h", "30 d").
  std::string out = d > 0 ? fmt::format("{} d", d) : "";
  if (h + m + s > 0 && (d > 0 || h > 0)) out += fmt::format("{}{} h", out.empty() ? "" : " ", h);
  if (m + s > 0) out += fmt::format("{}{:0{}} min", out.empty() ? "" : " ", m, out.empty() ? 1 : 2);
  if (s > 0) out += fmt::format(" {:02} s", s);
  return out;
}

std::string group_thousands(std::int64_t v) {
  const std::uint64_t mag =
      v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  const std::string digits = std::to_string(mag);
  std::string out;
  if (v < 0) out.push_back('-');
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string format_percent(double percent) {
  if (!std::isfinite(percent)) return "?";
  if (percent >= 100.0) return "100";
  // Two digits past the leading nines: 99.99793 rather than 99.99 or 100.
  const double nines = -std::log10(std::max(1e-12, 1.0 - percent / 100.0));
  const int decimals = std::clamp(static_cast<int>(nines) + 1, 2, 10);
  std::string s = fmt::format("{:.{}f}", percent, decimals);
  if (s.rfind("100", 0) == 0) s = fmt::format("{:.10f}", percent);
  return s;
}

std::string format_nines(double nines) {
  if (!std::isfinite(nines)) return "\u221e";
  return fmt::format("{:.2f}", nines);
}

std::optional<int> utc_offset_minutes(std::string_view iso) {
  if (iso.empty()) return std::nullopt;
  if (iso.back() == 'Z' || iso.back() == 'z') return 0;
  if (iso.size() < 6) return std::nullopt;
  const std::string_view tail = iso.substr(iso.size() - 6);  // "+01:00"
  if ((tail[0] != '+' && tail[0] != '-') || tail[3] != ':') return std::nullopt;
  for (int i : {1, 2, 4, 5})
    if (tail[i] < '0' || tail[i] > '9') return std::nullopt;
  const int minutes =
      ((tail[1] - '0') * 10 + (tail[2] - '0')) * 60 + (tail[4] - '0') * 10 + (tail[5] - '0');
  return tail[0] == '-' ? -minutes : minutes;
}

namespace {

struct Civil {
  int year;
  unsigned month, day;
  std::int64_t second_of_day;
};

Civil civil(std::int64_t ms, int offset_min) {
  using namespace std::chrono;
  const std::int64_t local_s =
      static_cast<std::int64_t>(std::floor((ms + offset_min * 60'000.0) / 1000.0));
  const sys_days day = floor<days>(sys_seconds(seconds(local_s)));
  const year_month_day ymd(day);
  const std::int64_t sod = local_s - duration_cast<seconds>(day.time_since_epoch()).count();
  return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day()), sod};
}

std::string offset_text(int offset_min) {
  const int a = std::abs(offset_min);
  return fmt::format("{}{:02}:{:02}", offset_min < 0 ? '-' : '+', a / 60, a % 60);
}

}  // namespace

std::string format_instant(std::int64_t ms, int offset_min) {
  const Civil c = civil(ms, offset_min);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}", c.year, c.month, c.day,
                     c.second_of_day / 3600, c.second_of_day / 60 % 60, c.second_of_day % 60,
                     offset_text(offset_min));
}

std::string format_day(std::int64_t ms, int offset_min) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const Civil c = civil(ms, offset_min);
  return fmt::format("{} {:02}", kMonths[(c.month + 11) % 12], c.day);
}

std::string readable_iso(std::string_view iso) {
  const auto t = iso.find('T');
  if (t == std::string_view::npos) return std::string(iso);
  std::string out(iso.substr(0, t));
  out.push_back(' ');
  std::string_view rest = iso.substr(t + 1);
  if (!rest.empty() && (rest.back() == 'Z' || rest.back() == 'z')) {
    rest.remove_suffix(1);
    return out.append(rest).append(" UTC");
  }
  if (utc_offset_minutes(rest) && rest.size() > 6) {
    // "09:36:00.123+01:00" -> "09:36:00.123 +01:00"
    out.append(rest.substr(0, rest.size() - 6)).push_back(' ');
    rest = rest.substr(rest.size() - 6);
  }
  return out.append(rest);
}

Period period_of(const Json& report) {
  Period p;
  const Json* per = field(report, "period");
  if (per != nullptr) {
    p.from_ms = integer(*per, "from_ms").value_or(0);
    p.to_ms = integer(*per, "to_ms").value_or(0);
    p.offset_min = utc_offset_minutes(text(*per, "from")).value_or(0);
  }
  if (p.valid()) return p;
  // No usable period: span whatever the timelines cover.
  bool any = false;
  for (const Json* t : elements(report, "targets"))
    for (const Json* s : elements(*t, "timeline")) {
      const auto a = integer(*s, "start_ms"), b = integer(*s, "end_ms");
      if (!a || !b) continue;
      p.from_ms = any ? std::min(p.from_ms, *a) : *a;
      p.to_ms = any ? std::max(p.to_ms, *b) : *b;
      any = true;
    }
  return p;
}

}  // namespace sanwatch::html
