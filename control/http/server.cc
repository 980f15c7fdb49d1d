#include "control/http/server.h"

#include <exception>
#include <type_traits>
#include <unordered_set>
#include <utility>

#include <openssl/ssl.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "control/http/errors.h"

namespace simcore::ctl::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using Tcp = boost::asio::ip::tcp;
using ErrorCode = boost::system::error_code;

namespace {

// Connections over max_connections are answered 503 by short-lived sessions; past this many of
// those at once, new connections are closed without an answer so a flood can't grow memory.
constexpr std::size_t kMaxRejecting = 64;
// How long a closing connection keeps reading (and discarding) what the client still sends, so
// our last response isn't destroyed by a TCP reset (RFC 9112 §9.6 "lingering close").
constexpr std::chrono::milliseconds kLingerTime{500};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void close_now() = 0;
};

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  ServerStats stats;
  std::unique_ptr<asio::io_context> ioc = std::make_unique<asio::io_context>(1);
  std::optional<ssl::context> tls;
  std::optional<Tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;
  std::unordered_set<SessionBase*> sessions;
  std::size_t active = 0;     // sessions serving requests
  std::size_t rejecting = 0;  // sessions answering 503
  bool stopping = false;
  std::uint16_t port = 0;

  ~Impl() {
    // Destroying the io_context destroys the handlers still queued, and with them the last
    // references to sessions, whose destructors touch `sessions`: do it while members live.
    acceptor.reset();
    accept_retry.reset();
    ioc.reset();
  }

  void accept();
  void on_accept(ErrorCode ec, Tcp::socket sock);
  void do_stop();
};

namespace {

bool is_parse_error(const ErrorCode& ec) {
  return ec.category() == beast::http::make_error_code(beast::http::error::bad_target).category();
}

template <bool kTls>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<kTls>> {
 public:
  using Stream = std::conditional_t<kTls, ssl::stream<beast::tcp_stream>, beast::tcp_stream>;

  Session(Server::Impl& srv, Tcp::socket sock, bool reject)
      : srv_(srv), stream_(make_stream(srv, std::move(sock))), reject_(reject) {
    ErrorCode ec;
    auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) peer_ = ep.address().to_string();
    srv_.sessions.insert(this);
    (reject_ ? srv_.rejecting : srv_.active) += 1;
  }

  ~Session() override {
    srv_.sessions.erase(this);
    release_slot();
  }

  void start() {
    if constexpr (kTls) {
      lowest().expires_after(srv_.options.read_timeout);
      stream_.async_handshake(
          ssl::stream_base::server,
          [self = this->shared_from_this()](ErrorCode ec) { self->on_handshake(ec); });
    } else {
      begin();
    }
  }

  void close_now() override {
    closed_ = true;
    lowest().close();  // cancels pending operations and the stream's timer
  }

