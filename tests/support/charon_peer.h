// tests/support/charon_peer.h — a stock strongSwan charon as an independent IKEv2/ESP peer in a
// network namespace (DESIGN.md "Lab topologies"): Debian's /usr/lib/ipsec/charon with the
// kernel-libipsec plugin (the kernel here has no XFRM ESP, so ESP is done in user space through
// its TUN device ipsec0), configured only from files written into a private directory: its own
// strongswan.conf (STRONGSWAN_CONF, /etc is not read), vici socket, log and a private /run (the
// stock binary's pid file is fixed at /var/run/charon.pid: a tmpfs over /run in the mount
// namespace `ip netns exec` makes keeps parallel peers and a host charon apart). Connections
// are loaded with swanctl over that vici socket. Also: a bounded dumpcap in a namespace.
//
// Every process is bounded: charon and dumpcap run under `timeout`, die with the test process
// (parent-death signals down the chain) and are stopped by their destructors (their process
// group, by id). Needs root; what is missing is named by charon_peer_missing().
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/netns.h"

namespace simcore::testlab {

inline constexpr const char* kStockCharon = "/usr/lib/ipsec/charon";
inline constexpr const char* kCharonPlugins = "/usr/lib/ipsec/plugins";

// What a stock charon peer needs and is not there ("" when everything is).
inline std::string charon_peer_missing() {
  namespace fs = std::filesystem;
  std::string missing;
  if (access(kStockCharon, X_OK) != 0)
    missing += std::string(" ") + kStockCharon + " (strongswan-charon)";
  for (const char* plugin :
       {"kernel-libipsec", "kernel-netlink", "socket-default", "vici", "openssl"}) {
    const fs::path so = fs::path(kCharonPlugins) / (std::string("libstrongswan-") + plugin + ".so");
    if (!fs::exists(so)) missing += " " + so.string();
  }
  if (std::system("command -v swanctl >/dev/null 2>&1") != 0)
    missing += " swanctl (strongswan-swanctl)";
  if (std::system("command -v setpriv >/dev/null 2>&1") != 0) missing += " setpriv (util-linux)";
  if (!fs::exists("/dev/net/tun")) missing += " /dev/net/tun";
  return missing;
}

// A process group started with fork/exec: its own group (the leader's pid), SIGKILL when this
// process dies, stdout and stderr to `log`. Stopped (TERM, then KILL) by id on destruction.
class Bounded {
 public:
  Bounded() = default;
  Bounded(const Bounded&) = delete;
  Bounded& operator=(const Bounded&) = delete;
  ~Bounded() { stop(); }

  bool start(const std::string& command, const std::filesystem::path& log,
             const std::map<std::string, std::string>& env = {}) {
    // Everything the child needs is made before fork: it only calls async-signal-safe
    // functions until exec.
    std::string line = "exec env";
    for (const auto& [k, v] : env) line += " '" + k + "=" + v + "'";
    line += " sh -c \"$0\"";
    const std::string log_path = log.string();
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the test process is already gone
      const int out = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (out >= 0) {
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
      }
      execl("/bin/sh", "sh", "-c", line.c_str(), command.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    setpgid(pid_, pid_);
    return true;
  }
  bool running() {
    if (pid_ <= 0) return false;
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      kill(-pid_, SIGKILL);  // anything of the group left behind
      pid_ = 0;
      return false;
    }
    return true;
  }
  // Sends `sig` to the group, waits up to `grace`, then SIGKILLs it.
  void stop(int sig = SIGTERM, std::chrono::milliseconds grace = std::chrono::seconds(5)) {
    if (pid_ <= 0) return;
    kill(-pid_, sig);
    int st = 0;
    const auto until = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < until) {
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        kill(-pid_, SIGKILL);  // anything of the group left behind
        pid_ = 0;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(-pid_, SIGKILL);
    waitpid(pid_, &st, 0);
    pid_ = 0;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = 0;
};

// One SA as `swanctl --list-sas --raw` describes it: the IKE_SA's keys, and its CHILD_SAs'.
struct ViciSa {
  std::map<std::string, std::string> ike;                    // state, initiator-spi, ...
  std::vector<std::map<std::string, std::string>> children;  // state, spi-in, spi-out, ...
  std::string get(const std::string& k) const {
    auto it = ike.find(k);
    return it == ike.end() ? "" : it->second;
  }
};

namespace detail {

// vici's raw text: `name {key=value key=[a b] sub {...}}`.
struct ViciNode {
  std::map<std::string, std::string> values;
  std::vector<std::pair<std::string, ViciNode>> sections;
};

inline void parse_vici(const std::string& s, size_t& i, ViciNode& node) {
  auto skip = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  while (true) {
    skip();
    if (i >= s.size()) return;
    if (s[i] == '}') {
      ++i;
      return;
    }
    size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) && s[i] != '=' &&
           s[i] != '{' && s[i] != '}') {
      ++i;
    }
    std::string key = s.substr(start, i - start);
    skip();
    if (i < s.size() && s[i] == '{') {
      ++i;
      node.sections.emplace_back(key, ViciNode{});
      parse_vici(s, i, node.sections.back().second);
    } else if (i < s.size() && s[i] == '=') {
      ++i;
      start = i;
      if (i < s.size() && s[i] == '[') {
        while (i < s.size() && s[i] != ']') ++i;
        if (i < s.size()) ++i;
      } else {
        while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) && s[i] != '}') ++i;
      }
      node.values[key] = s.substr(start, i - start);
    } else if (key.empty()) {
      ++i;  // stray character: never loop on it
    }
  }
}

}  // namespace detail

