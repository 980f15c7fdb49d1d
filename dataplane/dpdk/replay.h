// dataplane/dpdk/replay.h — offline replay through the real engine: frames (from pcaps or a
// scenario) go into two net_ring ports in timestamp order, one worker classifies them on the
// given tables, and each port gets an annotated pcapng: the frames it received (interface
// "<port>-in") and the frames it sent (interface "<port>-out"), each with the comment that
// says what happened and why (verdict, reason, stage, rule). Deterministic: a run of frames
// on one port is fed and fully processed before the next run on the other port starts, so
// the order of processing is the order of the input whatever the machine's speed.
// Control thread; needs EAL and one free worker lcore.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/tables.h"
#include "dataplane/dpdk/engine.h"

namespace simcore::dp {

struct ReplayFrame {
  uint64_t ts_ns = 0;
  Port port = Port::kAccess;  // where it arrives
  std::vector<uint8_t> bytes;
};

struct ReplayOptions {
  PortConfig addressing;
  std::string access_pcapng;  // output files; empty: not written
  std::string core_pcapng;
  size_t flow_entries = 1 << 18;  // the worker's stateful-flow table
  bool keep_output = false;       // fill ReplayResult::output
};

struct ReplayResult {
  Counters counters{};                // the worker's counters after the run
  std::vector<Record> records;        // one per input frame, in input order
  std::vector<std::string> comments;  // the annotation of each input frame
  // keep_output: per input frame, the frame it became when sent out of a port (else empty).
  std::vector<std::vector<uint8_t>> output;
  uint64_t sent[kPortCount] = {0, 0};
  uint64_t punted = 0;
};

// Replays `frames` (sorted by ts_ns; ties keep their order) on `tables`. Fails when EAL or the
// engine cannot be set up, a file cannot be written, or the engine stops answering (a frame
// not processed within 10 s).
core::Result<ReplayResult> replay(const std::vector<ReplayFrame>& frames,
                                  std::shared_ptr<const core::CompiledTables> tables,
                                  const ReplayOptions& options);

}  // namespace simcore::dp
