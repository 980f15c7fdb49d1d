#include "control/http/router.h"

#include <algorithm>

#include <boost/url/parse.hpp>

#include "control/http/errors.h"

namespace simcore::ctl::http {

namespace {

bool valid_param_name(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Splits "/a/b" into {"a", "b"}; "" yields {}. Returns false on an empty inner segment.
bool split(std::string_view s, std::vector<std::string_view>& out) {
  out.clear();
  if (s.empty()) return true;
  if (s.front() != '/') return false;
  s.remove_prefix(1);
  while (true) {
    auto pos = s.find('/');
    auto seg = s.substr(0, pos);
    if (seg.empty()) return false;
    out.push_back(seg);
    if (pos == std::string_view::npos) return true;
    s.remove_prefix(pos + 1);
  }
}

}  // namespace

Router::Router(std::string prefix) : prefix_(std::move(prefix)) {
  std::vector<std::string_view> segs;
  // A malformed prefix is a programming error in the daemon's wiring; treat it as none.
  if (!split(prefix_, segs)) {
    prefix_.clear();
    segs.clear();
  }
  for (auto s : segs) prefix_segments_.push_back({std::string(s), false});
}

core::Status Router::add(Verb method, std::string_view pattern, RouteHandler handler) {
  return add_entry(method, pattern, true, std::move(handler));
}

core::Status Router::add_unprefixed(Verb method, std::string_view pattern, RouteHandler handler) {
  return add_entry(method, pattern, false, std::move(handler));
}

core::Status Router::add_entry(Verb method, std::string_view pattern, bool prefixed,
                               RouteHandler handler) {
  std::vector<std::string_view> parts;
  if (pattern.empty() || (pattern != "/" && !split(pattern, parts))) {
    return core::Error::invalid(
        "pattern", "'" + std::string(pattern) + "' must be '/' followed by non-empty segments");
  }
  Entry e{{method, std::string(pattern),
           (prefixed ? prefix_ : std::string()) + (pattern == "/" ? "" : std::string(pattern)),
           prefixed},
          prefixed ? prefix_segments_ : std::vector<Segment>{},
          std::move(handler)};
  if (e.info.full_pattern.empty()) e.info.full_pattern = "/";
  for (auto p : parts) {
    if (p.front() == '{' || p.back() == '}') {
      auto name = p.size() >= 2 && p.front() == '{' && p.back() == '}' ? p.substr(1, p.size() - 2)
                                                                       : std::string_view();
      if (!valid_param_name(name)) {
        return core::Error::invalid("pattern", "bad parameter segment '" + std::string(p) + "'");
      }
      for (const auto& s : e.segments) {
        if (s.param && s.text == name) {
          return core::Error::invalid("pattern", "parameter '" + std::string(name) + "' repeated");
        }
      }
      e.segments.push_back({std::string(name), true});
    } else {
      e.segments.push_back({std::string(p), false});
    }
  }
  for (const auto& o : entries_) {
    if (o.info.method != method || o.segments.size() != e.segments.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < e.segments.size() && same; ++i) {
      const auto &a = o.segments[i], &b = e.segments[i];
      same = a.param == b.param && (a.param || a.text == b.text);
    }
    if (same) {
      return core::Error(core::Code::kAlreadyExists,
                         "route " + std::string(bhttp::to_string(method)) + " " +
                             e.info.full_pattern + " duplicates " + o.info.full_pattern);
    }
  }
  entries_.push_back(std::move(e));
  return core::Status::Ok();
}

bool Router::matches(const Entry& e, const std::vector<std::string>& path) {
  if (e.segments.size() != path.size()) return false;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (!e.segments[i].param && e.segments[i].text != path[i]) return false;
    if (e.segments[i].param && path[i].empty()) return false;
  }
  return true;
}

Response Router::handle(const Request& req) const {
  auto url = boost::urls::parse_origin_form(req.target());
  if (!url) {
    return json_error(400, "INVALID_ARGUMENT", "malformed request target", req.request_id);
  }
  std::vector<std::string> path;
  for (auto seg : url->segments()) path.push_back(std::move(seg));
  if (!path.empty() && path.back().empty()) path.pop_back();  // "/things/" is "/things"

  // Among the routes matching the path, the most specific shape (a literal at the first segment
  // where shapes differ) is the resource; all its routes share that shape, differing by method.
  const Entry* best = nullptr;
  auto more_specific = [](const Entry& a, const Entry& b) {
    for (std::size_t i = 0; i < a.segments.size(); ++i) {
      if (a.segments[i].param != b.segments[i].param) return !a.segments[i].param;
    }
    return false;
  };
  for (const auto& e : entries_) {
    if (matches(e, path) && (best == nullptr || more_specific(e, *best))) best = &e;
  }
  if (best == nullptr) {
    return json_error(404, core::code_name(core::Code::kNotFound),
                      "no resource at " + std::string(url->encoded_path()), req.request_id);
  }
  std::vector<Verb> allowed;
  for (const auto& e : entries_) {
    if (!matches(e, path) || more_specific(*best, e)) continue;
    if (e.info.method == req.method()) {
      PathParams params;
      for (std::size_t i = 0; i < path.size(); ++i) {
        if (e.segments[i].param) params.emplace(e.segments[i].text, path[i]);
      }
      return e.handler(req, params);
    }
    allowed.push_back(e.info.method);
  }
  std::sort(allowed.begin(), allowed.end());
  return method_not_allowed(req, allowed);
}

std::vector<RouteInfo> Router::routes() const {
  std::vector<RouteInfo> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.info);
  return out;
}

}  // namespace simcore::ctl::http
