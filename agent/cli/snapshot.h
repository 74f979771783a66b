// SPDX-License-Identifier: Apache-2.0
// Builds a MetricsSnapshot from the running watchdog (event-loop thread).
#pragma once

#include "detect/watchdog.h"
#include "exporters/alerts.h"
#include "exporters/metrics_snapshot.h"

namespace sanwatch {

MetricsSnapshot take_snapshot(Watchdog& w, const AlertDispatcher* alerts);

}  // namespace sanwatch
