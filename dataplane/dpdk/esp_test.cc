// ESP through rte_ipsec on the ipsec_mb PMDs: one side's outbound SA and the other side's
// inbound SA share SPI and keys (as IKE installs them), so what one encrypts the other decrypts
// byte for byte; tampering, replay and the wrong key fail; tshark decrypts what we emit with the
// same keys.
#include "dataplane/dpdk/esp.h"

#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <filesystem>

#include "dataplane/packet/wire.h"
#include "dataplane/testing/frame_builder.h"
#include "dataplane/testing/pcap_io.h"
#include "dataplane/testing/tshark.h"

namespace simcore::dp {
namespace {

using testing::Bytes;
using testing::ip;

class Esp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pool_ = rte_pktmbuf_pool_create("esp_test", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    static_cast<int>(rte_socket_id()));
    auto c = EspCrypto::create();
    ASSERT_TRUE(c.ok()) << c.error().message();
    crypto_ = c->release();
  }
  static void TearDownTestSuite() {
    delete crypto_;
    crypto_ = nullptr;
    rte_mempool_free(pool_);
    pool_ = nullptr;
  }

  static EspSaSpec spec(bool inbound, uint16_t enc, std::vector<uint8_t> key, uint16_t integ = 0,
                        std::vector<uint8_t> ikey = {}) {
    EspSaSpec s;
    s.tunnel_id = 7;
    s.spi = 0xc1234567;
    s.inbound = inbound;
    s.src = ip("192.0.2.1");
    s.dst = ip("192.0.2.2");
    s.enc_alg = enc;
    s.enc_key = std::move(key);
    s.int_alg = integ;
    s.int_key = std::move(ikey);
    return s;
  }
  static std::vector<uint8_t> bytes(size_t n, uint8_t seed) {
    std::vector<uint8_t> b(n);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + 31 * i);
    return b;
  }
  // An inner IPv4/UDP packet of `payload` bytes from a Thing to the far subnet.
  static Bytes inner(size_t payload, uint8_t seed = 1) {
    const testing::Ip4 i = testing::ip4(ip("10.1.0.5"), ip("10.2.0.9"));
    return testing::ipv4(i, kProtoUdp, testing::udp(i, 4000, 5000, bytes(payload, seed)));
  }
  static rte_mbuf* mbuf_of(const Bytes& b) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(b.size())), b.data(), b.size());
    return m;
  }
  static Bytes bytes_of(const rte_mbuf* m) {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    return Bytes(p, p + m->pkt_len);
  }
  static std::unique_ptr<EspSa> sa(const EspSaSpec& s) {
    auto r = EspSa::create(*crypto_, s);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? std::move(*r) : nullptr;
  }

  static inline rte_mempool* pool_ = nullptr;
  static inline EspCrypto* crypto_ = nullptr;
};

// Encrypts `in` with `out_sa` and returns the ESP packet (outer IPv4 first).
Bytes encrypt(EspSa& out_sa, const Bytes& in, rte_mempool* pool) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(in.size())), in.data(), in.size());
  rte_mbuf* mb[1] = {m};
  EXPECT_EQ(out_sa.encrypt(mb, 1, 0, 1), 1);
  const auto* p = rte_pktmbuf_mtod(mb[0], const uint8_t*);
  Bytes out(p, p + mb[0]->pkt_len);
  rte_pktmbuf_free(mb[0]);
  return out;
}

// Decrypts `esp` with `in_sa`: the inner packet, or empty when it failed (`replayed` says why).
Bytes decrypt(EspSa& in_sa, const Bytes& esp, rte_mempool* pool, uint16_t* replayed = nullptr) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(esp.size())), esp.data(), esp.size());
  rte_mbuf* mb[1] = {m};
  uint16_t r = 0;
  const uint16_t ok = in_sa.decrypt(mb, 1, 0, 1, r);
  if (replayed) *replayed = r;
  Bytes out;
  if (ok == 1) {
    const auto* p = rte_pktmbuf_mtod(mb[0], const uint8_t*);
    out.assign(p, p + mb[0]->pkt_len);
  }
  rte_pktmbuf_free(mb[0]);
  return out;
}

