// Two embedded charons, each in its own process (charon is a process singleton), negotiate over a
// socket pair that stands in for the wire between their punt paths. The test process runs no
// charon: it steers both peers and reads what they report (status and installed SAs).
#include "control/ike/ike.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

namespace simcore::ctl::ike {
namespace {

using namespace std::chrono_literals;

core::Ipv4 ip(const char* s) { return *core::Ipv4::parse(s); }
core::Cidr cidr(const char* s) { return *core::Cidr::parse(s); }

struct PeerSpec {
  core::Ipv4 local, peer;
  bool initiator = false;
  std::string psk = "lab-secret-0123456789";
  std::vector<std::string> esp{"aes128gcm16-ecp256"};
  std::vector<std::string> ike_proposals;
  core::Cidr pool, remote;
  bool force_encap = false;
};

core::Model model_of(const PeerSpec& s) {
  core::Model m;
  core::Network n;
  n.id = core::NetworkId{1};
  n.name = "net";
  n.pools.push_back({core::PoolId{1}, s.pool});
  core::IpsecTunnel t;
  t.id = core::TunnelId{7};
  t.name = "to-peer";
  t.peer = s.peer;
  t.remote_subnets = {s.remote};
  t.esp_proposals = s.esp;
  t.ike_proposals = s.ike_proposals;
  t.pre_shared_key = s.psk;
  t.initiator = s.initiator;
  t.dpd_seconds = 0;
  n.tunnels.push_back(t);
  m.networks[n.id] = n;
  return m;
}

std::string hex(const std::vector<uint8_t>& b) {
  static const char k[] = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += k[x >> 4];
    s += k[x & 15];
  }
  return s.empty() ? "-" : s;
}

// One line per fact, so the test can compare the two peers' views.
std::string report(const Ike& ike) {
  std::ostringstream o;
  if (auto st = ike.status(core::TunnelId{7})) {
    o << "ike " << st->ike_state << " " << st->ike_spi_initiator << " " << st->ike_spi_responder
      << " rekeys=" << st->rekeys << "\n";
    o << "error " << (st->last_error.empty() ? "-" : st->last_error) << "\n";
    for (const ChildSaStatus& c : st->child_sas) {
      o << "child " << c.state << " " << c.spi_in << " " << c.spi_out << " " << c.encryption << " "
        << c.encryption_key_bits << " " << c.key_fingerprint_in << " " << c.key_fingerprint_out
        << "\n";
    }
  } else {
    o << "ike NONE\n";
  }
  o << "malformed " << ike.malformed() << "\n";
  for (const Sa& sa : ike.sad()) {
    o << "sa " << (sa.inbound ? "in" : "out") << " " << sa.spi << " " << sa.src.str() << " "
      << sa.dst.str() << " " << sa.enc_alg << " " << hex(sa.enc_key) << " " << hex(sa.int_key)
      << " " << sa.tunnel.value << " encap=" << sa.encap << ":" << sa.sport << ":" << sa.dport
      << "\n";
  }
  return o.str();
}

// The peer process: runs charon until told to quit (or 60 s pass), bridging datagrams over
// `link` and answering commands on `ctl` with reports whenever what it would report changes.
[[noreturn]] void run_peer(const PeerSpec& spec, int link, int ctl) {
  Options o;
  o.local = spec.local;
  o.retransmit_tries = 2;
  o.retransmit_timeout_s = 0.5;
  o.force_udp_encap = spec.force_encap;
  auto ike = Ike::start(o, [] {
    return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
  });
  if (!ike) {
    std::string msg = "fatal " + ike.error().message() + "\n";
    (void)!write(ctl, msg.data(), msg.size());
    _exit(1);
  }
  (*ike)->sync(model_of(spec));
  std::string last;
  // IKE on the NAT-T port as it leaves: one zero non-ESP marker, then an IKEv2 header (a
  // non-zero initiator SPI, version 2.0 at byte 17) — RFC 3948 §2.2, RFC 7296 §3.1.
  uint64_t natt_ok = 0, natt_bad = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  bool quit = false;
  while (!quit && std::chrono::steady_clock::now() < deadline) {
    pollfd fds[2] = {{link, POLLIN, 0}, {ctl, POLLIN, 0}};
    ::poll(fds, 2, 5);
    uint8_t buf[9000];
    if (fds[0].revents & POLLIN) {
      const ssize_t n = ::recv(link, buf, sizeof(buf), MSG_DONTWAIT);
      if (n >= 12) {
        Datagram d;
        std::memcpy(&d.src.value, buf, 4);
        std::memcpy(&d.dst.value, buf + 4, 4);
        std::memcpy(&d.sport, buf + 8, 2);
        std::memcpy(&d.dport, buf + 10, 2);
        d.payload.assign(buf + 12, buf + n);
        (*ike)->deliver(d);
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      char cmd = 0;
      if (::recv(ctl, &cmd, 1, MSG_DONTWAIT) <= 0) cmd = 'q';
      if (cmd == 'q') quit = true;
      if (cmd == 'r') (*ike)->rekey(core::TunnelId{7});
      if (cmd == 'd') (*ike)->sync(core::Model{});
    }
    for (const Datagram& d : (*ike)->take_outgoing()) {
      if (d.sport == 4500) {
        const auto& b = d.payload;
        const bool ok = b.size() >= 4 + 28 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0 &&
                        std::any_of(b.begin() + 4, b.begin() + 12, [](uint8_t x) { return x; }) &&
                        b[4 + 17] == 0x20;
        ++(ok ? natt_ok : natt_bad);
      }
      uint8_t out[9000];
      if (d.payload.size() + 12 > sizeof(out)) continue;
      std::memcpy(out, &d.src.value, 4);
      std::memcpy(out + 4, &d.dst.value, 4);
      std::memcpy(out + 8, &d.sport, 2);
      std::memcpy(out + 10, &d.dport, 2);
      std::memcpy(out + 12, d.payload.data(), d.payload.size());
      (void)!::send(link, out, d.payload.size() + 12, MSG_DONTWAIT);
    }
    (void)(*ike)->take_sad();
    std::string now = report(**ike) + "natt " + std::to_string(natt_ok) + " " +
                      std::to_string(natt_bad) + "\n";
    if (now != last) {
      last = now;
      (void)!::send(ctl, now.data(), now.size(), MSG_DONTWAIT);
    }
  }
  ike->reset();  // closes the tunnel: DELETE goes out over the link
  _exit(0);
}

class Peer {
 public:
  Peer(const PeerSpec& spec, int link) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(sv[0]);
      run_peer(spec, link, sv[1]);
    }
    ::close(sv[1]);
    ctl_ = sv[0];
  }
  ~Peer() {
    command('q');
    int status = 0;
    // The peer stops within its own bound; kill only if it hangs past that.
    for (int i = 0; i < 400 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    ::close(ctl_);
  }
  void command(char c) { (void)!::send(ctl_, &c, 1, MSG_DONTWAIT); }
  // Reads reports until none is pending; returns the latest.
  const std::string& latest() {
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(ctl_, buf, sizeof(buf), MSG_DONTWAIT)) > 0) report_.assign(buf, n);
    return report_;
  }

 private:
  pid_t pid_ = -1;
  int ctl_ = -1;
  std::string report_;
};

