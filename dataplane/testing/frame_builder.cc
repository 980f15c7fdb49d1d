#include "dataplane/testing/frame_builder.h"

#include <cstdio>
#include <cstdlib>

namespace simcore::dp::testing {
namespace {

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Plain RFC 1071 in 64 bits, folded at the end.
uint16_t csum(const uint8_t* p, size_t n, uint64_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += get16(p + i);
  if (n % 2) sum += uint64_t{p[n - 1]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

uint64_t pseudo(uint32_t src, uint32_t dst, uint8_t proto, size_t len) {
  return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

}  // namespace

uint32_t ip(const char* dotted) {
  unsigned a, b, c, d;
  if (std::sscanf(dotted, "%u.%u.%u.%u", &a, &b, &c, &d) != 4) std::abort();
  return a << 24 | b << 16 | c << 8 | d;
}

Bytes udp(const Ip4& ip, uint16_t sport, uint16_t dport, const Bytes& payload, bool checksum) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<uint16_t>(8 + payload.size()));
  put16(b, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  if (checksum) {
    uint16_t c = csum(b.data(), b.size(), pseudo(ip.src, ip.dst, 17, b.size()));
    if (c == 0) c = 0xffff;
    b[6] = static_cast<uint8_t>(c >> 8);
    b[7] = static_cast<uint8_t>(c);
  }
  return b;
}

Bytes tcp(const Ip4& ip, uint16_t sport, uint16_t dport, const Bytes& payload) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put32(b, 0x01020304);  // sequence
  put32(b, 0);           // acknowledgement
  put16(b, 0x5002);      // data offset 5, SYN
  put16(b, 65535);       // window
  put16(b, 0);           // checksum
  put16(b, 0);           // urgent
  b.insert(b.end(), payload.begin(), payload.end());
  const uint16_t c = csum(b.data(), b.size(), pseudo(ip.src, ip.dst, 6, b.size()));
  b[16] = static_cast<uint8_t>(c >> 8);
  b[17] = static_cast<uint8_t>(c);
  return b;
}

Bytes icmp_echo(uint16_t id, uint16_t seq, const Bytes& payload) {
  Bytes b{8, 0, 0, 0};
  put16(b, id);
  put16(b, seq);
  b.insert(b.end(), payload.begin(), payload.end());
  const uint16_t c = csum(b.data(), b.size());
  b[2] = static_cast<uint8_t>(c >> 8);
  b[3] = static_cast<uint8_t>(c);
  return b;
}

Bytes icmp_error(uint8_t type, uint8_t code, uint32_t rest, const Bytes& quote) {
  Bytes b{type, code, 0, 0};
  put32(b, rest);
  b.insert(b.end(), quote.begin(), quote.end());
  const uint16_t c = csum(b.data(), b.size());
  b[2] = static_cast<uint8_t>(c >> 8);
  b[3] = static_cast<uint8_t>(c);
  return b;
}

Bytes arp(uint16_t op, const Mac& sha, uint32_t spa, const Mac& tha, uint32_t tpa) {
  Bytes b;
  put16(b, 1);       // Ethernet
  put16(b, 0x0800);  // IPv4
  b.push_back(6);
  b.push_back(4);
  put16(b, op);
  b.insert(b.end(), sha.begin(), sha.end());
  put32(b, spa);
  b.insert(b.end(), tha.begin(), tha.end());
  put32(b, tpa);
  return b;
}

bool checksum_ok(const uint8_t* p, size_t n) { return csum(p, n) == 0; }

Bytes ipv4(const Ip4& ip, uint8_t proto, const Bytes& l4) {
  Bytes b;
  const size_t hdr = 20 + ip.options.size();
  b.push_back(static_cast<uint8_t>(0x40 | (hdr / 4)));
  b.push_back(ip.tos);
  put16(b, static_cast<uint16_t>(hdr + l4.size()));
  put16(b, ip.id);
  put16(b, ip.frag);
  b.push_back(ip.ttl);
  b.push_back(proto);
  put16(b, 0);
  put32(b, ip.src);
  put32(b, ip.dst);
  b.insert(b.end(), ip.options.begin(), ip.options.end());
  const uint16_t c = csum(b.data(), hdr);
  b[10] = static_cast<uint8_t>(c >> 8);
  b[11] = static_cast<uint8_t>(c);
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

Bytes ipv6_udp(const Bytes& payload) {
  Bytes b{0x60, 0, 0, 0};
  put16(b, static_cast<uint16_t>(payload.size()));
  b.push_back(17);
  b.push_back(64);
  for (int i = 0; i < 32; ++i) b.push_back(static_cast<uint8_t>(i == 15 || i == 31 ? 1 : 0));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes gtpu(uint8_t type, uint32_t teid, const Bytes& payload, const GtpuOpts& opts) {
  Bytes opt;
  uint8_t flags = 0x30;
  if (opts.seq || opts.npdu || !opts.ext.empty()) {
    if (opts.seq) flags |= 0x02;
    if (opts.npdu) flags |= 0x01;
    if (!opts.ext.empty()) flags |= 0x04;
    put16(opt, opts.seq.value_or(0));
    opt.push_back(opts.npdu.value_or(0));
    opt.push_back(opts.ext.empty() ? 0 : opts.ext[0].first);
    for (size_t i = 0; i < opts.ext.size(); ++i) {
      const Bytes& c = opts.ext[i].second;
      if ((c.size() + 2) % 4 != 0) std::abort();
      opt.push_back(static_cast<uint8_t>((c.size() + 2) / 4));
      opt.insert(opt.end(), c.begin(), c.end());
      opt.push_back(i + 1 < opts.ext.size() ? opts.ext[i + 1].first : 0);
    }
  }
  Bytes b{flags, type};
  put16(b, static_cast<uint16_t>(opt.size() + payload.size()));
  put32(b, teid);
  b.insert(b.end(), opt.begin(), opt.end());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes ethernet(const Mac& dst, const Mac& src, uint16_t ethertype, const Bytes& payload,
               const std::vector<Tag>& tags) {
  Bytes b(dst.begin(), dst.end());
  b.insert(b.end(), src.begin(), src.end());
  for (const Tag& t : tags) {
    put16(b, t.tpid);
    put16(b, t.tci);
  }
  put16(b, ethertype);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

uint16_t ipv4_header_checksum(const uint8_t* ip) {
  Bytes h(ip, ip + (ip[0] & 0x0f) * 4);
  h[10] = h[11] = 0;
  return csum(h.data(), h.size());
}

uint16_t l4_checksum(const uint8_t* ip) {
  const size_t hdr = (ip[0] & 0x0f) * 4u;
  const size_t total = get16(ip + 2);
  const uint8_t proto = ip[9];
  Bytes l4(ip + hdr, ip + total);
  const size_t at = proto == 6 ? 16 : 6;
  l4[at] = l4[at + 1] = 0;
  const uint32_t src = uint32_t{get16(ip + 12)} << 16 | get16(ip + 14);
  const uint32_t dst = uint32_t{get16(ip + 16)} << 16 | get16(ip + 18);
  uint16_t c = csum(l4.data(), l4.size(), pseudo(src, dst, proto, l4.size()));
  if (proto == 17 && c == 0) c = 0xffff;
  return c;
}

OwnedFrame::OwnedFrame(const Bytes& bytes, uint32_t headroom, uint32_t tailroom)
    : storage(headroom + bytes.size() + tailroom) {
  std::copy(bytes.begin(), bytes.end(), storage.begin() + headroom);
  frame.buf = storage;
  frame.data_off = headroom;
  frame.data_len = static_cast<uint32_t>(bytes.size());
}

std::string hex(const Bytes& b) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < b.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", b[i]);
    if (i) s += (i % 16 == 0) ? '\n' : ' ';
    s += buf;
  }
  return s;
}

}  // namespace simcore::dp::testing