TEST_F(Esp, AesGcmRoundTripsByteForByteWithCorrectHeaders) {
  const auto key = bytes(20, 9);  // 16-byte key + 4-byte salt
  auto a = sa(spec(false, kEncrAesGcm16, key));
  auto b = sa(spec(true, kEncrAesGcm16, key));
  ASSERT_TRUE(a && b);
  for (size_t payload : {0, 36, 472, 1372}) {
    const Bytes plain = inner(payload);
    const Bytes esp = encrypt(*a, plain, pool_);
    // Outer IPv4: ours to the peer, ESP, a valid header checksum and the right length.
    ASSERT_GE(esp.size(), 20u + 8 + 8 + 16 + plain.size());
    EXPECT_EQ(esp[0], 0x45);
    EXPECT_EQ(esp[9], 50);
    EXPECT_EQ(load_be32(esp.data() + 12), ip("192.0.2.1"));
    EXPECT_EQ(load_be32(esp.data() + 16), ip("192.0.2.2"));
    EXPECT_EQ(load_be16(esp.data() + 2), esp.size());
    EXPECT_EQ(testing::ipv4_header_checksum(esp.data()), load_be16(esp.data() + 10));
    EXPECT_EQ(load_be32(esp.data() + 20), 0xc1234567u);  // SPI
    EXPECT_EQ(esp_spi(esp.data(), static_cast<uint32_t>(esp.size())), 0xc1234567u);
    // The payload is not in clear.
    EXPECT_EQ(std::search(esp.begin(), esp.end(), plain.begin() + 28, plain.end()) -
                  esp.begin(),
              payload == 0 ? 0 : static_cast<long>(esp.size()));
    EXPECT_EQ(decrypt(*b, esp, pool_), plain) << "payload " << payload;
  }
  EXPECT_EQ(a->total().packets, 4u);
  EXPECT_EQ(b->total().packets, 4u);
  EXPECT_EQ(b->total().bytes, a->total().bytes);
}

TEST_F(Esp, SequenceNumbersCountUpAndReplaysAreRefused) {
  const auto key = bytes(20, 3);
  auto a = sa(spec(false, kEncrAesGcm16, key));
  auto b = sa(spec(true, kEncrAesGcm16, key));
  ASSERT_TRUE(a && b);
  const Bytes first = encrypt(*a, inner(100), pool_);
  const Bytes second = encrypt(*a, inner(100), pool_);
  EXPECT_EQ(load_be32(first.data() + 24), 1u);
  EXPECT_EQ(load_be32(second.data() + 24), 2u);
  uint16_t replayed = 0;
  EXPECT_FALSE(decrypt(*b, second, pool_).empty());
  EXPECT_FALSE(decrypt(*b, first, pool_).empty()) << "inside the window, out of order is fine";
  EXPECT_TRUE(decrypt(*b, first, pool_, &replayed).empty());
  EXPECT_EQ(replayed, 1);
  EXPECT_TRUE(decrypt(*b, second, pool_, &replayed).empty());
  EXPECT_EQ(replayed, 1);
}

// In one call, a repeat passes rte_ipsec's window check (which sees the window as it was before
// the call) and fails later: it is still a replay, and a tampered packet next to it is not.
TEST_F(Esp, ARepeatWithinOneCallIsAReplayAndATamperedOneIsNot) {
  const auto key = bytes(20, 4);
  auto a = sa(spec(false, kEncrAesGcm16, key));
  auto b = sa(spec(true, kEncrAesGcm16, key));
  ASSERT_TRUE(a && b);
  const Bytes first = encrypt(*a, inner(100, 1), pool_);
  const Bytes second = encrypt(*a, inner(100, 2), pool_);
  Bytes third = encrypt(*a, inner(100, 3), pool_);
  third[third.size() - 1] ^= 0x01;  // the ICV
  rte_mbuf* mb[4] = {mbuf_of(first), mbuf_of(second), mbuf_of(first), mbuf_of(third)};
  uint16_t replayed = 0;
  const uint16_t ok = b->decrypt(mb, 4, 0, 1, replayed);
  ASSERT_EQ(ok, 2);
  EXPECT_EQ(replayed, 1);
  EXPECT_EQ(bytes_of(mb[0]), inner(100, 1));
  EXPECT_EQ(bytes_of(mb[1]), inner(100, 2));
  for (rte_mbuf* m : mb) rte_pktmbuf_free(m);
}

