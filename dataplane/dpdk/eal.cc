#include "dataplane/dpdk/eal.h"

#include <cstdlib>
#include <filesystem>

#include <rte_eal.h>
#include <rte_errno.h>

#include <mutex>

#include "dataplane/huge_memory.h"

namespace simcore::dp {
namespace {

// rte_eal_init keeps pointers into argv for the life of the process, so the strings must too.
struct EalState {
  std::mutex mu;
  bool ready = false;
  std::vector<std::string> args;
};

EalState& state() {
  static EalState s;
  return s;
}

}  // namespace

std::vector<std::string> eal_arguments(const EalOptions& o) {
  std::vector<std::string> a{"simcore"};
  a.push_back("--lcores=" + o.lcores);
  a.push_back("-m");
  a.push_back(std::to_string(o.memory_mb));
  if (!o.hugepages) a.push_back("--no-huge");
  if (!o.pci) a.push_back("--no-pci");
  if (!o.telemetry) a.push_back("--no-telemetry");
  // Several simcore processes (ctest -j, a daemon next to a replay) share one machine: without
  // a shared config file they cannot collide on /var/run/dpdk (secondary processes then do not
  // work, which we do not use).
  a.push_back(o.file_prefix.empty() ? "--no-shconf" : "--file-prefix=" + o.file_prefix);
  a.push_back("--log-level=lib.eal:" + o.log_level);
  for (const std::string& v : o.vdevs) a.push_back("--vdev=" + v);
  for (const std::string& e : o.extra) a.push_back(e);
  return a;
}

core::Status eal_init(const EalOptions& options) {
  EalState& s = state();
  std::lock_guard lock(s.mu);
  std::vector<std::string> args = eal_arguments(options);
  if (s.ready) {
    if (args == s.args) return core::Status::Ok();
    return core::Error(core::Code::kFailedPrecondition,
                       "EAL is already initialised with other options (once per process)");
  }
  s.args = std::move(args);
  std::vector<char*> argv;
  for (std::string& arg : s.args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int rc = rte_eal_init(static_cast<int>(argv.size() - 1), argv.data());
  if (rc < 0) {
    return core::Error(core::Code::kUnavailable,
                       std::string("rte_eal_init failed: ") + rte_strerror(rte_errno));
  }
  s.ready = true;
  // From here on this process is a data plane: the table pages it compiles are read per packet.
  core::set_page_memory(huge_page_memory());
  if (!options.file_prefix.empty()) {
    // A private prefix leaves a runtime directory under /var/run/dpdk (or $XDG_RUNTIME_DIR)
    // named after it; EAL never removes it. Nothing else uses it once this process is gone.
    static std::string dir;
    dir = rte_eal_get_runtime_dir();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
  }
  return core::Status::Ok();
}

bool eal_ready() noexcept {
  EalState& s = state();
  std::lock_guard lock(s.mu);
  return s.ready;
}

}  // namespace simcore::dp
