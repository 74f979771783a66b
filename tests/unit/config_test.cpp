// SPDX-License-Identifier: Apache-2.0
#include "detect/config.h"

#include <catch2/catch.hpp>

using namespace sanwatch;
using namespace std::chrono_literals;

namespace {

std::string error_of(const std::string& toml) {
  auto r = parse_config(toml, "t.toml");
  REQUIRE_FALSE(r.ok());
  return r.error().context;
}

BlockDevice dev(std::string name, std::string dm_name = "", std::string uuid = "") {
  BlockDevice d;
  d.name = std::move(name);
  d.dm_name = std::move(dm_name);
  d.dm_uuid = std::move(uuid);
  if (d.is_multipath()) d.wwid = d.dm_uuid.substr(6);
  d.size_bytes = 1 << 30;
  return d;
}

}  // namespace

TEST_CASE("the embedded default parses and equals the built-in defaults") {
  auto r = parse_config(embedded_default_config(), "default");
  REQUIRE(r.ok());
  const Config built_in;
  CHECK(r->thresholds.stall == built_in.thresholds.stall);
  CHECK(r->thresholds.slow_io == built_in.thresholds.slow_io);
  CHECK(r->thresholds.recovery == built_in.thresholds.recovery);
  CHECK(r->canary.period == built_in.canary.period);
  CHECK(r->canary.deadline == built_in.canary.deadline);
  CHECK(r->metrics.listen == built_in.metrics.listen);
  CHECK(r->canary_targets == CanaryTargets::kMultipath);
}

TEST_CASE("durations parse with units") {
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("2s") == 2s);
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("500us") == 500us);
  CHECK(parse_duration("1m") == 60s);
  CHECK_FALSE(parse_duration("2"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("2 s"));
  CHECK_FALSE(parse_duration("2sec"));
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(90s) == "90s");
  CHECK(format_duration(2h) == "2h");
}

TEST_CASE("every error names file, line and column") {
  SECTION("syntax") { CHECK(error_of("[thresholds\nstall = 1").rfind("t.toml:1:", 0) == 0); }
  SECTION("unknown top-level key") {
    CHECK(error_of("log_level = \"info\"\nbogus = 1\n") == "t.toml:2:1: unknown key 'bogus'");
  }
  SECTION("unknown nested key") {
    CHECK(error_of("[thresholds]\nstal = \"2s\"\n") == "t.toml:2:1: unknown key 'thresholds.stal'");
  }
  SECTION("wrong type") {
    CHECK(error_of("[thresholds]\nstall = 2\n") ==
          "t.toml:2:9: thresholds.stall must be a duration string like \"250ms\" or \"2s\"");
  }
  SECTION("bad duration") {
    CHECK(
        error_of("[canary]\nperiod = \"fast\"\n").rfind("t.toml:2:10: canary.period must be", 0) ==
        0);
  }
  SECTION("out of range") {
    CHECK(error_of("[canary]\nperiod = \"1ms\"\n") ==
          "t.toml:2:10: canary.period = \"1ms\" is out of range (10ms .. 1h)");
    CHECK(error_of("[thresholds]\nslow_share = 1.5\n") ==
          "t.toml:2:14: thresholds.slow_share = 1.5 is out of range (0 .. 1)");
  }
  SECTION("enum") {
    CHECK(error_of("log_level = \"loud\"\n") ==
          "t.toml:1:13: log_level = \"loud\" is not one of: debug, info, warn, error");
  }
  SECTION("contradictory") {
    CHECK(error_of("[thresholds]\nslow_io = \"3s\"\nstall = \"2s\"\n") ==
          "t.toml:3:9: thresholds.stall (2s) must be longer than thresholds.slow_io (3s)");
    CHECK(error_of("[canary]\ndeadline = \"5s\"\n") ==
          "t.toml:2:12: canary.deadline (5s) must be shorter than thresholds.stall (2s)");
  }
  SECTION("a canary deadline does not matter where no canary runs") {
    CHECK(sanwatch::parse_config("[canary]\ntargets = \"none\"\ndeadline = \"5s\"\n", "t.toml"));
    CHECK(sanwatch::parse_config("[canary]\nenabled = false\ndeadline = \"5s\"\n", "t.toml"));
    // ... but does once an override turns canaries back on.
    CHECK_THAT(error_of("[canary]\nenabled = false\ndeadline = \"5s\"\n"
                        "[[override]]\nmatch = [\"sd*\"]\ncanary = true\n"),
               Catch::Contains("deadline (5s)"));
  }
  SECTION("canary size") {
    CHECK(error_of("[canary]\nsize = 1000\n") ==
          "t.toml:2:8: canary.size must be a multiple of 512");
  }
  SECTION("listen address") {
    CHECK(error_of("[metrics]\nlisten = \"9847\"\n") ==
          "t.toml:2:10: metrics.listen must be HOST:PORT, e.g. \"0.0.0.0:9847\"");
  }
  SECTION("override without match, and with a contradiction") {
    CHECK(error_of("[[override]]\nslow_io = \"1s\"\n").find("override needs a non-empty match") !=
          std::string::npos);
    CHECK(error_of("[[override]]\nmatch = [\"sd*\"]\nstall = \"100ms\"\n")
              .rfind("t.toml:1:1: override: stall (100ms) must be longer than slow_io (200ms)",
                     0) == 0);
  }
  SECTION("all errors are reported, not just the first") {
    const std::string e = error_of("a = 1\n[canary]\nb = 2\n");
    CHECK(e.find("t.toml:1:1: unknown key 'a'") != std::string::npos);
    CHECK(e.find("t.toml:3:1: unknown key 'canary.b'") != std::string::npos);
  }
}