// The IKE_SAs of connection `conn` in `swanctl --list-sas --raw` output.
inline std::vector<ViciSa> parse_list_sas(const std::string& raw, const std::string& conn) {
  std::vector<ViciSa> out;
  std::istringstream lines(raw);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("list-sa event", 0) != 0) continue;
    size_t i = line.find('{');
    if (i == std::string::npos) continue;
    ++i;
    detail::ViciNode root;
    detail::parse_vici(line, i, root);
    for (const auto& [name, ike] : root.sections) {
      if (name != conn) continue;
      ViciSa sa;
      sa.ike = ike.values;
      for (const auto& [sub, children] : ike.sections) {
        if (sub != "child-sas") continue;
        for (const auto& [child_name, child] : children.sections)
          sa.children.push_back(child.values);
      }
      out.push_back(std::move(sa));
    }
  }
  return out;
}

class CharonPeer {
 public:
  // `dir`: a private directory for its files (created); `lifetime_s`: the hard bound.
  CharonPeer(const Netns& ns, const std::filesystem::path& dir, int lifetime_s = 120)
      : ns_(ns), dir_(dir), lifetime_s_(lifetime_s) {
    std::filesystem::create_directories(dir_);
  }
  CharonPeer(const CharonPeer&) = delete;
  CharonPeer& operator=(const CharonPeer&) = delete;
  ~CharonPeer() { stop(); }

  std::string uri() const { return "unix://" + (dir_ / "charon.vici").string(); }
  std::filesystem::path conf() const { return dir_ / "strongswan.conf"; }
  std::filesystem::path log() const { return dir_ / "charon.log"; }

