// dataplane/dpdk/eal.h — DPDK's Environment Abstraction Layer, set up once per process.
// Lab defaults work on the shared machines (no hugepages, no NIC, DESIGN.md "DPDK on these
// machines"); a config with hugepages and PCI devices switches to the real thing. rte_eal_init
// can run only once per process, so everything that needs EAL goes through eal_init(), which
// refuses a second set-up with different options instead of corrupting the first.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace simcore::dp {

struct EalOptions {
  // --lcores: lcore 0 is the main (control) thread; workers get the next ids. The default
  // floats four lcores over the first two CPUs, which is what a 2-core lab machine has.
  std::string lcores = "(0-3)@(0-1)";
  unsigned memory_mb = 512;   // -m: heap size; without hugepages it is plain anonymous memory
  bool hugepages = false;     // false adds --no-huge
  bool pci = false;           // false adds --no-pci (no NIC probing: vdevs only)
  bool telemetry = false;     // false adds --no-telemetry (no socket under /var/run/dpdk)
  std::string log_level = "warning";  // EAL's own log level (--log-level)
  // Empty: --no-shconf (no files under /var/run/dpdk, any number of processes). Else
  // --file-prefix=<this>: for PMDs that need EAL's multi-process socket (net_memif).
  std::string file_prefix;
  std::vector<std::string> vdevs;     // each becomes --vdev=<devargs>
  std::vector<std::string> extra;     // passed through as given, last
};

// Returns the argv EAL will be initialised with (program name first). Pure: no EAL call.
std::vector<std::string> eal_arguments(const EalOptions& options);

// Initialises EAL with `options`. A second call returns ok when the options are the same and
// kFailedPrecondition otherwise. With a file prefix, the runtime directory it makes is removed
// when the process exits normally. Once it succeeds, core's table pages come from huge memory
// (dataplane/huge_memory.h). Fails with kUnavailable (and EAL's reason) when EAL refuses.
// Main thread only.
core::Status eal_init(const EalOptions& options);

// Returns true once eal_init has succeeded in this process.
bool eal_ready() noexcept;

}  // namespace simcore::dp