TEST_F(Esp, ATamperedPacketOrAWrongKeyFailsAuthentication) {
  const auto key = bytes(20, 5);
  auto a = sa(spec(false, kEncrAesGcm16, key));
  auto b = sa(spec(true, kEncrAesGcm16, key));
  auto wrong = sa(spec(true, kEncrAesGcm16, bytes(20, 6)));
  ASSERT_TRUE(a && b && wrong);
  Bytes esp = encrypt(*a, inner(200), pool_);
  uint16_t replayed = 9;
  EXPECT_TRUE(decrypt(*wrong, esp, pool_, &replayed).empty());
  EXPECT_EQ(replayed, 0) << "an authentication failure, not a replay";
  for (size_t at : {size_t{30}, esp.size() / 2, esp.size() - 1}) {  // IV, payload, ICV
    Bytes bad = esp;
    bad[at] ^= 0x01;
    EXPECT_TRUE(decrypt(*b, bad, pool_, &replayed).empty()) << at;
    EXPECT_EQ(replayed, 0);
  }
  // The genuine packet still passes: failed ones did not move the window.
  EXPECT_EQ(decrypt(*b, esp, pool_), inner(200));
}

TEST_F(Esp, AesCbcWithHmacSha256RoundTrips) {
  const auto key = bytes(32, 1), ikey = bytes(32, 2);
  auto a = sa(spec(false, kEncrAesCbc, key, kAuthHmacSha256_128, ikey));
  auto b = sa(spec(true, kEncrAesCbc, key, kAuthHmacSha256_128, ikey));
  ASSERT_TRUE(a && b);
  const Bytes plain = inner(333);
  const Bytes esp = encrypt(*a, plain, pool_);
  EXPECT_EQ((esp.size() - 20 - 8 - 16 - 16) % 16, 0u) << "CBC pads to its block";
  EXPECT_EQ(decrypt(*b, esp, pool_), plain);
  Bytes bad = esp;
  bad[esp.size() - 20] ^= 0x80;
  EXPECT_TRUE(decrypt(*b, bad, pool_).empty());
}

TEST_F(Esp, UdpEncapsulationWrapsAndUnwraps) {
  const auto key = bytes(36, 4);  // AES-256-GCM
  EspSaSpec out = spec(false, kEncrAesGcm16, key), in = spec(true, kEncrAesGcm16, key);
  out.encap = in.encap = true;
  out.sport = in.sport = 4500;
  out.dport = in.dport = 4501;
  auto a = sa(out);
  auto b = sa(in);
  ASSERT_TRUE(a && b);
  const Bytes plain = inner(64);
  const Bytes esp = encrypt(*a, plain, pool_);
  EXPECT_EQ(esp[9], kProtoUdp);
  EXPECT_EQ(load_be16(esp.data() + 20), 4500);
  EXPECT_EQ(load_be16(esp.data() + 22), 4501);
  EXPECT_EQ(load_be16(esp.data() + 24), esp.size() - 20);
  EXPECT_EQ(load_be16(esp.data() + 2), esp.size());
  EXPECT_EQ(testing::ipv4_header_checksum(esp.data()), load_be16(esp.data() + 10));
  EXPECT_EQ(esp_spi(esp.data(), static_cast<uint32_t>(esp.size())), 0xc1234567u);
  EXPECT_EQ(decrypt(*b, esp, pool_), plain);
}