TEST_CASE("device selection: default set, globs, dm names, wwids, exclude") {
  Config def;
  CHECK(def.selects(dev("sda")));
  CHECK(def.selects(dev("dm-0", "mpatha", "mpath-3600")));
  CHECK_FALSE(def.selects(dev("loop0")));  // loops only when named
  CHECK_FALSE(def.selects(dev("ram0")));

  auto c = parse_config(
      "[devices]\ninclude = [\"loop*\", \"mpath?\", \"wwid:3600b\"]\nexclude = [\"loop7\"]\n", "t");
  REQUIRE(c.ok());
  CHECK(c->selects(dev("loop3")));
  CHECK_FALSE(c->selects(dev("loop7")));
  CHECK(c->selects(dev("dm-4", "mpathb", "mpath-0")));
  CHECK(c->selects(dev("dm-9", "db_data", "mpath-3600b")));
  CHECK_FALSE(c->selects(dev("sda")));
}

TEST_CASE("overrides apply in order to matching devices only") {
  auto c = parse_config(
      "[[override]]\nmatch = [\"mpath*\"]\nslow_io = \"50ms\"\ncanary_period = \"100ms\"\n"
      "[[override]]\nmatch = [\"mpathb\"]\nslow_io = \"20ms\"\ncanary = false\n",
      "t");
  REQUIRE(c.ok());
  auto a = c->settings_for(dev("dm-0", "mpatha", "mpath-1"));
  auto b = c->settings_for(dev("dm-1", "mpathb", "mpath-2"));
  auto s = c->settings_for(dev("sda"));
  CHECK(a.thresholds.slow_io == 50ms);
  CHECK(a.canary.period == 100ms);
  CHECK(b.thresholds.slow_io == 20ms);
  CHECK_FALSE(b.canary.enabled);
  CHECK(s.thresholds.slow_io == 200ms);
  CHECK(s.canary.period == 1s);
}