std::vector<std::string> lines_starting(const std::string& report, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(report);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

std::vector<std::string> fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

struct Pair {
  int link[2] = {-1, -1};
  std::unique_ptr<Peer> a, b;
  Pair(PeerSpec sa, PeerSpec sb) {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, link), 0);
    b = std::make_unique<Peer>(sb, link[1]);
    a = std::make_unique<Peer>(sa, link[0]);
  }
  ~Pair() {
    a.reset();
    b.reset();
    ::close(link[0]);
    ::close(link[1]);
  }
};

PeerSpec side_a() {
  PeerSpec s;
  s.local = ip("192.0.2.1");
  s.peer = ip("192.0.2.2");
  s.initiator = true;
  s.pool = cidr("10.1.0.0/24");
  s.remote = cidr("10.2.0.0/24");
  return s;
}
PeerSpec side_b() {
  PeerSpec s;
  s.local = ip("192.0.2.2");
  s.peer = ip("192.0.2.1");
  s.initiator = false;
  s.pool = cidr("10.2.0.0/24");
  s.remote = cidr("10.1.0.0/24");
  return s;
}

bool established(const std::string& r) {
  return !lines_starting(r, "ike ESTABLISHED").empty() &&
         !lines_starting(r, "child INSTALLED").empty() && lines_starting(r, "sa ").size() == 2;
}

// "sa in <spi> <src> <dst> <alg> <enc key> <int key> <tunnel>" of the given direction.
std::vector<std::string> sa_line(const std::string& r, const char* dir) {
  auto l = lines_starting(r, std::string("sa ") + dir + " ");
  return l.size() == 1 ? fields(l[0]) : std::vector<std::string>{};
}