 private:
  static Stream make_stream(Server::Impl& srv, Tcp::socket sock) {
    if constexpr (kTls) {
      return Stream(std::move(sock), *srv.tls);
    } else {
      return Stream(std::move(sock));
    }
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  bool done(const ErrorCode& ec) {
    if (closed_ || srv_.stopping) return true;
    if (ec == beast::error::timeout) {
      srv_.stats.timeouts.fetch_add(1, std::memory_order_relaxed);
      close_now();
      return true;
    }
    return false;
  }

  void on_handshake(ErrorCode ec) {
    if (done(ec)) return;
    if (ec) {
      srv_.stats.tls_failures.fetch_add(1, std::memory_order_relaxed);
      close_now();
      return;
    }
    begin();
  }

  void begin() {
    if (reject_) {
      srv_.stats.rejected_busy.fetch_add(1, std::memory_order_relaxed);
      res_ = json_error(503, core::code_name(core::Code::kUnavailable),
                        "too many connections; retry later", next_request_id());
      res_.set(beast::http::field::retry_after, std::to_string(srv_.options.busy_retry_after_s));
      res_.keep_alive(false);
      res_.prepare_payload();
      write(/*close_after=*/true);
      return;
    }
    srv_.stats.accepted.fetch_add(1, std::memory_order_relaxed);
    read_request();
  }

  void read_request() {
    parser_.emplace();
    parser_->body_limit(srv_.options.body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(srv_.options.header_limit));
    if (!first_ && buffer_.size() == 0) {
      // Between requests the client may idle for idle_timeout; once a byte arrives, the request
      // must be complete within read_timeout.
      lowest().expires_after(srv_.options.idle_timeout);
      stream_.async_read_some(buffer_.prepare(4096),
                              [self = this->shared_from_this()](ErrorCode ec, std::size_t n) {
                                self->on_first_bytes(ec, n);
                              });
      return;
    }
    first_ = false;
    read_header();
  }

  void on_first_bytes(ErrorCode ec, std::size_t n) {
    if (done(ec)) return;
    if (ec) return close_quietly(ec);
    buffer_.commit(n);
    read_header();
  }

  void read_header() {
    lowest().expires_after(srv_.options.read_timeout);
    beast::http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](ErrorCode ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(ErrorCode ec) {
    if (done(ec)) return;
    if (ec) return on_read_error(ec);
    // curl and others wait up to a second for "100 Continue" before sending a large body.
    auto expect = parser_->get()[beast::http::field::expect];
    if (beast::iequals(expect, "100-continue") && !parser_->is_done()) {
      continue_.emplace(beast::http::status::continue_, parser_->get().version());
      beast::http::async_write(stream_, *continue_,
                               [self = this->shared_from_this()](ErrorCode wec, std::size_t) {
                                 if (self->done(wec)) return;
                                 if (wec) return self->close_now();
                                 self->read_body();
                               });
      return;
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return on_read(ErrorCode{});
    beast::http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](ErrorCode ec, std::size_t) { self->on_read(ec); });
  }

  void on_read_error(const ErrorCode& ec) {
    namespace he = beast::http;
    if (ec == he::error::body_limit) {
      return send_transport_error(
          413, "PAYLOAD_TOO_LARGE",
          "request body exceeds " + std::to_string(srv_.options.body_limit) + " bytes");
    }
    if (ec == he::error::header_limit) {
      return send_transport_error(
          431, "REQUEST_HEADER_FIELDS_TOO_LARGE",
          "request headers exceed " + std::to_string(srv_.options.header_limit) + " bytes");
    }
    if (is_parse_error(ec) && ec != he::error::end_of_stream && ec != he::error::partial_message) {
      return send_transport_error(400, "INVALID_ARGUMENT",
                                  "malformed HTTP request: " + ec.message());
    }
    close_quietly(ec);
  }

  void on_read(ErrorCode ec) {
    if (done(ec)) return;
    if (ec) return on_read_error(ec);

    Request req;
    req.msg = parser_->release();
    req.peer = peer_;
    req.request_id = next_request_id();
    req.tls = kTls;
    srv_.stats.requests.fetch_add(1, std::memory_order_relaxed);
    try {
      res_ = srv_.handler(req);
    } catch (const std::exception& e) {
      res_ =
          json_error(500, core::code_name(core::Code::kInternal), "internal error", req.request_id);
    }
    // The handler asks to close with "Connection: close" (keep_alive() reads it for HTTP/1.1).
    const bool handler_close = !res_.keep_alive();
    res_.version(req.msg.version());
    const bool keep = req.msg.keep_alive() && !handler_close && !srv_.stopping;
    res_.keep_alive(keep);
    if (res_.find("X-Request-Id") == res_.end()) res_.set("X-Request-Id", req.request_id);
    res_.prepare_payload();
    write(!keep);
  }

  void send_transport_error(int status, std::string_view code, const std::string& message) {
    srv_.stats.bad_requests.fetch_add(1, std::memory_order_relaxed);
    res_ = json_error(status, code, message, next_request_id());
    res_.keep_alive(false);
    res_.prepare_payload();
    write(/*close_after=*/true);
  }

  void write(bool close_after) {
    lowest().expires_after(srv_.options.write_timeout);
    beast::http::async_write(
        stream_, res_, [self = this->shared_from_this(), close_after](ErrorCode ec, std::size_t) {
          self->on_write(ec, close_after);
        });
  }

  void on_write(ErrorCode ec, bool close_after) {
    if (done(ec)) return;
    if (ec) return close_now();
    res_ = {};
    if (close_after) return linger_close();
    read_request();
  }

  // The peer closed or broke the connection: nothing to answer.
  void close_quietly(const ErrorCode& ec) {
    if (ec == beast::http::error::end_of_stream) return linger_close();
    close_now();
  }

  // A closing connection serves nobody: it stops counting against max_connections (it lives
  // at most kLingerTime more).
  void release_slot() {
    if (counted_) (reject_ ? srv_.rejecting : srv_.active) -= 1;
    counted_ = false;
  }

  void linger_close() {
    release_slot();
    lowest().expires_after(kLingerTime);
    if constexpr (kTls) {
      // close_notify; the peer's reply (or the timer) ends it.
      stream_.async_shutdown([self = this->shared_from_this()](ErrorCode) { self->close_now(); });
    } else {
      ErrorCode ec;
      lowest().socket().shutdown(Tcp::socket::shutdown_send, ec);
      if (ec) return close_now();
      drain();
    }
  }

  void drain() {
    lowest().async_read_some(asio::buffer(drain_buf_),
                             [self = this->shared_from_this()](ErrorCode ec, std::size_t) {
                               if (self->closed_) return;
                               if (ec) return self->close_now();
                               self->drain();
                             });
  }

  Server::Impl& srv_;
  Stream stream_;
  bool reject_;
  bool closed_ = false;
  bool first_ = true;
  bool counted_ = true;  // counts in srv_.active or srv_.rejecting
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
  std::optional<beast::http::response<beast::http::empty_body>> continue_;
  Response res_;
  char drain_buf_[1024];
};

}  // namespace

