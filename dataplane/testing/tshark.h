// dataplane/testing/tshark.h — tshark, the independent decoder our emitted packets are
// checked against, from tests: fields of the frames a display filter selects, and the frames
// it calls malformed or flags with an error-level expert info.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace simcore::dp::testing {

// Whether tshark is installed.
bool have_tshark();

// In a test body: without tshark the test is skipped on a developer's machine, and fails under
// CI, where scripts/bootstrap installs it (a silent skip there would hide the check).
#define SIMCORE_REQUIRE_TSHARK()                                                     \
  do {                                                                               \
    if (!::simcore::dp::testing::have_tshark()) {                                    \
      if (std::getenv("CI") != nullptr) FAIL() << "tshark is required under CI";     \
      GTEST_SKIP() << "tshark not installed (scripts/bootstrap installs it)";        \
    }                                                                                \
  } while (false)

// In a test body that reads the shared captures: they live beside the checkout
// (../shared/pcaps), not in it, so where they are absent the test is skipped, naming the
// directory (CMake's SIMCORE_PCAP_DIR). Present, every file a test names must be there.
#define SIMCORE_REQUIRE_PCAPS(dir)                                                     \
  do {                                                                                 \
    if (!std::filesystem::is_directory(dir)) {                                         \
      GTEST_SKIP() << "no shared captures at " << (dir) << " (set SIMCORE_PCAP_DIR)"; \
    }                                                                                  \
  } while (false)

// Runs `command` through the shell and returns its stdout (empty on failure).
std::string run_command(const std::string& command);

// One row per frame that `filter` selects, one column per field ("" when absent; tshark joins
// repeated occurrences with ',').
std::vector<std::vector<std::string>> tshark_fields(const std::filesystem::path& file,
                                                    const std::string& filter,
                                                    const std::vector<std::string>& fields);

// The frame numbers tshark finds malformed or flags with an expert info of severity error,
// each with its protocol column and info ("" when none).
std::string tshark_problems(const std::filesystem::path& file);

// The same, among the frames `filter` selects, for problems in the layers simcore writes:
// Ethernet, 802.1Q, ARP, IPv4, UDP, TCP, ICMP, GTP (v1-C and U) and GTPv2. A frame counts when
// its dissection ends in one of those (an exception stops it there); random payload bytes that
// a port-guessed application dissector misreads (CoAP on 5683, DNS on 53, ...) do not, as they
// are no protocol of ours.
std::string tshark_problems_in_our_layers(const std::filesystem::path& file,
                                          const std::string& filter);

}  // namespace simcore::dp::testing