TEST(IkePair, TunnelComesUpWithMirroredSpisAndKeys) {
  Pair p(side_a(), side_b());
  ASSERT_TRUE(wait_for([&] { return established(p.a->latest()) && established(p.b->latest()); }))
      << "A:\n" << p.a->latest() << "B:\n" << p.b->latest();
  const std::string ra = p.a->latest(), rb = p.b->latest();
  const auto a_in = sa_line(ra, "in"), a_out = sa_line(ra, "out");
  const auto b_in = sa_line(rb, "in"), b_out = sa_line(rb, "out");
  ASSERT_EQ(a_in.size(), 10u);
  ASSERT_EQ(b_out.size(), 10u);
  // A's inbound SA is B's outbound one: same SPI, addresses, algorithm (20 = AES-GCM-16) and
  // the same 16-byte key + 4-byte salt; and the other way round.
  for (size_t i = 2; i < 10; ++i) {
    EXPECT_EQ(a_in[i], b_out[i]) << "field " << i;
    EXPECT_EQ(a_out[i], b_in[i]) << "field " << i;
  }
  EXPECT_EQ(a_in[3], "192.0.2.2");
  EXPECT_EQ(a_in[4], "192.0.2.1");
  EXPECT_EQ(a_in[5], "20");
  EXPECT_EQ(a_in[6].size(), 2u * 20);
  EXPECT_EQ(a_in[8], "7");  // the tunnel id, through the CHILD_SA's reqid
  EXPECT_NE(a_in[6], a_out[6]) << "each direction has its own key";
  // The status shows the same CHILD_SA from both ends, crosswise.
  const auto ca = fields(lines_starting(ra, "child ")[0]);
  const auto cb = fields(lines_starting(rb, "child ")[0]);
  EXPECT_EQ(ca[2], cb[3]);
  EXPECT_EQ(ca[3], cb[2]);
  EXPECT_EQ(ca[4], "AES_GCM_16");
  EXPECT_EQ(ca[5], "128");
  EXPECT_EQ(ca[6], cb[7]);
  EXPECT_EQ(ca[7], cb[6]);
  // The same IKE_SA at both ends.
  EXPECT_EQ(fields(lines_starting(ra, "ike ")[0])[2], fields(lines_starting(rb, "ike ")[0])[2]);
}

TEST(IkePair, CbcWithHmacSha256NegotiatesBothKeys) {
  PeerSpec a = side_a(), b = side_b();
  a.esp = b.esp = {"aes256-sha256-modp2048"};
  Pair p(a, b);
  ASSERT_TRUE(wait_for([&] { return established(p.a->latest()) && established(p.b->latest()); }))
      << p.a->latest();
  const auto a_out = sa_line(p.a->latest(), "out"), b_in = sa_line(p.b->latest(), "in");
  ASSERT_EQ(a_out.size(), 10u);
  EXPECT_EQ(a_out[5], "12");                 // ENCR_AES_CBC
  EXPECT_EQ(a_out[6].size(), 2u * 32);       // AES-256
  EXPECT_EQ(a_out[7].size(), 2u * 32);       // HMAC-SHA2-256 key
  EXPECT_EQ(a_out[6], b_in[6]);
  EXPECT_EQ(a_out[7], b_in[7]);
}

// Forced UDP encapsulation, as when a NAT is detected (and as a stock peer with
// kernel-libipsec always asks): IKE moves to the NAT-T port with its zero non-ESP marker, and
// the SAs are ESP in UDP between the two NAT-T ports.
TEST(IkePair, UdpEncapsulationMovesIkeToTheNatTPortAndEncapsulatesTheSas) {
  PeerSpec a = side_a(), b = side_b();
  a.force_encap = true;
  Pair p(a, b);
  ASSERT_TRUE(wait_for([&] { return established(p.a->latest()) && established(p.b->latest()); }))
      << p.a->latest() << p.b->latest();
  for (const std::string& r : {p.a->latest(), p.b->latest()}) {
    for (const char* dir : {"in", "out"}) {
      const auto f = sa_line(r, dir);
      ASSERT_EQ(f.size(), 10u) << r;
      EXPECT_EQ(f[9], "encap=1:4500:4500") << r;
    }
  }
  EXPECT_EQ(sa_line(p.a->latest(), "in")[6], sa_line(p.b->latest(), "out")[6]);
  // IKE_AUTH went over the NAT-T port from both sides, each message with one marker.
  for (const std::string& r : {p.a->latest(), p.b->latest()}) {
    const auto n = fields(lines_starting(r, "natt ")[0]);
    EXPECT_GE(std::stoi(n[1]), 1) << r;
    EXPECT_EQ(n[2], "0") << r;
  }
}

