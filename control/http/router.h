// control/http/router.h — maps (method, path pattern) to handlers.
// Patterns are segment lists with `{name}` parameters: "/things/{thingId}/state". Routes added
// with add() live under the router's prefix ("/iot/jpu/iotprogrammablesim"); add_unprefixed()
// routes (the OAuth token endpoint, /openapi.json) don't. Path segments are percent-decoded before
// matching and a trailing '/' is ignored. At each segment a literal beats a parameter, so
// "/things/search" wins over "/things/{thingId}". Unknown path → 404, known path with another
// method → 405 + Allow, malformed target → 400; all JSON errors. HEAD is not derived from GET.
// Build on the control thread before serving; handle() is const and may then run on the server
// thread.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "control/http/message.h"
#include "core/result.h"

namespace simcore::ctl::http {

// Decoded path parameters by name, e.g. {"thingId": "8981..."}.
using PathParams = std::map<std::string, std::string, std::less<>>;
using RouteHandler = std::function<Response(const Request&, const PathParams&)>;

struct RouteInfo {
  Verb method;
  std::string pattern;       // as registered, e.g. "/things/{thingId}"
  std::string full_pattern;  // with the prefix when prefixed
  bool prefixed;
};

class Router {
 public:
  // `prefix` is "" or "/seg[/seg...]" without a trailing '/'.
  explicit Router(std::string prefix = {});

  // Registers `handler` for `method` on prefix + `pattern`. Fails with kInvalidArgument for a
  // pattern that isn't "/seg/{name}/..." (empty segment, bad or repeated name) and with
  // kAlreadyExists when the same method is already routed on the same path shape.
  core::Status add(Verb method, std::string_view pattern, RouteHandler handler);
  // Same, without the prefix.
  core::Status add_unprefixed(Verb method, std::string_view pattern, RouteHandler handler);

  // Routes one request. Errors are JSON (errors.h) carrying req.request_id.
  Response handle(const Request& req) const;

  // Returns every route in registration order (to check against the OpenAPI document).
  std::vector<RouteInfo> routes() const;

  const std::string& prefix() const noexcept { return prefix_; }

 private:
  struct Segment {
    std::string text;  // literal text, or the parameter name
    bool param;
  };
  struct Entry {
    RouteInfo info;
    std::vector<Segment> segments;  // prefix segments included
    RouteHandler handler;
  };

  core::Status add_entry(Verb method, std::string_view pattern, bool prefixed,
                         RouteHandler handler);
  static bool matches(const Entry& e, const std::vector<std::string>& path);

  std::string prefix_;
  std::vector<Segment> prefix_segments_;
  std::vector<Entry> entries_;
};

}  // namespace simcore::ctl::http