  // Writes strongswan.conf, starts charon and waits (at most 10 s) for its vici socket.
  bool start(std::string* why) {
    std::ofstream(conf())
        << "# A stock charon for an interop test: nothing of /etc is read.\n"
           "charon {\n"
           "  load_modular = no\n"
           // kernel-libipsec before kernel-netlink: the first kernel-ipsec backend wins, and the
           // kernel here has no XFRM ESP. kernel-netlink is still the kernel-net (addresses,
           // routes) interface.
           "  load = random nonce openssl pem pkcs1 x509 pubkey aes sha1 sha2 hmac gcm kdf "
           "kernel-libipsec kernel-netlink socket-default vici\n"
           // kernel-libipsec hands decrypted packets to the kernel through ipsec0 and takes the
           // ones to encrypt from it: the remote subnets must be routed into ipsec0, which
           // charon does (table 220, source an address of the local subnet) when it installs
           // a CHILD_SA's policies.
           "  install_routes = yes\n"
           "  install_virtual_ip = no\n"
           "  retransmit_timeout = 1\n"
           "  retransmit_tries = 3\n"
           // Tests bring SAs up and down quickly: no COOKIE round trips for half-open SAs.
           "  dos_protection = no\n"
           "  filelog {\n"
           "    log {\n"
           "      path = "
        << log().string()
        << "\n"
           "      default = 1\n"
           "      ike = 2\n"
           "      cfg = 1\n"
           "      knl = 2\n"
           "      esp = 2\n"
           "      time_format = %T\n"
           "      flush_line = yes\n"
           "    }\n"
           "  }\n"
           "  syslog {\n"
           "    daemon {\n"
           "      default = -1\n"
           "    }\n"
           "  }\n"
           "  plugins {\n"
           "    vici {\n"
           "      socket = "
        << uri()
        << "\n"
           "    }\n"
           "  }\n"
           "}\n"
           "swanctl {\n"
           "  load = pem pkcs1 x509 pubkey openssl\n"
           "}\n";
    // A private /run (the fixed pid file), charon bounded by timeout and killed when timeout
    // is (setpriv's parent-death signal), timeout killed when this process dies (Bounded).
    const std::string cmd = "exec ip netns exec " + ns_.ns +
                            " sh -c 'mount -t tmpfs -o size=1m tmpfs /run && exec timeout -k 2 " +
                            std::to_string(lifetime_s_) + " setpriv --pdeathsig KILL " +
                            kStockCharon + "'";
    if (!proc_.start(cmd, dir_ / "charon.out", {{"STRONGSWAN_CONF", conf().string()}})) {
      if (why) *why = "fork failed";
      return false;
    }
    for (int i = 0; i < 100; ++i) {
      if (!proc_.running()) break;
      if (std::filesystem::exists(dir_ / "charon.vici") &&
          swanctl("--stats").find("IKE_SAs") != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (why)
      *why = "charon did not come up: " + tail(dir_ / "charon.out", 2000) + tail(log(), 3000);
    return false;
  }

  void stop() { proc_.stop(); }

  // swanctl in the namespace against this charon (its conf, its vici socket), bounded.
  std::string swanctl(const std::string& args, int seconds = 10) const {
    return ns_.in("env STRONGSWAN_CONF=" + conf().string() + " swanctl " + args + " --uri " + uri(),
                  seconds);
  }

  // Writes `swanctl_conf` as a file of its own and loads everything in it; true when every
  // connection loaded. `out` gets swanctl's words.
  bool load(const std::string& name, const std::string& swanctl_conf, std::string* out = nullptr) {
    const std::filesystem::path file = dir_ / (name + ".swanctl.conf");
    std::ofstream(file) << swanctl_conf;
    const std::string said = swanctl("--load-all --file " + file.string());
    if (out) *out = said;
    return said.find("successfully loaded") != std::string::npos &&
           said.find("loading connection") == std::string::npos;  // "loading connection 'x' failed"
  }

  std::vector<ViciSa> sas(const std::string& conn) const {
    return parse_list_sas(swanctl("--list-sas --raw"), conn);
  }

  std::string log_tail(size_t n = 6000) const { return tail(log(), n); }

  static std::string tail(const std::filesystem::path& file, size_t n) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    std::string all = s.str();
    return all.size() > n ? all.substr(all.size() - n) : all;
  }

 private:
  const Netns& ns_;
  std::filesystem::path dir_;
  int lifetime_s_;
  Bounded proc_;
};

// dumpcap on an interface inside a namespace into a pcapng file, bounded by `seconds`.
class NetnsCapture {
 public:
  NetnsCapture(const Netns& ns, const std::string& iface, const std::filesystem::path& file,
               int seconds = 60)
      : file_(file) {
    std::error_code ec;
    std::filesystem::remove(file_, ec);
    proc_.start("exec ip netns exec " + ns.ns + " timeout -k 2 " + std::to_string(seconds) +
                    " setpriv --pdeathsig KILL dumpcap -q -i " + iface + " -w " + file_.string(),
                file_.string() + ".log");
    // dumpcap writes the section and interface headers when it starts capturing.
    for (int i = 0; i < 100 && proc_.running(); ++i) {
      if (std::filesystem::exists(file_) && std::filesystem::file_size(file_, ec) > 0) {
        ready_ = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~NetnsCapture() { stop(); }
  bool ready() const { return ready_; }
  // Ends the capture (dumpcap finishes the file on SIGINT); returns the file.
  const std::filesystem::path& stop() {
    // libpcap (TPACKET_V3) hands packets over in blocks retired every read timeout (dumpcap:
    // 250 ms); a block still open when dumpcap is interrupted is lost: let it retire first.
    if (proc_.running()) std::this_thread::sleep_for(std::chrono::milliseconds(600));
    proc_.stop(SIGINT);
    return file_;
  }
  std::string log() const { return CharonPeer::tail(file_.string() + ".log", 2000); }

 private:
  std::filesystem::path file_;
  Bounded proc_;
  bool ready_ = false;
};

}  // namespace simcore::testlab
