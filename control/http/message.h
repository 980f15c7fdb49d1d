// control/http/message.h — the request and response that handlers see.
// A Request is Beast's parsed message plus what the socket knows (peer address, TLS) and the id the
// server assigned to it; a Response is Beast's string-body response. Handlers are plain functions
// from one to the other, kept apart from the session that owns the socket (Beast's handle_request).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

namespace simcore::ctl::http {

namespace bhttp = boost::beast::http;

using Verb = bhttp::verb;
using Response = bhttp::response<bhttp::string_body>;

struct Request {
  bhttp::request<bhttp::string_body> msg;
  std::string peer;        // remote IP address as text ("127.0.0.1", "::1"); per-client limits
  std::string request_id;  // assigned by the server; echoed as X-Request-Id and in error bodies
  bool tls = false;        // true when the connection is TLS

  Verb method() const { return msg.method(); }
  std::string_view target() const { return {msg.target().data(), msg.target().size()}; }
  // Returns the header's value, or "" when it is absent.
  std::string_view header(bhttp::field f) const {
    auto v = msg[f];
    return {v.data(), v.size()};
  }
};

// The application's entry point. Called on the server's single I/O thread, one request at a time
// and in arrival order; must not block for long. An exception escaping it becomes a 500.
using Handler = std::function<Response(const Request&)>;

}  // namespace simcore::ctl::http