TEST_F(Esp, UnimplementedAlgorithmsAreRefusedNamingTheField) {
  auto r = EspSa::create(*crypto_, spec(false, 3 /* 3DES */, bytes(24, 1)));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("encryption transform 3"), std::string::npos);
  r = EspSa::create(*crypto_, spec(false, kEncrAesGcm16, bytes(15, 1)));
  ASSERT_FALSE(r.ok());
  r = EspSa::create(*crypto_, spec(false, kEncrAesCbc, bytes(16, 1), 5, bytes(16, 1)));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("integrity transform 5"), std::string::npos);
}

TEST_F(Esp, TheTableFindsInboundBySpiAndTheNewestOutboundByTunnel) {
  const auto key = bytes(20, 1);
  EspTable t;
  EspSaSpec old_out = spec(false, kEncrAesGcm16, key), new_out = old_out, in = spec(true, kEncrAesGcm16, key);
  new_out.spi = 0xc7654321;
  t.sas.push_back(sa(old_out));
  t.sas.push_back(sa(in));
  t.sas.push_back(sa(new_out));
  t.index();
  ASSERT_NE(t.find_inbound(0xc1234567), nullptr);
  EXPECT_TRUE(t.find_inbound(0xc1234567)->spec().inbound);
  EXPECT_EQ(t.find_inbound(0xc7654321), nullptr);
  ASSERT_NE(t.find_outbound(7), nullptr);
  EXPECT_EQ(t.find_outbound(7)->spec().spi, 0xc7654321u);
  EXPECT_EQ(t.find_outbound(8), nullptr);
}

// tshark, given the SA's key, decrypts our ESP and finds the inner packet intact.
TEST_F(Esp, TsharkDecryptsWhatWeEncrypt) {
  SIMCORE_REQUIRE_TSHARK();
  const auto key = bytes(20, 7);
  auto a = sa(spec(false, kEncrAesGcm16, key));
  ASSERT_TRUE(a);
  std::vector<Bytes> frames;
  for (int i = 0; i < 3; ++i) {
    const Bytes esp = encrypt(*a, inner(50 + 100 * i, static_cast<uint8_t>(i)), pool_);
    frames.push_back(testing::ethernet(Mac{2, 0, 0, 0, 0, 2}, Mac{2, 0, 0, 0, 0, 1},
                                       kEtherTypeIpv4, esp));
  }
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("esp_test_" + std::to_string(getpid()) + ".pcap");
  ASSERT_TRUE(testing::write_pcap(file, frames));
  std::string hex_key = "0x";
  for (uint8_t b : key) {
    static const char k[] = "0123456789abcdef";
    hex_key += k[b >> 4];
    hex_key += k[b & 15];
  }
  // Wireshark's ESP SA table (UAT esp_sa): protocol, src, dst, SPI, encryption, key,
  // authentication, key; the algorithms by their names in Wireshark's menus. With AES-GCM the
  // authentication is NULL.
  const std::string uat = "\"IPv4\",\"192.0.2.1\",\"192.0.2.2\",\"0xc1234567\","
                          "\"AES-GCM with 16 octet ICV [RFC4106]\",\"" +
                          hex_key + "\",\"NULL\",\"\"";
  const std::string out = testing::run_command(
      "tshark -r " + file.string() +
      " -o esp.enable_encryption_decode:TRUE -o 'uat:esp_sa:" + uat +
      "' -T fields -e esp.spi -e esp.sequence -e ip.src -e udp.dstport -e udp.length 2>&1");
  std::filesystem::remove(file);
  // Each line: SPI, sequence, then the outer and the decrypted inner source, and the inner
  // UDP's port and length.
  EXPECT_NE(out.find("0xc1234567\t1\t192.0.2.1,10.1.0.5\t5000\t58"), std::string::npos) << out;
  EXPECT_NE(out.find("\t2\t192.0.2.1,10.1.0.5\t5000\t158"), std::string::npos) << out;
  EXPECT_NE(out.find("\t3\t192.0.2.1,10.1.0.5\t5000\t258"), std::string::npos) << out;
}

}  // namespace
}  // namespace simcore::dp
