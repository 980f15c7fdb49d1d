// core/flow_memory.h — the stateful-firewall memory of the portable evaluators: which flows a
// Thing opened, so replies may pass its inbound chain. The data plane keeps its own per-worker
// flow tables with ageing; this one never forgets and is for the evaluators and tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <tuple>

namespace simcore::core {

// A flow from the Thing's side: its slot and local port, the remote address and port (host
// order, post-NAT on the Thing's side), and the IP protocol.
struct FlowKey {
  uint32_t slot;
  uint8_t proto;
  uint16_t local_port;
  uint32_t remote_addr;
  uint16_t remote_port;
  auto operator<=>(const FlowKey&) const = default;
};

class FlowMemory {
 public:
  void open(const FlowKey& k) { changes_ += flows_.insert(k).second; }
  bool established(const FlowKey& k) const { return flows_.count(k) != 0; }
  size_t size() const noexcept { return flows_.size(); }
  // Returns a count that grows whenever open() changes what established() answers (here: a
  // new flow), as dp::FlowTable::changes does.
  uint64_t changes() const noexcept { return changes_; }

 private:
  std::set<FlowKey> flows_;
  uint64_t changes_ = 0;
};

}  // namespace simcore::core
