#include "control/http/query.h"

#include <charconv>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace simcore::ctl::http {

core::Result<Query> Query::parse(std::string_view target) {
  auto r = boost::urls::parse_origin_form(target);
  if (!r) return core::Error::invalid("target", "malformed request target");
  Query q;
  auto path = r->encoded_path();
  q.path_.assign(path.data(), path.size());
  // '+' decodes to a space in queries: HTML forms and many clients encode spaces that way.
  for (auto p : r->params(boost::urls::encoding_opts(/*space_as_plus=*/true))) {
    q.items_.emplace_back(std::move(p.key), p.has_value ? std::move(p.value) : std::string());
  }
  return q;
}

std::optional<std::string_view> Query::get(std::string_view name) const {
  for (const auto& [k, v] : items_) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::vector<std::string_view> Query::get_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [k, v] : items_) {
    if (k == name) out.emplace_back(v);
  }
  return out;
}

namespace {

// Returns the value as a non-negative integer, or nullopt (signs, spaces, overflow are rejected).
std::optional<std::size_t> to_size(std::string_view s) {
  std::size_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

core::Result<Page> parse_page(const Query& query) {
  Page page;
  core::FieldErrors errs;
  if (auto s = query.get("limit")) {
    auto v = to_size(*s);
    if (!v || *v == 0 || *v > kMaxLimit) {
      errs.add("limit", "must be an integer from 1 to " + std::to_string(kMaxLimit));
    } else {
      page.limit = *v;
    }
  }
  if (auto s = query.get("offset")) {
    auto v = to_size(*s);
    if (!v) {
      errs.add("offset", "must be a non-negative integer");
    } else {
      page.offset = *v;
    }
  }
  if (auto st = errs.status(); !st.ok()) return st.error();
  return page;
}

namespace {

std::string page_link(const Query& query, std::size_t limit, std::size_t offset) {
  boost::urls::url u;
  u.set_encoded_path(query.encoded_path());
  auto params = u.params();
  for (const auto& [k, v] : query.items()) {
    if (k != "limit" && k != "offset") params.append({k, v});
  }
  params.append({"limit", std::to_string(limit)});
  params.append({"offset", std::to_string(offset)});
  auto s = u.buffer();
  return std::string(s.data(), s.size());
}

}  // namespace

void set_page_headers(Response& res, const Query& query, Page page, std::size_t total) {
  res.set("X-Total-Count", std::to_string(total));
  const std::size_t limit = page.limit == 0 ? kDefaultLimit : page.limit;
  const std::size_t last = total == 0 ? 0 : (total - 1) / limit * limit;
  std::string link;
  auto add = [&](std::size_t offset, const char* rel) {
    if (!link.empty()) link += ", ";
    link += "<" + page_link(query, limit, offset) + ">; rel=\"" + rel + "\"";
  };
  add(0, "first");
  if (page.offset > 0) add(page.offset > limit ? page.offset - limit : 0, "prev");
  if (page.offset + limit < total) add(page.offset + limit, "next");
  add(last, "last");
  res.set(bhttp::field::link, link);
}

}  // namespace simcore::ctl::http
