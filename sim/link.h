// sim/link.h — where the online replay's frames go: the two wires in front of simcored's
// access and core ports. AfPacketLink is the real one: a raw AF_PACKET socket on each of two
// interfaces (the far ends of veth pairs whose near ends simcored's net_af_packet ports hold),
// so the frames cross the kernel exactly as a peer's would. Root (CAP_NET_RAW). Control thread.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "core/result.h"
#include "dataplane/pipeline.h"

namespace simcore::sim {

// A received frame: the side it came from, when (steady clock, ns), its bytes (valid only
// during the callback).
using OnFrame = std::function<void(dp::Port side, uint64_t ts_ns, std::span<const uint8_t>)>;

class Link {
 public:
  virtual ~Link() = default;
  // Sends one Ethernet frame out of `side`, waiting for socket space when the queue is full.
  virtual core::Status send(dp::Port side, std::span<const uint8_t> frame) = 0;
  // Hands every frame that arrives within `timeout_ms` (0: only those already queued) to `on`;
  // returns how many. Returns as soon as at least one frame was handled and none is queued.
  virtual size_t receive(int timeout_ms, const OnFrame& on) = 0;
};

class AfPacketLink final : public Link {
 public:
  // Opens a raw socket on each interface. Fails kUnavailable naming the interface (missing,
  // or no CAP_NET_RAW).
  static core::Result<AfPacketLink> open(const std::string& access_if, const std::string& core_if);
  AfPacketLink(AfPacketLink&& o) noexcept;
  AfPacketLink& operator=(AfPacketLink&&) = delete;
  AfPacketLink(const AfPacketLink&) = delete;
  ~AfPacketLink() override;

  core::Status send(dp::Port side, std::span<const uint8_t> frame) override;
  size_t receive(int timeout_ms, const OnFrame& on) override;

 private:
  AfPacketLink() = default;
  int fd_[dp::kPortCount] = {-1, -1};
  std::string name_[dp::kPortCount];
};

// Steady clock in ns: the time base of OnFrame.
uint64_t steady_ns();

}  // namespace simcore::sim
