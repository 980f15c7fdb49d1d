// tests/support/netns.h — lab topology for interop tests: a network namespace joined to this
// one by a veth pair. The namespace's end gets an address (and routes); our end stays without
// one, for a DPDK net_af_packet port. Needs root and iproute2; everything is removed on
// destruction. Every command is bounded by `timeout`.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace simcore::testlab {

// Runs a shell command (at most `seconds`), returns its stdout and stderr.
inline std::string sh(const std::string& command, int seconds = 10) {
  std::string out;
  if (FILE* p = popen(("timeout -k 2 " + std::to_string(seconds) + " " + command + " 2>&1").c_str(),
                      "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  return out;
}

// Whether this process may build namespaces (root and iproute2).
inline bool can_build_namespaces() {
  return geteuid() == 0 && std::system("command -v ip >/dev/null 2>&1") == 0;
}

struct Netns {
  std::string ns;     // the namespace
  std::string here;   // our end of the veth pair (the af_packet port's iface)
  std::string there;  // its end, inside ns

  // `tag`: a few letters unique within the test; `cidr`: the address inside, e.g. 10.0.0.2/24.
  Netns(const std::string& tag, const std::string& cidr) {
    const std::string id = std::to_string(getpid() % 100000);
    ns = "sc" + tag + id;
    here = "sc" + tag + "h" + id;
    there = "sc" + tag + "t" + id;
    sh("ip netns add " + ns);
    sh("ip link add " + here + " type veth peer name " + there);
    sh("ip link set " + there + " netns " + ns);
    in("ip addr add " + cidr + " dev " + there);
    in("ip link set " + there + " up");
    in("ip link set lo up");
    // Our end carries only what DPDK sends: no IPv6 router solicitations of our own.
    sh("sysctl -qw net.ipv6.conf." + here + ".disable_ipv6=1");
    sh("ip link set " + here + " up");
  }
  ~Netns() {
    sh("ip link del " + here);
    sh("ip netns del " + ns);
  }
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  // Runs a command inside the namespace.
  std::string in(const std::string& command, int seconds = 10) const {
    return sh("ip netns exec " + ns + " " + command, seconds);
  }
  bool ok() const { return sh("ip link show " + here).find(here) != std::string::npos; }
  // The MAC of the namespace's end, "02:..:..".
  std::string mac() const {
    std::string m = in("cat /sys/class/net/" + there + "/address");
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
  }
};

}  // namespace simcore::testlab
