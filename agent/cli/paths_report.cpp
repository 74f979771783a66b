// SPDX-License-Identifier: Apache-2.0
#include "cli/paths_report.h"

#include <fmt/format.h>

#include "base/duration.h"  // human_duration
#include "host/nvme_state.h"

namespace sanwatch {
namespace {

double q_s(const OpStats& s, double q) { return s.quantile_s(q); }

nlohmann::ordered_json latency_json(const OpStats& s, double interval_s) {
  return {{"ios", s.count},
          {"iops", interval_s > 0 ? static_cast<double>(s.count) / interval_s : 0},
          {"p50_s", q_s(s, 0.5)},
          {"p99_s", q_s(s, 0.99)},
          {"errors", s.error_count()}};
}

std::string latency_text(const OpStats& s, double interval_s) {
  if (!s.count) return "no I/O";
  return fmt::format("p50 {} p99 {} IOPS {:.0f}", human_duration(q_s(s, 0.5)),
                     human_duration(q_s(s, 0.99)),
                     interval_s > 0 ? static_cast<double>(s.count) / interval_s : 0);
}

std::string since_text(const std::string& since) { return since.empty() ? "" : " since " + since; }

// H:C:T:L for SCSI; the controller (nvme1) for NVMe.
std::string path_locator(const PathInfo& p) {
  if (!p.hctl.empty()) return p.hctl;
  return p.transport == "nvme" && !p.host.empty() ? p.host : "-";
}

// ALUA access state, or ANA state with its group ("optimized grp 2").
std::string access_text(const PathInfo& p) {
  if (p.ana_group.empty()) return p.alua_state;
  return p.alua_state + " grp " + p.ana_group;
}

nlohmann::ordered_json iscsi_json(const PathInfo& p) {
  return {{"target_name", p.array_id},
          {"portal", p.iscsi.portal},
          {"tpgt", p.iscsi.tpgt},
          {"session", p.iscsi.session},
          {"session_state", p.iscsi.session_state},
          {"connection_state", p.iscsi.connection_state}};
}

// The second line of a path: what it reaches, beyond the target port.
std::string detail_text(const PathRow& p) {
  std::string s;
  if (p.info.alua_group >= 0)
    s += fmt::format("  alua group {} port {}", p.info.alua_group, p.info.rel_port);
  if (p.dm_group) s += fmt::format("  dm group {}", p.dm_group);
  if (p.info.transport == "iscsi")
    s += fmt::format("  iscsi {} portal {} tpgt {} {} {} conn {}", p.info.array_id,
                     p.info.iscsi.portal, p.info.iscsi.tpgt, p.info.iscsi.session,
                     p.info.iscsi.session_state, p.info.iscsi.connection_state);
  return s.empty() ? s : "     " + s + "\n";
}

}  // namespace

std::string derived_path_state(const PathRow& p) {
  if (p.info.transport == "nvme")  // ANA and controller state, as the agent judges them
    return judge_nvme_path(p.info.alua_state, p.info.scsi_state).usable ? "ok" : "failed";
  const std::string& s = p.info.scsi_state;
  if (p.dm_state == "failed" || s == "offline" || s == "transport-offline") return "failed";
  return "ok";
}

std::string derived_map_state(const MapRow& m) {
  if (m.total_paths > 0 && m.valid_paths == 0) return "down";
  if (m.total_paths > 0 && m.valid_paths < m.total_paths) return "degraded";
  return "ok";
}

nlohmann::ordered_json paths_json(const PathsReport& r) {
  nlohmann::ordered_json out{{"time", r.time},
                             {"interval_s", r.interval_s},
                             {"state_source", r.state_source},
                             {"maps", nlohmann::ordered_json::array()}};
  for (const auto& m : r.maps) {
    nlohmann::ordered_json jm{{"map", m.info.label()},
                              {"kernel_name", m.info.name},
                              {"wwid", m.info.wwid},
                              {"array", m.array},
                              {"serial", m.serial},
                              {"state", m.state},
                              {"since", m.since},
                              {"valid_paths", m.valid_paths},
                              {"total_paths", m.total_paths},
                              {"queue_if_no_path", m.queue_if_no_path},
                              {"queueing", m.queueing},
                              {"active_group", m.active_group},
                              {"latency", latency_json(m.io, r.interval_s)},
                              {"paths", nlohmann::ordered_json::array()}};
    for (const auto& p : m.paths) {
      jm["paths"].push_back({{"path", p.info.name},
                             {"dev", p.info.id.str()},
                             {"lower", p.info.lower},
                             {"hctl", p.info.hctl},
                             {"dm_state", p.dm_state},
                             {"fail_count", p.fail_count},
                             {"scsi_state", p.info.scsi_state},
                             {"alua_state", p.info.alua_state},
                             {"alua_group", p.info.alua_group},
                             {"rel_port", p.info.rel_port},
                             {"dm_group", p.dm_group},
                             {"transport", p.info.transport},
                             {"target_port", p.info.target_port},
                             // NVMe: controller, its transport, subsystem NQN, ANA group.
                             {"host", p.info.host},
                             {"nvme_transport", p.info.nvme_transport},
                             {"array_id", p.info.array_id},
                             {"ana_group", p.info.ana_group},
                             {"array", p.info.vendor.empty() ? "" : p.info.array()},
                             {"serial", p.info.serial},
                             {"state", p.state},
                             {"since", p.since},
                             {"latency", latency_json(p.io, r.interval_s)}});
      if (p.info.transport == "iscsi") jm["paths"].back()["iscsi"] = iscsi_json(p.info);
    }
    out["maps"].push_back(std::move(jm));
  }
  return out;
}

std::string paths_text(const PathsReport& r) {
  std::string out =
      fmt::format("{}  interval {:.1f}s  states: {}\n", r.time, r.interval_s, r.state_source);
  if (r.maps.empty()) out += "no multipath maps\n";
  for (const auto& m : r.maps) {
    const std::string nqn = m.paths.empty() || m.paths[0].info.transport != "nvme"
                                ? ""
                                : "  subsystem " + m.paths[0].info.array_id;
    out += fmt::format("\n{} ({}) {} {}{}{}\n", m.info.label(), m.info.wwid, m.info.name, m.array,
                       m.serial.empty() ? "" : "  serial " + m.serial, nqn);
    out += fmt::format("  state={}{}  paths {}/{} valid{}{}{}  {}\n", m.state, since_text(m.since),
                       m.valid_paths, m.total_paths, m.queue_if_no_path ? "  queue_if_no_path" : "",
                       m.queueing ? "  QUEUEING I/O" : "",
                       m.active_group ? fmt::format("  I/O on group {}", m.active_group) : "",
                       latency_text(m.io, r.interval_s));
    for (std::size_t i = 0; i < m.paths.size(); ++i) {
      const PathRow& p = m.paths[i];
      out += fmt::format(
          "  {} {} {} {:<6} {:<7} {:<8} {} {} {}  {}  {}{}\n", i + 1 < m.paths.size() ? "|-" : "`-",
          path_locator(p.info), p.info.name, p.info.id.str(), p.dm_state.empty() ? "-" : p.dm_state,
          p.info.scsi_state.empty() ? "-" : p.info.scsi_state,
          p.info.nvme_transport.empty() ? (p.info.transport.empty() ? "-" : p.info.transport)
                                        : "nvme-" + p.info.nvme_transport,
          p.info.target_port.empty() ? "-" : p.info.target_port, access_text(p.info),
          latency_text(p.io, r.interval_s), p.state, since_text(p.since));
      out += detail_text(p);
    }
  }
  return out;
}

}  // namespace sanwatch
