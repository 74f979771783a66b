// Builds a MetricsSnapshot from the running watchdog (event-loop thread).
#pragma once

#include "alerts.h"
#include "metrics_snapshot.h"
#include "watchdog.h"

namespace sanwatch {

MetricsSnapshot take_snapshot(Watchdog& w, const AlertDispatcher* alerts);

}  // namespace sanwatch