void Server::Impl::accept() {
  acceptor->async_accept(
      [this](ErrorCode ec, Tcp::socket sock) { on_accept(ec, std::move(sock)); });
}

void Server::Impl::on_accept(ErrorCode ec, Tcp::socket sock) {
  if (stopping || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Typically EMFILE/ENFILE: back off briefly instead of spinning on the error.
    accept_retry->expires_after(std::chrono::milliseconds(50));
    accept_retry->async_wait([this](ErrorCode wec) {
      if (!wec && !stopping) accept();
    });
    return;
  }
  ErrorCode ignored;
  sock.set_option(Tcp::no_delay(true), ignored);
  const bool reject = active >= options.max_connections;
  if (reject && rejecting >= kMaxRejecting) {
    sock.close(ignored);
  } else if (tls) {
    std::make_shared<Session<true>>(*this, std::move(sock), reject)->start();
  } else {
    std::make_shared<Session<false>>(*this, std::move(sock), reject)->start();
  }
  accept();
}

void Server::Impl::do_stop() {
  stopping = true;
  ErrorCode ignored;
  if (acceptor) acceptor->close(ignored);
  if (accept_retry) accept_retry->cancel();
  // close_now() doesn't destroy a session (queued handlers hold it), so iterating a copy is only
  // for safety against future changes.
  std::vector<SessionBase*> all(sessions.begin(), sessions.end());
  for (auto* s : all) s->close_now();
  ioc->stop();
}

core::Result<std::unique_ptr<Server>> Server::create(ServerOptions options, Handler handler) {
  auto impl = std::make_unique<Impl>();
  ErrorCode ec;
  auto addr = asio::ip::make_address(options.address, ec);
  if (ec) return core::Error::invalid("address", "'" + options.address + "' is not an IP address");

  if (options.tls) {
    impl->tls.emplace(ssl::context::tls_server);
    auto& ctx = *impl->tls;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain_file(options.tls->cert_chain_file, ec);
    if (ec) {
      return core::Error::invalid(
          "tls.certFile",
          "cannot use certificate chain '" + options.tls->cert_chain_file + "': " + ec.message());
    }
    ctx.use_private_key_file(options.tls->private_key_file, ssl::context::pem, ec);
    if (ec) {
      return core::Error::invalid(
          "tls.keyFile",
          "cannot use private key '" + options.tls->private_key_file + "': " + ec.message());
    }
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
      return core::Error::invalid("tls.keyFile", "private key does not match the certificate");
    }
  }

  auto& acc = impl->acceptor.emplace(*impl->ioc);
  const Tcp::endpoint ep(addr, options.port);
  auto fail = [&](const char* what) {
    return core::Error(core::Code::kUnavailable,
                       std::string("cannot ") + what + " " + options.address + ":" +
                           std::to_string(options.port) + ": " + ec.message());
  };
  acc.open(ep.protocol(), ec);
  if (ec) return fail("open");
  acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("configure");
  acc.bind(ep, ec);
  if (ec) return fail("bind");
  acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  impl->port = acc.local_endpoint(ec).port();
  if (ec) return fail("read the port of");
  impl->accept_retry.emplace(*impl->ioc);
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  impl->accept();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

std::uint16_t Server::port() const noexcept { return impl_->port; }

void Server::run() {
  if (impl_->stopping) return;
  impl_->ioc->run();
}

std::size_t Server::run_for(std::chrono::milliseconds d) {
  if (impl_->stopping) return 0;
  if (impl_->ioc->stopped()) impl_->ioc->restart();
  return impl_->ioc->run_for(d);
}

void Server::stop() {
  Impl* impl = impl_.get();
  asio::post(*impl->ioc, [impl] { impl->do_stop(); });
}

const ServerStats& Server::stats() const noexcept { return impl_->stats; }

boost::asio::io_context& Server::io_context() noexcept { return *impl_->ioc; }

}  // namespace simcore::ctl::http
