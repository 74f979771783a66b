// SPDX-License-Identifier: Apache-2.0
// make_alert_dispatcher: the Alertmanager sink and the exec hook behind the
// AlertDispatcher interface.
#include <mutex>

#include "exporters/alertmanager.h"
#include "exporters/alerts.h"
#include "exporters/exec_hook.h"

namespace sanwatch {
namespace {

class Dispatcher final : public AlertDispatcher {
 public:
  Dispatcher(const AlertSettings& s, EventLog& log) : log_(log), am_(s, log) {
    if (!s.exec_command.empty()) exec_ = std::make_unique<ExecHook>(s, log);
  }

  void on_events(std::span<const StateChange> events) override {
    am_.on_events(events);
    if (exec_)
      for (const auto& ev : events) exec_->on_event(ev);
  }

  void on_baseline(const BaselineEvent& event) override { am_.on_baseline(event); }

  // The Alertmanager sink always exists, even with no URL: it keeps the set
  // of firing alerts, so a URL added by a reload learns the current state.
  // The exec hook is created the first time a command is configured and then
  // kept (runs in progress survive a reload that removes the command).
  void reconfigure(const AlertSettings& s) override {
    am_.reconfigure(s);
    if (exec_) {
      exec_->reconfigure(s);
    } else if (!s.exec_command.empty()) {
      auto hook = std::make_unique<ExecHook>(s, log_);
      std::lock_guard lock(mu_);
      exec_ = std::move(hook);
    }
  }

  std::vector<SinkStats> stats() const override {
    std::vector<SinkStats> out = am_.stats();
    std::lock_guard lock(mu_);
    if (exec_) out.push_back(exec_->stats());
    return out;
  }

 private:
  EventLog& log_;
  AlertmanagerSink am_;
  // Written only by reconfigure() (event loop), read there without the lock
  // and by stats() (any thread) with it.
  mutable std::mutex mu_;
  std::unique_ptr<ExecHook> exec_;
};

}  // namespace

std::unique_ptr<AlertDispatcher> make_alert_dispatcher(const AlertSettings& settings,
                                                       EventLog& log) {
  return std::make_unique<Dispatcher>(settings, log);
}

}  // namespace sanwatch
