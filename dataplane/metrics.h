// dataplane/metrics.h — the data plane's counters in the Prometheus text exposition format
// 0.0.4, for simcored's GET /metrics (control receives the text through its MetricsSource and
// never links this library). One family per Counters field, one sample per array element and
// worker; the label values are the counters' names from SIMCORE_PARSE_STATUSES,
// SIMCORE_DROP_REASONS, SIMCORE_PIPELINE_DROPS and SIMCORE_PUNTS, so a new status or reason
// shows up here without a change. A new Counters field needs one row in the family table of
// metrics.cc (a static_assert there counts the fields).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "dataplane/pipeline.h"

namespace simcore::dp {

// The Content-Type to serve render_prometheus()'s text with.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Returns every counter of every worker (label worker="i" for per_worker[i]) as Prometheus text:
// per family a # HELP and a # TYPE line, then its samples, e.g.
//   simcore_rx_packets_total{port="access",worker="0"} 12
//   simcore_drops_total{reason="uplink.firewall",worker="0"} 3
// The "none" entries of the drop lists (never counted) are left out. Any thread; each counter
// is read once with a relaxed load while workers may be counting, so one scrape can see a frame
// in rx before its tx or drop (Prometheus counters tolerate that). Allocates the string.
std::string render_prometheus(std::span<const Counters> per_worker);

// Appends `value` as a label value: backslash, double quote and line feed escaped as the
// format requires (\\, \", \n). Any thread.
void append_label_value(std::string& out, std::string_view value);

}  // namespace simcore::dp
