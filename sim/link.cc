#include "sim/link.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace simcore::sim {
namespace {

using core::Error;

// Large buffers: a replay sends bursts of hundreds of frames and simcored answers at line
// rate; the kernel's default (~200 KiB) would drop most of a burst's answers.
constexpr int kSocketBuffer = 32 << 20;

core::Result<int> open_raw(const std::string& ifname) {
  const unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0) return Error(core::Code::kUnavailable, "no interface " + ifname);
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) {
    return Error(core::Code::kUnavailable,
                 "raw socket for " + ifname + ": " + std::strerror(errno) + " (needs root)");
  }
  // Our own transmissions would otherwise come back on the same socket.
  const int one = 1;
  (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
  // FORCE ignores rmem_max/wmem_max (root); fall back to the capped size otherwise.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kSocketBuffer, sizeof(kSocketBuffer)) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kSocketBuffer, sizeof(kSocketBuffer));
  }
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &kSocketBuffer, sizeof(kSocketBuffer)) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kSocketBuffer, sizeof(kSocketBuffer));
  }
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(index);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    return Error(core::Code::kUnavailable, "bind to " + ifname + ": " + why);
  }
  return fd;
}

}  // namespace

uint64_t steady_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

core::Result<AfPacketLink> AfPacketLink::open(const std::string& access_if,
                                              const std::string& core_if) {
  AfPacketLink link;
  const std::string names[dp::kPortCount] = {access_if, core_if};
  for (size_t p = 0; p < dp::kPortCount; ++p) {
    auto fd = open_raw(names[p]);
    if (!fd) return fd.error();
    link.fd_[p] = *fd;
    link.name_[p] = names[p];
  }
  return link;
}

AfPacketLink::AfPacketLink(AfPacketLink&& o) noexcept {
  for (size_t p = 0; p < dp::kPortCount; ++p) {
    fd_[p] = o.fd_[p];
    o.fd_[p] = -1;
    name_[p] = std::move(o.name_[p]);
  }
}

AfPacketLink::~AfPacketLink() {
  for (int fd : fd_) {
    if (fd >= 0) close(fd);
  }
}

core::Status AfPacketLink::send(dp::Port side, std::span<const uint8_t> frame) {
  const int fd = fd_[static_cast<size_t>(side)];
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (::send(fd, frame.data(), frame.size(), 0) == static_cast<ssize_t>(frame.size())) {
      return {};
    }
    if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
      return Error(core::Code::kUnavailable,
                   "send on " + name_[static_cast<size_t>(side)] + ": " + std::strerror(errno));
    }
    pollfd pfd{fd, POLLOUT, 0};
    (void)::poll(&pfd, 1, 10);
  }
  return Error(core::Code::kUnavailable,
               "send on " + name_[static_cast<size_t>(side)] + ": queue full for 10 s");
}

size_t AfPacketLink::receive(int timeout_ms, const OnFrame& on) {
  pollfd pfd[dp::kPortCount];
  for (size_t p = 0; p < dp::kPortCount; ++p) pfd[p] = {fd_[p], POLLIN, 0};
  if (::poll(pfd, dp::kPortCount, timeout_ms) <= 0) return 0;
  size_t n = 0;
  uint8_t buf[16384];
  // Drain both sockets until both are empty, so a burst's frames are all seen in one call.
  for (bool more = true; more;) {
    more = false;
    for (size_t p = 0; p < dp::kPortCount; ++p) {
      const ssize_t len = ::recv(fd_[p], buf, sizeof(buf), MSG_DONTWAIT);
      if (len <= 0) continue;
      more = true;
      ++n;
      on(static_cast<dp::Port>(p), steady_ns(), {buf, static_cast<size_t>(len)});
    }
  }
  return n;
}

}  // namespace simcore::sim
