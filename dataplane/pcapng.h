// dataplane/pcapng.h — an annotated capture: a pcapng file (draft-ietf-opsawg-pcapng) with one
// Interface Description Block per port and an Enhanced Packet Block per frame whose
// opt_comment says why the frame went where it went ("verdict=DROP reason=uplink.firewall
// stage=firewall-out rule=7"), so a person can open a replay in Wireshark and see why. DPDK
// 22.11's rte_pcapng cannot attach per-packet comments, hence this writer. Blocks are written
// in host byte order (the Section Header's byte-order magic says which); timestamps are
// nanoseconds (if_tsresol 9); every interface is Ethernet with one snapshot length, which
// libpcap 1.10 requires to read the file back.
// One thread per writer; no exceptions. write() does no allocation (buffered stdio).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/verdict.h"
#include "dataplane/pipeline.h"

namespace simcore::dp {

class PcapngWriter {
 public:
  struct Interface {
    std::string name;  // if_name, e.g. "access"
  };
  // Frames longer than this are truncated to it in the file (the original length is kept).
  static constexpr uint32_t kSnapLen = 262144;
  // Longer comments are truncated (an option's length field is 16 bits).
  static constexpr size_t kMaxComment = 65000;

  // Creates (truncates) `path` and writes the Section Header and one Interface Description
  // per entry of `interfaces` (at least one). Fails kInvalidArgument (no interface) or
  // kUnavailable (cannot create or write), the message naming the path.
  static core::Result<PcapngWriter> open(const std::string& path,
                                         const std::vector<Interface>& interfaces);

  PcapngWriter(PcapngWriter&& o) noexcept;
  PcapngWriter& operator=(PcapngWriter&& o) noexcept;
  PcapngWriter(const PcapngWriter&) = delete;
  PcapngWriter& operator=(const PcapngWriter&) = delete;
  // Closes the file if close() was not called; a write error then goes unreported.
  ~PcapngWriter();

  // Appends one Enhanced Packet Block: `frame` received or sent on interface `interface` (an
  // index into open()'s list) at `ts_ns` nanoseconds since the epoch, with `comment` (UTF-8;
  // none when empty). Fails kInvalidArgument (unknown interface), kFailedPrecondition (closed)
  // or kUnavailable (write error, e.g. disk full), naming the path.
  core::Status write(uint32_t interface, uint64_t ts_ns, std::span<const uint8_t> frame,
                     std::string_view comment);

  // Flushes and closes the file. Fails kUnavailable when a buffered write or the close fails;
  // the writer is closed either way. Closing twice is Ok.
  core::Status close();

  const std::string& path() const noexcept { return path_; }
  // The number of Enhanced Packet Blocks written.
  uint64_t packets() const noexcept { return packets_; }

 private:
  PcapngWriter(std::string path, std::FILE* f, std::unique_ptr<char[]> buffer, uint32_t interfaces);
  core::Error io_error(const char* what) const;

  std::string path_;
  std::FILE* file_ = nullptr;
  std::unique_ptr<char[]> buffer_;  // stdio's buffer: must outlive file_
  uint32_t interfaces_ = 0;
  uint64_t packets_ = 0;
};

// The stage and rule of the policy Decision that decided a policed frame; Outcome does not
// carry them. rule_id as in core::Decision (0 the chain's default action, kFlowRuleId a flow).
struct DecidedBy {
  core::Stage stage = core::Stage::kDeliver;
  uint32_t rule_id = 0;
};

// Enough for every comment format_comment writes.
inline constexpr size_t kCommentMax = 160;

// Writes the comment of one frame's outcome into `buf` and returns it (a view of `buf`,
// truncated to its size). Any thread; no allocation. Forms:
//   policed:                 "verdict=FORWARD stage=deliver rule=12"
//                            "verdict=DROP reason=uplink.firewall stage=firewall-out rule=7"
//   policed, then the data plane dropped it:
//                            "verdict=DROP reason=uplink.tunnel_unavailable policy=TUNNEL
//                            stage=deliver"
//   parse drop or consumed:  "verdict=DROP reason=malformed.gtpu stage=parse"
//   echo or ARP answered:    "verdict=REPLY reason=gtpu.echo_request stage=parse"
//   data-plane drop:         "verdict=DROP reason=neighbour.unresolved stage=pipeline"
//   punted to control:       "verdict=PUNT reason=punt.gtpc stage=pipeline"
// rule= is given when the verdict is not DROP or a firewall stage decided: a number, "default"
// (rule_id 0: the chain's default action or an empty chain) or "flow" (a stateful reply).
std::string_view format_comment(const Outcome& o, DecidedBy by, std::span<char> buf) noexcept;

}  // namespace simcore::dp