TEST_CASE("overrides declare the array behind devices sysfs says nothing about") {
  auto c = parse_config(
      "[[override]]\nmatch = [\"loop*\"]\narray_vendor = \"LAB\"\narray_product = \"FAULT\"\n"
      "array_id = \"iqn.2026-12.lab:array1\"\n[[override]]\nmatch = [\"loop1\"]\n"
      "array_id = \"iqn.2026-12.lab:array2\"\n",
      "t");
  REQUIRE(c.ok());
  auto a = c->settings_for(dev("loop0"));
  auto b = c->settings_for(dev("loop1"));
  CHECK(a.array_vendor == "LAB");
  CHECK(a.array_product == "FAULT");
  CHECK(a.array_id == "iqn.2026-12.lab:array1");
  CHECK(b.array_vendor == "LAB");
  CHECK(b.array_id == "iqn.2026-12.lab:array2");  // later blocks win
  CHECK_FALSE(c->settings_for(dev("sda")).array_id);
  auto again = parse_config(render_config(*c), "rendered");
  REQUIRE(again.ok());
  CHECK(again->settings_for(dev("loop1")).array_id == "iqn.2026-12.lab:array2");

  CHECK(error_of("[[override]]\nmatch = [\"a\"]\narray_id = \"\"\n") ==
        "t.toml:3:12: override.array_id must be 1 to 256 printable characters");
  CHECK_THAT(error_of("[[override]]\nmatch = [\"a\"]\narray_vendor = \"a\\nb\"\n"),
             Catch::Contains("override.array_vendor must be 1 to 256 printable characters"));
  CHECK_THAT(error_of("[[override]]\nmatch = [\"a\"]\narray_product = 3\n"),
             Catch::Contains("a string"));
}

TEST_CASE("canary targets: multipath maps and their paths by default") {
  Config c;
  CHECK(c.wants_canary(dev("dm-0", "mpatha", "mpath-1"), false));
  CHECK(c.wants_canary(dev("sdb"), true));
  CHECK_FALSE(c.wants_canary(dev("sda"), false));
  c.canary_targets = CanaryTargets::kAll;
  CHECK(c.wants_canary(dev("sda"), false));
}

TEST_CASE("rendered effective config parses back to the same settings") {
  auto c = parse_config(
      "log_level = \"debug\"\n[thresholds]\nstall = \"3s\"\n[[override]]\nmatch = [\"sdb\"]\n"
      "slow_io = \"20ms\"\n",
      "t");
  REQUIRE(c.ok());
  auto again = parse_config(render_config(*c), "rendered");
  INFO(render_config(*c));
  REQUIRE(again.ok());
  CHECK(again->log_level == "debug");
  CHECK(again->thresholds.stall == 3s);
  REQUIRE(again->overrides.size() == 1);
  CHECK(again->overrides[0].slow_io == 20ms);
}

TEST_CASE("alert settings parse, validate URLs and render back") {
  auto c = parse_config(
      "[alerts]\nalertmanager_urls = [\"http://127.0.0.1:9093\", \"http://127.0.0.1:9094\"]\n"
      "resend = \"30s\"\nhealth_check = \"0s\"\nexec = [\"/bin/cat\"]\n[alerts.labels]\nenv = "
      "\"prod\"\n",
      "t");
  REQUIRE(c.ok());
  CHECK(c->alerts.alertmanager_urls.size() == 2);
  CHECK(c->alerts.resend == 30s);
  CHECK(c->alerts.health_check == 0s);
  CHECK(c->alerts.exec_command == std::vector<std::string>{"/bin/cat"});
  REQUIRE(c->alerts.labels.size() == 1);
  CHECK(c->alerts.labels[0] == std::pair<std::string, std::string>{"env", "prod"});
  auto again = parse_config(render_config(*c), "r");
  REQUIRE(again.ok());
  CHECK(again->alerts.alertmanager_urls == c->alerts.alertmanager_urls);
  CHECK(again->alerts.labels == c->alerts.labels);
  CHECK(again->alerts.health_check == 0s);
  CHECK(parse_config("", "t")->alerts.health_check == 30s);
  CHECK(error_of("[alerts]\nhealth_check = \"2h\"\n") ==
        "t.toml:2:16: alerts.health_check = \"2h\" is out of range (0s .. 1h)");
  CHECK(error_of("[alerts]\nalertmanager_urls = [\"am:9093\"]\n") ==
        "t.toml:2:21: alerts.alertmanager_urls: 'am:9093' must start with http:// or https://");
  CHECK(error_of("[alerts.labels]\nenv = 1\n") == "t.toml:2:7: alerts.labels.env must be a string");
  CHECK(error_of("[alerts.labels]\n\"bad-name\" = \"x\"\n") ==
        "t.toml:2:1: alerts.labels: 'bad-name' is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)");
}

