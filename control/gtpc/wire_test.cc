// The encodings GTPv1-C and GTPv2-C share (wire.h): the bounds-checked reader and the writer,
// TBCD digits, APN labels, PLMN digits and PCO DNS containers: round trips and rejects.
#include "control/gtpc/wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace simcore::gtpc {
namespace {

using Bytes = std::vector<uint8_t>;

TEST(Reader, ReadsBigEndianAndFailsPastTheEnd) {
  const Bytes b = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
  Reader r(b);
  EXPECT_EQ(r.u8(), 0x01);
  EXPECT_EQ(r.u16(), 0x0203);
  EXPECT_EQ(r.u24(), 0x040506u);
  EXPECT_FALSE(r.fail());
  EXPECT_EQ(r.u32(), 0u);  // one byte left: a short read gives 0 and sticks
  EXPECT_TRUE(r.fail());
  EXPECT_EQ(r.u8(), 0);  // even though a byte remains, a failed reader stays failed
  EXPECT_TRUE(r.take(0).empty());
}

TEST(Writer, WritesBigEndianAndPatchesLengths) {
  Bytes out;
  Writer w(out);
  w.u8(0xaa);
  const size_t at = w.pos();
  w.u16(0);
  w.u24(0x010203);
  w.u32(0x04050607);
  w.patch_u16(at, 0xbeef);
  EXPECT_EQ(out, (Bytes{0xaa, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07}));
}

TEST(Tbcd, RoundTripsOddAndEvenDigitCounts) {
  for (const std::string digits : {"204080000000001", "0012000", "4365870921102030", "1", "12"}) {
    const Bytes enc = tbcd_encode(digits);
    EXPECT_EQ(enc.size(), (digits.size() + 1) / 2) << digits;
    EXPECT_EQ(tbcd_decode(enc), digits);
  }
  // Low nibble first, 0xF filler in the last high nibble (TS 29.002).
  EXPECT_EQ(tbcd_encode("12345"), (Bytes{0x21, 0x43, 0xf5}));
}

TEST(Tbcd, AcceptsFfPaddingAfterTheDigits) {
  EXPECT_EQ(tbcd_decode(Bytes{0x21, 0xf3, 0xff, 0xff}), "123");
  EXPECT_EQ(tbcd_decode(Bytes{0x21, 0x43, 0xff}), "1234");
}

TEST(Tbcd, RejectsNonDigitsAndDataAfterTheFiller) {
  EXPECT_EQ(tbcd_decode(Bytes{0x2a}), std::nullopt);        // 'a' in the low nibble
  EXPECT_EQ(tbcd_decode(Bytes{0xb1}), std::nullopt);        // 'b' in the high nibble
  EXPECT_EQ(tbcd_decode(Bytes{0xf1, 0x32}), std::nullopt);  // digits after the filler
  EXPECT_EQ(tbcd_decode(Bytes{0xf1, 0x0f}), std::nullopt);  // not 0xFF padding
  EXPECT_EQ(tbcd_decode(Bytes{0x1f}), std::nullopt);        // filler low, digit high
}

TEST(Apn, RoundTripsLabels) {
  for (const std::string apn :
       {"iot.example", "internet", "oai.ipv4", "a.b.c.mnc008.mcc204.gprs"}) {
    EXPECT_EQ(apn_decode(apn_encode(apn)), apn);
  }
  EXPECT_EQ(apn_encode("ab.c"), (Bytes{2, 'a', 'b', 1, 'c'}));
}

TEST(Apn, RejectsOverrunsAndEmptyLabels) {
  EXPECT_EQ(apn_decode(Bytes{}), std::nullopt);
  EXPECT_EQ(apn_decode(Bytes{5, 'a', 'b'}), std::nullopt);  // label runs past the end
  EXPECT_EQ(apn_decode(Bytes{1, 'a', 0}), std::nullopt);    // empty label
  EXPECT_EQ(apn_decode(Bytes{0}), std::nullopt);
}

TEST(Plmn, DecodesTwoAndThreeDigitMncs) {
  const std::optional<Plmn> nl = plmn_decode(Bytes{0x02, 0xf4, 0x80});  // 204 / 08
  ASSERT_TRUE(nl);
  EXPECT_EQ(nl->mcc, 204);
  EXPECT_EQ(nl->mnc, 8);
  EXPECT_FALSE(nl->mnc_three_digits);
  const std::optional<Plmn> us = plmn_decode(Bytes{0x13, 0x00, 0x14});  // 310 / 410
  ASSERT_TRUE(us);
  EXPECT_EQ(us->mcc, 310);
  EXPECT_EQ(us->mnc, 410);
  EXPECT_TRUE(us->mnc_three_digits);
}

TEST(Plmn, RejectsBadDigitsAndSizes) {
  EXPECT_EQ(plmn_decode(Bytes{0x0a, 0xf4, 0x80}), std::nullopt);  // MCC digit 10
  EXPECT_EQ(plmn_decode(Bytes{0x02, 0xf4, 0x8c}), std::nullopt);  // MNC digit 12
  EXPECT_EQ(plmn_decode(Bytes{0x02, 0xe4, 0x80}), std::nullopt);  // MNC3 0xE: not a filler
  EXPECT_EQ(plmn_decode(Bytes{0x02, 0xf4}), std::nullopt);
  EXPECT_EQ(plmn_decode(Bytes{0x02, 0xf4, 0x80, 0x00}), std::nullopt);
}

TEST(Pco, DecodesDnsAndIpcpRequests) {
  // 0x80, IPCP Configure-Request id 7 asking primary DNS 0.0.0.0, then container 0x000D.
  const Bytes pco = {0x80, 0x80, 0x21, 0x0a, 0x01, 0x07, 0x00, 0x0a, 0x81,
                     0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x00};
  const PcoAsk ask = pco_decode(pco);
  EXPECT_TRUE(ask.dns_ipv4);
  EXPECT_TRUE(ask.ipcp);
  EXPECT_EQ(ask.ipcp_id, 7);
  const PcoAsk only_dns = pco_decode(Bytes{0x80, 0x00, 0x0d, 0x00});
  EXPECT_TRUE(only_dns.dns_ipv4);
  EXPECT_FALSE(only_dns.ipcp);
}

TEST(Pco, MalformedOrUnrelatedAsksNothing) {
  for (const Bytes& b : {Bytes{}, Bytes{0x80, 0x00, 0x0d, 0x05, 0x01},  // container overruns
                         Bytes{0x80, 0x00, 0x10, 0x00},                 // MTU request only
                         Bytes{0x80, 0x80, 0x21, 0x02, 0x03, 0x01}}) {  // IPCP Nak, short
    const PcoAsk ask = pco_decode(b);
    EXPECT_FALSE(ask.dns_ipv4);
    EXPECT_FALSE(ask.ipcp);
  }
}

TEST(Pco, EncodesDnsContainersAndIpcpNak) {
  const core::Ipv4 dns[] = {{0x08080808}, {0x01010101}};
  PcoAsk ask;
  ask.dns_ipv4 = true;
  EXPECT_EQ(pco_encode(ask, dns),
            (Bytes{0x80, 0x00, 0x0d, 0x04, 8, 8, 8, 8, 0x00, 0x0d, 0x04, 1, 1, 1, 1}));
  PcoAsk ipcp;
  ipcp.ipcp = true;
  ipcp.ipcp_id = 9;
  EXPECT_EQ(pco_encode(ipcp, dns), (Bytes{0x80, 0x80, 0x21, 16, 0x03, 9, 0x00, 16, 129, 6,
                                          8,    8,    8,    8,  131,  6, 1,    1,  1,   1}));
  // What we encode, the decoder reads as answering DNS (the Nak is no request).
  const PcoAsk back = pco_decode(pco_encode(ask, dns));
  EXPECT_TRUE(back.dns_ipv4);
  EXPECT_FALSE(back.ipcp);
  EXPECT_EQ(pco_encode(PcoAsk{}, dns), Bytes{0x80});  // nothing asked, nothing given
}

}  // namespace
}  // namespace simcore::gtpc
