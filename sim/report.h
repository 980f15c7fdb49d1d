// sim/report.h — what simcore-sim writes: the generated captures (one classic pcap per port,
// the input of a net_pcap replay or of tcpreplay), the expectations (expected.json), and the
// validation report (report.json and a readable summary). Reports hold no wall-clock times,
// so the same scenario gives byte-identical files. Control thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "sim/generator.h"
#include "sim/validate.h"

namespace simcore::sim {

// Writes the frames of `traffic` that arrive on `port` to a pcap (Ethernet, nanosecond
// timestamps). Fails kUnavailable naming the path.
core::Status write_pcap(const std::string& path, const Traffic& traffic, dp::Port port);

// expected.json: the ports, the session operations, the flows, and per frame its port, time,
// flow, packet and expected outcome.
std::string expected_json(const Scenario& s, const Traffic& traffic, const dp::PortConfig& ports);

struct ReportInfo {
  std::string scenario;  // the scenario file
  uint64_t seed = 0;
  std::string checked_account;  // "" for the scenario's own, else the --against file
};

// report.json: totals, the mismatches (first), per flow, per outcome and per rule expected and
// actual counts, the engine's counters, and the notes of generation and replay.
std::string report_json(const ReportInfo& info, const Traffic& traffic, const Replayed& r);

// The summary for a terminal: mismatches first (at most `max_listed`), one line per flow,
// totals.
std::string report_text(const ReportInfo& info, const Traffic& traffic, const Replayed& r,
                        size_t max_listed = 20);

}  // namespace simcore::sim