TEST_CASE("baseline settings: defaults, validation with file:line, render back") {
  auto d = parse_config("", "t");
  REQUIRE(d.ok());
  CHECK(d->baseline.enabled);
  CHECK(d->baseline.factor == 2.0);
  CHECK(d->baseline.min_ios == 500);
  CHECK(d->baseline.window == 1h);
  CHECK(d->baseline.learn == std::chrono::hours(24 * 28));
  CHECK(d->baseline.hold == 6h);
  CHECK(d->baseline.period == std::chrono::hours(24 * 7));
  auto e = parse_config(embedded_default_config(), "default");  // packaging/sanwatch.toml
  REQUIRE(e.ok());
  CHECK(e->baseline.factor == d->baseline.factor);
  CHECK(e->baseline.min_ios == d->baseline.min_ios);
  CHECK(e->baseline.learn == d->baseline.learn);
  CHECK(e->baseline.hold == d->baseline.hold);
  auto c = parse_config(
      "[baseline]\nfactor = 3\nmin_ios = 50\nwindow = \"3s\"\nhold = \"5s\"\nperiod = \"1d\"\n"
      "learn = \"7d\"\n",
      "t");
  REQUIRE(c.ok());
  CHECK(c->baseline.factor == 3.0);
  CHECK(c->baseline.window == 3s);
  CHECK(c->baseline.period == 24h);
  auto again = parse_config(render_config(*c), "r");
  INFO(render_config(*c));
  REQUIRE(again.ok());
  CHECK(again->baseline.factor == 3.0);
  CHECK(again->baseline.min_ios == 50);
  CHECK(again->baseline.hold == 5s);
  CHECK(again->baseline.learn == std::chrono::hours(24 * 7));
  CHECK(error_of("[baseline]\nfactor = nan\n") ==
        "t.toml:2:10: baseline.factor = nan is out of range (1.01 .. 1000)");
  CHECK(error_of("[baseline]\nfactor = inf\n").rfind("t.toml:2:10: baseline.factor = inf", 0) == 0);
  CHECK(error_of("[baseline]\nfactor = 1\n") ==
        "t.toml:2:10: baseline.factor = 1 is out of range (1.01 .. 1000)");
  CHECK(error_of("[baseline]\nmin_ios = 0\n") ==
        "t.toml:2:11: baseline.min_ios = 0 is out of range (1 .. 1000000000)");
  CHECK(error_of("[baseline]\nperiod = \"90m\"\n") ==
        "t.toml:2:10: baseline.period = \"90m\" must be whole hours (\"7d\", \"24h\")");
  CHECK(error_of("[baseline]\nlearn = \"10d\"\n") ==
        "t.toml:2:9: baseline.learn (10d) must cover at least two periods (7d each): the "
        "baseline is the median of earlier periods");
  CHECK(error_of("[baseline]\nperiod = \"1h\"\nwindow = \"2h\"\n") ==
        "t.toml:3:10: baseline.window (2h) must not be longer than baseline.period (1h)");
  CHECK(error_of("[baseline]\nwindow = \"10ms\"\n") ==
        "t.toml:2:10: baseline.window = \"10ms\" is out of range (1s .. 7d)");
  CHECK(error_of("[baseline]\nhold = 6\n") ==
        "t.toml:2:8: baseline.hold must be a duration string like \"250ms\" or \"2s\"");
  // NaN is refused wherever a number is read.
  CHECK(error_of("[thresholds]\nslow_share = nan\n").rfind("t.toml:2:14:", 0) == 0);
}

