// control/http/server.h — simcored's HTTP/1.1 transport (Boost.Asio/Beast, optional TLS).
//
// Threading: one asio::io_context driven by ONE thread, the caller of run()/run_for(). Every
// handler call happens on that thread, one at a time and in arrival order per connection, so the
// service layer behind the handler can be single-writer. stop() is the only member that any
// thread may call; everything else belongs to the thread that created the Server.
//
// Per connection: keep-alive; requests are read, handled and answered strictly one at a time
// (pipelined requests wait in the read buffer, so answers come in order). A request must arrive
// whole within read_timeout; a kept-alive connection may sit idle for idle_timeout; both close
// the connection silently. Body over body_limit → 413, headers over header_limit → 431, a
// malformed request → 400; each with a JSON error body and `Connection: close`. Over
// max_connections, a new connection gets 503 + Retry-After and is closed. Responses get the
// request's HTTP version, `X-Request-Id` and Content-Length.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "control/http/message.h"
#include "core/result.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace simcore::ctl::http {

struct TlsFiles {
  std::string cert_chain_file;   // PEM certificate chain
  std::string private_key_file;  // PEM private key
};

struct ServerOptions {
  std::string address = "127.0.0.1";                // IPv4 or IPv6 literal to bind
  std::uint16_t port = 0;                           // 0: an ephemeral port; see Server::port()
  std::size_t body_limit = 1 << 20;                 // bytes; larger bodies get 413
  std::size_t header_limit = 16 << 10;              // bytes of start line + headers; more gets 431
  std::chrono::milliseconds read_timeout{10'000};   // to receive one whole request
  std::chrono::milliseconds idle_timeout{60'000};   // between requests on a kept-alive connection
  std::chrono::milliseconds write_timeout{10'000};  // to send one response
  std::size_t max_connections = 1024;               // concurrently served connections
  int busy_retry_after_s = 1;   // Retry-After of the 503 sent over max_connections
  std::optional<TlsFiles> tls;  // set: HTTPS only on this listener
};

// Counters, readable from any thread.
struct ServerStats {
  std::atomic<std::uint64_t> accepted{0};       // connections accepted and served
  std::atomic<std::uint64_t> rejected_busy{0};  // connections answered 503 (over the limit)
  std::atomic<std::uint64_t> requests{0};       // requests passed to the handler
  std::atomic<std::uint64_t> timeouts{0};       // connections closed by read/idle timeout
  std::atomic<std::uint64_t> bad_requests{0};   // 400/413/431 sent by the transport
  std::atomic<std::uint64_t> tls_failures{0};   // failed TLS handshakes
};

class Server {
 public:
  // Binds and listens (the port is known on return) but serves nothing until run(). Fails with
  // kInvalidArgument for a bad address or unreadable/invalid TLS files, kUnavailable when the
  // address can't be bound.
  static core::Result<std::unique_ptr<Server>> create(ServerOptions options, Handler handler);

  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Returns the bound port (the ephemeral one when options.port was 0).
  std::uint16_t port() const noexcept;

  // Serves on the calling thread until stop() has closed the listener and every connection.
  void run();
  // Serves for at most `d` (or until stopped); returns the number of handlers run. For tests and
  // for embedding in a caller's own loop.
  std::size_t run_for(std::chrono::milliseconds d);

  // Any thread, any number of times: closes the listener and every connection (requests in
  // flight are dropped without an answer) and stops the io_context; run() then returns. The
  // Server is not restartable; destroy it after run() has returned.
  void stop();

  const ServerStats& stats() const noexcept;

  // Returns the server's io_context, so the daemon can run its own timers and posted work on the
  // same single thread as the handlers. stop() stops it too, whatever work is left.
  boost::asio::io_context& io_context() noexcept;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace simcore::ctl::http
