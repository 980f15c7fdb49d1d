// control/http/query.h — request-target parsing (boost::url) and list pagination.
// Query holds the target's path (still percent-encoded, for building links) and its parameters
// percent-decoded ('+' is a space, as in HTML forms). Lists take `limit` (default 50, 1..1000) and
// `offset` (default 0) and answer with X-Total-Count and an RFC 8288 Link header. Thread-safe
// (no shared state).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/http/message.h"
#include "core/result.h"

namespace simcore::ctl::http {

class Query {
 public:
  // Parses an origin-form request target ("/things?limit=10&tag=a%20b"). Fails with
  // kInvalidArgument (field "target") when it is not a valid origin-form URI.
  static core::Result<Query> parse(std::string_view target);

  // Returns the first value of parameter `name`, or nullopt when absent.
  std::optional<std::string_view> get(std::string_view name) const;
  // Returns every value of `name`, in order (e.g. repeated `tag=`).
  std::vector<std::string_view> get_all(std::string_view name) const;
  // Returns all parameters, decoded, in order.
  const std::vector<std::pair<std::string, std::string>>& items() const noexcept { return items_; }
  // Returns the path as received (percent-encoded), e.g. "/iot/jpu/iotprogrammablesim/things".
  const std::string& encoded_path() const noexcept { return path_; }

 private:
  std::string path_;
  std::vector<std::pair<std::string, std::string>> items_;
};

inline constexpr std::size_t kDefaultLimit = 50;
inline constexpr std::size_t kMaxLimit = 1000;

struct Page {
  std::size_t limit = kDefaultLimit;
  std::size_t offset = 0;
};

// Reads `limit` and `offset`. A non-integer, negative, zero (limit) or too large value fails with
// kInvalidArgument naming every bad parameter ("limit", "offset").
core::Result<Page> parse_page(const Query& query);

// Sets X-Total-Count: total and a Link header with first, prev (offset > 0), next (more items
// follow) and last, each the request's path and other parameters with limit/offset replaced.
void set_page_headers(Response& res, const Query& query, Page page, std::size_t total);

}  // namespace simcore::ctl::http