TEST_CASE("text toml++ 3.3.0 mishandles is refused before it gets there, with file:line:column") {
  // __builtin_unreachable() in toml++ (upstream #190/#295) on these:
  CHECK(error_of("[a]\n\xc3\xa9") == "t.toml:2:1: non-ASCII character outside a string or comment");
  CHECK(error_of("[devices]\nrescan = \"5s\" \xc3\xa9\n") ==
        "t.toml:2:15: non-ASCII character outside a string or comment");
  CHECK(error_of("[metrics]\n\xe2\x80\x83listen = \"x:1\"\n") ==
        "t.toml:2:1: non-ASCII character outside a string or comment");
  // an assertion in its debug builds:
  CHECK(error_of("[{") == "t.toml:1:2: expected a table name after '['");
  CHECK(error_of("\n  [[ {x}]]") == "t.toml:2:6: expected a table name after '['");
  // Valid TOML with non-ASCII in strings and comments, and '[' at a line's
  // start inside a value, still loads.
  auto ok = parse_config(
      "# Überwachung der Pfade\n"
      "[alerts]  # ü\n"
      "alertmanager_urls = [\n"
      "  \"http://am:9093\",  # «primary»\n"
      "]\n"
      "instance = \"db-\xc3\xa9t\xc3\xa9\"\n"
      "exec = ['''/bin/echo''', \"\"\"caf\xc3\xa9 \\\" ]\"\"\"]\n"
      "[alerts.labels]\n"
      "team = 'équipe'\n"
      "[\"devices\"]\n"
      "include = [\n"
      "[\"sd*\"][0],\n"
      "]\n",
      "t.toml");
  // The last value is not TOML (an index expression): toml++ says so, not the guard.
  REQUIRE_FALSE(ok.ok());
  CHECK(ok.error().context.find("non-ASCII") == std::string::npos);
  CHECK(ok.error().context.find("expected a table name") == std::string::npos);
  auto good = parse_config(
      "# Überwachung\n[alerts]\ninstance = \"db-\xc3\xa9t\xc3\xa9\"  # ü\n"
      "exec = ['''/bin/echo''', \"\"\"caf\xc3\xa9 \\\" ]\"\"\"]\n[alerts.labels]\nteam = "
      "'équipe'\n",
      "t.toml");
  REQUIRE(good.ok());
  CHECK(good->alerts.instance == "db-\xc3\xa9t\xc3\xa9");
  CHECK(good->alerts.exec_command.at(1) == "caf\xc3\xa9 \" ]");
}

TEST_CASE("check-config's rendering loads back for strings that need escaping") {
  auto c = parse_config("[metrics]\nlisten = \"a\\\"b:80\"\n", "t.toml");
  REQUIRE(c.ok());
  CHECK(c->metrics.listen == "a\"b:80");
  auto again = parse_config(render_config(*c), "rendered");
  INFO(render_config(*c));
  REQUIRE(again.ok());
  CHECK(again->metrics.listen == "a\"b:80");
}

