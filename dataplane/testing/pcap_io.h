// dataplane/testing/pcap_io.h — capture files in and out of tests: frames of a pcap/pcapng as
// Ethernet frames, and Ethernet frames into a pcap (the input of a net_pcap port).
#pragma once

#include <filesystem>
#include <vector>

#include "dataplane/testing/frame_builder.h"

namespace simcore::dp::testing {

// Returns the frames of `file` as Ethernet frames: Linux cooked (SLL) and BSD loopback (NULL)
// captures get an Ethernet header carrying the same protocol. `readable` false: libpcap must
// refuse the file after the frames returned (gtest failures otherwise).
std::vector<Bytes> read_frames(const std::filesystem::path& file, bool readable = true);

// Writes `frames` to a pcap (Ethernet, microsecond timestamps 1 ms apart). Fails the current
// test and returns false when the file cannot be written.
bool write_pcap(const std::filesystem::path& file, const std::vector<Bytes>& frames);

}  // namespace simcore::dp::testing
