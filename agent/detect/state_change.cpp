// SPDX-License-Identifier: Apache-2.0
#include "detect/state_change.h"

namespace sanwatch {

nlohmann::ordered_json evidence_json(const Evidence& e) {
  nlohmann::ordered_json j{{"ios", e.ios},
                           {"slow_ios", e.slow_ios},
                           {"max_latency_s", e.max_latency_s},
                           {"inflight_oldest_s", e.inflight_oldest_s},
                           {"errors", e.errors},
                           {"canary_latency_s", e.canary_latency_s},
                           {"canary_overdue_s", e.canary_overdue_s},
                           {"canary_errors", e.canary_errors}};
  if (!e.last_error.empty()) j["last_error"] = e.last_error;
  if (e.total_paths >= 0) {
    j["valid_paths"] = e.valid_paths;
    j["total_paths"] = e.total_paths;
  }
  if (e.path_flaps) j["path_flaps"] = e.path_flaps;
  if (e.standby_paths) j["standby_paths"] = e.standby_paths;
  if (e.scsi_known) {
    j["scsi_iodone"] = e.scsi_iodone;
    j["scsi_ioerr"] = e.scsi_ioerr;
    j["scsi_iotmo"] = e.scsi_iotmo;
  }
  return j;
}

nlohmann::ordered_json identity_json(const TargetIdentity& id) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (id.type == "port")
    return {{"array", id.array}, {"target_port", id.target_port}, {"paths", id.paths}};
  const auto put = [&j](const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
  };
  put("device", id.device);
  if (id.type != "device") put("kernel_name", id.kernel_name);
  put("dm_name", id.dm_name);
  put("wwid", id.wwid);
  if (id.type == "path") j["map"] = id.map;  // present even when unknown
  put("lower", id.lower);
  put("hctl", id.hctl);
  put("array", id.array);
  put("serial", id.serial);
  put("target_port", id.target_port);
  put("transport", id.transport);
  put("array_id", id.array_id);
  put("alua_state", id.alua_state);
  return j;
}

nlohmann::ordered_json state_json(const StateChange& c) {
  const Transition& t = c.transition;
  nlohmann::ordered_json j{{"ts", c.ts},
                           {"mono_ns", c.mono_ns},
                           {"event", "state"},
                           {"target", c.target.label},
                           {"target_type", c.target.type},
                           {"from", health_name(t.from)},
                           {"to", health_name(t.to)},
                           {"reason", t.reason}};
  j.update(evidence_json(t.evidence));
  j.update(identity_json(c.target));
  return j;
}

}  // namespace sanwatch
