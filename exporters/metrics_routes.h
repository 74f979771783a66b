// SPDX-License-Identifier: Apache-2.0
// The /metrics server's routes, apart from its socket: MetricsExporter
// serves them over a listening HttpServer, the fuzz target
// (tests/fuzz/http_request_fuzz.cpp) over an external one.
#pragma once

#include "exporters/http_server.h"
#include "exporters/scrape_cache.h"

namespace sanwatch {

// GET/HEAD on / (a page linking /metrics) and /metrics (the exposition,
// gzip when accepted); 405 with Allow for other methods there; 404
// elsewhere. (A later auth check goes first here.)
HttpResponse route_metrics_request(ScrapeCache& cache, const HttpRequest& req);

}  // namespace sanwatch
