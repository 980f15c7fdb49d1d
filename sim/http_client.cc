#include "sim/http_client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <optional>

namespace simcore::sim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using Tcp = asio::ip::tcp;
using core::Code;
using core::Error;

// A reply bigger than this is refused: a list page of 1,000 Things is about 300 kB.
constexpr uint64_t kMaxReplyBody = 64 << 20;

// True when a reused connection failed in a way that means the server had closed it before our
// request reached it (idle timeout, restart): sending again on a new connection is safe.
bool closed_under_us(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

}  // namespace

std::string_view HttpReply::header(std::string_view name) const noexcept {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return v;
  }
  return {};
}

struct HttpClient::Impl {
  Impl(Endpoint e, std::chrono::milliseconds t) : ep(std::move(e)), timeout(t) {}

  Endpoint ep;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;                     // declared before the stream, which must die first
  std::optional<beast::tcp_stream> stream;  // empty: not connected
  beast::flat_buffer buffer;
  size_t connections = 0;

  // Runs the one pending operation to completion. The operations are asynchronous only so that
  // tcp_stream's deadline can end them: it closes the socket and they complete with `timeout`.
  void run() {
    ioc.restart();
    ioc.run();
  }

  void close() {
    stream.reset();
    buffer.clear();
  }

  // Resolving an address literal (the usual host) never blocks; a name uses getaddrinfo, which
  // has no deadline of ours.
  beast::error_code connect(const char*& stage) {
    close();
    beast::error_code ec;
    stage = "resolve";
    Tcp::resolver resolver(ioc);
    Tcp::resolver::results_type results;
    resolver.async_resolve(ep.host, std::to_string(ep.port),
                           [&](const beast::error_code& e, Tcp::resolver::results_type r) {
                             ec = e;
                             results = std::move(r);
                           });
    run();
    if (ec) return ec;
    stage = "connect";
    stream.emplace(ioc);
    stream->expires_after(timeout);
    stream->async_connect(results,
                          [&](const beast::error_code& e, const Tcp::endpoint&) { ec = e; });
    run();
    if (ec) {
      close();
      return ec;
    }
    beast::error_code ignored;  // Nagle only delays small requests; failing to unset it is harmless
    stream->socket().set_option(Tcp::no_delay(true), ignored);
    ++connections;
    return {};
  }

  // Writes `req` and reads the answer into `res`. `answered` says whether any byte of an answer
  // arrived (then a failure must not be retried: the server has seen the request).
  beast::error_code exchange(bhttp::request<bhttp::string_body>& req,
                             std::optional<bhttp::response_parser<bhttp::string_body>>& parser,
                             bool& answered, const char*& stage) {
    beast::error_code ec;
    answered = false;
    stage = "write";
    stream->expires_after(timeout);
    bhttp::async_write(*stream, req, [&](const beast::error_code& e, size_t) { ec = e; });
    run();
    if (ec) return ec;
    stage = "read";
    parser.emplace();
    parser->body_limit(kMaxReplyBody);
    stream->expires_after(timeout);
    bhttp::async_read(*stream, buffer, *parser,
                      [&](const beast::error_code& e, size_t) { ec = e; });
    run();
    answered = parser->got_some();
    return ec;
  }

  core::Result<HttpReply> request(std::string_view method, std::string_view target,
                                  std::string body, std::string_view bearer,
                                  std::string_view content_type) {
    const std::string where =
        std::string(method) + " " + ep.host + ":" + std::to_string(ep.port) + std::string(target);
    bhttp::request<bhttp::string_body> req;
    const bhttp::verb verb = bhttp::string_to_verb(method);
    if (verb == bhttp::verb::unknown) {
      req.method_string(method);
    } else {
      req.method(verb);
    }
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, ep.host + ":" + std::to_string(ep.port));
    req.set(bhttp::field::user_agent, "simcore-sim");
    req.set(bhttp::field::accept, "application/json");
    if (!bearer.empty()) req.set(bhttp::field::authorization, "Bearer " + std::string(bearer));
    if (!body.empty()) req.set(bhttp::field::content_type, content_type);
    req.body() = std::move(body);
    req.keep_alive(true);
    req.prepare_payload();

    std::optional<bhttp::response_parser<bhttp::string_body>> parser;
    const char* stage = "";
    beast::error_code ec;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = stream.has_value();
      if (!reused) {
        if (ec = connect(stage); ec) break;
      }
      bool answered = false;
      ec = exchange(req, parser, answered, stage);
      if (!ec) break;
      close();
      if (!reused || answered || !closed_under_us(ec)) break;
    }
    if (ec) {
      close();
      if (ec == beast::error::timeout) {
        return Error(Code::kUnavailable, where + ": " + stage + ": no progress within " +
                                             std::to_string(timeout.count()) + " ms");
      }
      return Error(Code::kUnavailable, where + ": " + stage + ": " + ec.message());
    }

    bhttp::response<bhttp::string_body> res = parser->release();
    HttpReply out;
    out.status = res.result_int();
    for (const auto& f : res) {
      out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    if (!res.keep_alive()) close();
    out.body = std::move(res.body());
    return out;
  }
};

HttpClient::HttpClient(Endpoint endpoint, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(std::move(endpoint), timeout)) {}

HttpClient::~HttpClient() = default;

core::Result<HttpReply> HttpClient::request(std::string_view method, std::string_view target,
                                            std::string body, std::string_view bearer_token,
                                            std::string_view content_type) {
  // Asio and Beast report I/O through error codes, but allocation and a few setup paths throw;
  // nothing leaves this function as an exception.
  try {
    return impl_->request(method, target, std::move(body), bearer_token, content_type);
  } catch (const std::exception& e) {
    impl_->close();
    return Error(Code::kInternal, std::string(method) + " " + impl_->ep.host + ":" +
                                      std::to_string(impl_->ep.port) + std::string(target) + ": " +
                                      e.what());
  }
}

size_t HttpClient::connections() const noexcept { return impl_->connections; }
const Endpoint& HttpClient::endpoint() const noexcept { return impl_->ep; }

core::Result<HttpReply> request(const Endpoint& endpoint, std::string_view method,
                                std::string_view target, std::string body,
                                std::string_view bearer_token) {
  try {
    HttpClient client(endpoint);
    return client.request(method, target, std::move(body), bearer_token);
  } catch (const std::exception& e) {  // the client's own construction (allocation)
    return Error(Code::kInternal,
                 std::string(method) + " " + std::string(target) + ": " + e.what());
  }
}

}  // namespace simcore::sim
