#include "dataplane/testing/pcap_io.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstring>

#include "dataplane/packet/wire.h"

namespace simcore::dp::testing {

std::vector<Bytes> read_frames(const std::filesystem::path& file, bool readable) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(file.c_str(), err);
  EXPECT_NE(p, nullptr) << err;
  if (p == nullptr) return {};
  const int link = pcap_datalink(p);
  std::vector<Bytes> frames;
  pcap_pkthdr* h;
  const u_char* data;
  int rc;
  while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
    Bytes b(data, data + h->caplen);
    if (link == DLT_LINUX_SLL && b.size() >= 16) {
      const uint16_t proto = load_be16(b.data() + 14);
      b = ethernet(Mac{}, Mac{}, proto, Bytes(b.begin() + 16, b.end()));
    } else if (link == DLT_NULL && b.size() >= 4) {
      uint32_t family;
      std::memcpy(&family, b.data(), 4);
      const uint16_t type = family == 2 ? kEtherTypeIpv4 : kEtherTypeIpv6;
      b = ethernet(Mac{}, Mac{}, type, Bytes(b.begin() + 4, b.end()));
    } else {
      EXPECT_EQ(link, DLT_EN10MB) << file;
    }
    frames.push_back(std::move(b));
  }
  EXPECT_EQ(rc, readable ? PCAP_ERROR_BREAK : PCAP_ERROR) << file << ": " << pcap_geterr(p);
  pcap_close(p);
  return frames;
}

bool write_pcap(const std::filesystem::path& file, const std::vector<Bytes>& frames) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* d = pcap_dump_open(dead, file.c_str());
  EXPECT_NE(d, nullptr) << file << ": " << pcap_geterr(dead);
  if (d == nullptr) {
    pcap_close(dead);
    return false;
  }
  for (size_t i = 0; i < frames.size(); ++i) {
    pcap_pkthdr h{};
    h.ts.tv_sec = 1700000000 + static_cast<time_t>(i / 1000);
    h.ts.tv_usec = static_cast<suseconds_t>((i % 1000) * 1000);
    h.caplen = h.len = static_cast<uint32_t>(frames[i].size());
    pcap_dump(reinterpret_cast<u_char*>(d), &h, frames[i].data());
  }
  pcap_dump_close(d);
  pcap_close(dead);
  return true;
}

}  // namespace simcore::dp::testing