TEST(IkePair, RekeyReplacesTheSasAndDeleteRemovesThem) {
  Pair p(side_a(), side_b());
  ASSERT_TRUE(wait_for([&] { return established(p.a->latest()) && established(p.b->latest()); }));
  const std::string before = sa_line(p.a->latest(), "in")[2];
  p.a->command('r');
  // After the rekey the old CHILD_SA is deleted: one pair again, with new SPIs and keys.
  ASSERT_TRUE(wait_for([&] {
    const std::string r = p.a->latest();
    return established(r) &&
           sa_line(r, "in").size() == 10 && sa_line(r, "in")[2] != before &&
           established(p.b->latest()) && sa_line(p.b->latest(), "out").size() == 10 &&
           sa_line(p.b->latest(), "out")[2] == sa_line(r, "in")[2];
  })) << p.a->latest() << p.b->latest();
  EXPECT_NE(p.a->latest().find("rekeys=1"), std::string::npos) << p.a->latest();
  EXPECT_EQ(sa_line(p.a->latest(), "in")[6], sa_line(p.b->latest(), "out")[6]);

  p.a->command('d');  // the tunnel object is deleted at A: DELETE reaches B
  ASSERT_TRUE(wait_for([&] {
    return lines_starting(p.a->latest(), "sa ").empty() &&
           lines_starting(p.b->latest(), "sa ").empty() &&
           !lines_starting(p.b->latest(), "ike DOWN").empty();
  })) << p.a->latest() << p.b->latest();
  EXPECT_FALSE(lines_starting(p.a->latest(), "ike NONE").empty());
}

TEST(IkePair, WrongPskLeavesTheTunnelDownWithTheReason) {
  PeerSpec b = side_b();
  b.psk = "not-the-same-secret";
  Pair p(side_a(), b);
  ASSERT_TRUE(wait_for([&] {
    return p.a->latest().find("pre-shared key mismatch") != std::string::npos &&
           p.b->latest().find("pre-shared key mismatch") != std::string::npos;
  })) << p.a->latest() << p.b->latest();
  EXPECT_TRUE(lines_starting(p.a->latest(), "sa ").empty());
  EXPECT_TRUE(lines_starting(p.b->latest(), "sa ").empty());
  EXPECT_TRUE(lines_starting(p.b->latest(), "ike ESTABLISHED").empty());
}

TEST(IkePair, NoCommonEspProposalIsReported) {
  PeerSpec b = side_b();
  b.esp = {"aes256-sha512-modp4096"};
  Pair p(side_a(), b);
  ASSERT_TRUE(wait_for([&] {
    return p.b->latest().find("no ESP proposal") != std::string::npos;
  })) << p.b->latest();
  EXPECT_TRUE(lines_starting(p.b->latest(), "sa ").empty());
}

TEST(IkePair, ABadProposalIsRefusedWithTheReason) {
  PeerSpec a = side_a();
  a.esp = {"aes128gcm16-nonsense"};
  Pair p(a, side_b());
  ASSERT_TRUE(wait_for([&] {
    return p.a->latest().find("invalid proposal 'aes128gcm16-nonsense'") != std::string::npos;
  })) << p.a->latest();
}

// Garbage where IKE is expected: dropped by charon's parser, never a crash, and the tunnel
// still comes up afterwards.
TEST(IkePair, GarbageOnThePuntPathIsDropped) {
  PeerSpec b = side_b();
  b.initiator = false;
  Pair p(side_a(), b);
  // Inject junk as if it came from the peer, straight into A's link end.
  for (size_t len : {1, 8, 27, 28, 29, 200, 1500}) {
    std::vector<uint8_t> junk(12 + len);
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(i * 37 + len);
    const uint32_t src = ip("192.0.2.2").value, dst = ip("192.0.2.1").value;
    const uint16_t port = 500;
    std::memcpy(junk.data(), &src, 4);
    std::memcpy(junk.data() + 4, &dst, 4);
    std::memcpy(junk.data() + 8, &port, 2);
    std::memcpy(junk.data() + 10, &port, 2);
    (void)!::send(p.link[1], junk.data(), junk.size(), MSG_DONTWAIT);
  }
  ASSERT_TRUE(wait_for([&] { return established(p.a->latest()) && established(p.b->latest()); }))
      << p.a->latest();
  // charon counted the ones it tried to parse as IKE (it drops those shorter than an IKE
  // header, or of another IKE version, before that); the tunnel did not notice.
  const auto m = lines_starting(p.a->latest(), "malformed ");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_GE(std::stoi(fields(m[0])[1]), 1) << p.a->latest();
}

}  // namespace
}  // namespace simcore::ctl::ike