TEST_CASE("metrics server limits: defaults, validation with file:line, render back") {
  auto d = parse_config("", "t");
  REQUIRE(d.ok());
  CHECK(d->metrics.max_connections == 1024);
  CHECK(d->metrics.max_connections_per_ip == 32);
  CHECK(d->metrics.read_timeout == 5s);
  CHECK(d->metrics.max_request_bytes == 8192);
  auto e = parse_config(embedded_default_config(), "default");  // packaging/sanwatch.toml
  REQUIRE(e.ok());
  CHECK(e->metrics.max_connections == d->metrics.max_connections);
  CHECK(e->metrics.max_connections_per_ip == d->metrics.max_connections_per_ip);
  CHECK(e->metrics.read_timeout == d->metrics.read_timeout);
  CHECK(e->metrics.max_request_bytes == d->metrics.max_request_bytes);
  auto c = parse_config(
      "[metrics]\nmax_connections = 100\nmax_connections_per_ip = 4\nread_timeout = \"2s\"\n"
      "max_request_bytes = 4096\n",
      "t");
  REQUIRE(c.ok());
  auto again = parse_config(render_config(*c), "r");
  INFO(render_config(*c));
  REQUIRE(again.ok());
  CHECK(again->metrics.max_connections == 100);
  CHECK(again->metrics.max_connections_per_ip == 4);
  CHECK(again->metrics.read_timeout == 2s);
  CHECK(again->metrics.max_request_bytes == 4096);
  CHECK(error_of("[metrics]\nmax_connections = 0\n") ==
        "t.toml:2:19: metrics.max_connections = 0 is out of range (1 .. 65536)");
  CHECK(error_of("[metrics]\nmax_connections_per_ip = 100000\n") ==
        "t.toml:2:26: metrics.max_connections_per_ip = 100000 is out of range (1 .. 65536)");
  CHECK(error_of("[metrics]\nread_timeout = \"10ms\"\n") ==
        "t.toml:2:16: metrics.read_timeout = \"10ms\" is out of range (1s .. 1h)");
  CHECK(error_of("[metrics]\nmax_request_bytes = 100\n") ==
        "t.toml:2:21: metrics.max_request_bytes = 100 is out of range (1024 .. 1048576)");
  CHECK(error_of("[metrics]\nmax_connections = \"many\"\n") ==
        "t.toml:2:19: metrics.max_connections must be an integer");
}

TEST_CASE("metrics.web_config: empty by default, an absolute path, rendered back") {
  auto d = parse_config("", "t");
  REQUIRE(d.ok());
  CHECK(d->metrics.web_config.empty());
  auto e = parse_config(embedded_default_config(), "default");
  REQUIRE(e.ok());
  CHECK(e->metrics.web_config.empty());
  auto c = parse_config("[metrics]\nweb_config = \"/etc/sanwatch/web.yml\"\n", "t");
  REQUIRE(c.ok());
  CHECK(c->metrics.web_config == "/etc/sanwatch/web.yml");
  auto again = parse_config(render_config(*c), "r");
  REQUIRE(again.ok());
  CHECK(again->metrics.web_config == "/etc/sanwatch/web.yml");
  CHECK(error_of("[metrics]\nweb_config = \"web.yml\"\n") ==
        "t.toml:2:14: metrics.web_config must be an absolute path (or \"\" for none)");
  CHECK(error_of("[metrics]\nweb_config = 1\n") ==
        "t.toml:2:14: metrics.web_config must be a string");
}

TEST_CASE("tracing.ring_buffer_bytes: 256 KiB by default, a power of two, rendered back") {
  auto d = parse_config("", "t");
  REQUIRE(d.ok());
  CHECK(d->tracing.ring_buffer_bytes == 256 * 1024);
  auto e = parse_config(embedded_default_config(), "default");  // packaging/sanwatch.toml
  REQUIRE(e.ok());
  CHECK(e->tracing.ring_buffer_bytes == d->tracing.ring_buffer_bytes);
  auto c = parse_config("[tracing]\nring_buffer_bytes = 4096\n", "t");
  REQUIRE(c.ok());
  auto again = parse_config(render_config(*c), "r");
  INFO(render_config(*c));
  REQUIRE(again.ok());
  CHECK(again->tracing.ring_buffer_bytes == 4096);
  CHECK(error_of("[tracing]\nring_buffer_bytes = 5000\n") ==
        "t.toml:2:21: tracing.ring_buffer_bytes = 5000 must be a power of two");
  CHECK(error_of("[tracing]\nring_buffer_bytes = 2048\n") ==
        "t.toml:2:21: tracing.ring_buffer_bytes = 2048 is out of range (4096 .. 268435456)");
  CHECK(error_of("[tracing]\nring_size = 4096\n") == "t.toml:2:1: unknown key 'tracing.ring_size'");
}
