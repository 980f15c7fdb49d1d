// control/daemon/openapi_doc.cc — YAML to JSON for the served OpenAPI document.
#include "control/daemon/openapi_doc.h"

#include <yaml-cpp/yaml.h>

#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdlib>
#include <regex>

namespace simcore::ctl {
namespace {

namespace json = boost::json;

// YAML 1.2 core schema (spec 10.3.2): what a plain scalar means.
json::value plain_scalar(const std::string& s) {
  static const std::regex kNull("~|null|Null|NULL|");
  static const std::regex kTrue("true|True|TRUE");
  static const std::regex kFalse("false|False|FALSE");
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kOct("0o([0-7]+)");
  static const std::regex kHex("0x([0-9a-fA-F]+)");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  std::smatch m;
  if (std::regex_match(s, kNull)) return nullptr;
  if (std::regex_match(s, kTrue)) return true;
  if (std::regex_match(s, kFalse)) return false;
  const auto integer = [](std::string_view digits, int base) -> json::value {
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    int64_t v = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
    if (r.ec == std::errc() && r.ptr == digits.data() + digits.size()) return v;
    uint64_t u = 0;  // above INT64_MAX
    const auto ru = std::from_chars(digits.data(), digits.data() + digits.size(), u, base);
    if (ru.ec == std::errc() && ru.ptr == digits.data() + digits.size()) return u;
    return std::strtod(std::string(digits).c_str(), nullptr);  // beyond 64 bits, as JSON would
  };
  if (std::regex_match(s, kInt)) return integer(s, 10);
  if (std::regex_match(s, m, kOct)) return integer(m[1].str(), 8);
  if (std::regex_match(s, m, kHex)) return integer(m[1].str(), 16);
  if (std::regex_match(s, kFloat)) return std::strtod(s.c_str(), nullptr);
  // .inf and .nan stay text: JSON cannot carry them.
  return json::string(s);
}

json::value convert(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence: {
      json::array a;
      a.reserve(n.size());
      for (const YAML::Node& e : n) a.push_back(convert(e));
      return a;
    }
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n) o[kv.first.Scalar()] = convert(kv.second);
      return o;
    }
    case YAML::NodeType::Scalar:
      // "?" is yaml-cpp's tag of a plain scalar; quoted ("!") and explicitly tagged ones stay
      // strings.
      if (n.Tag() == "?") return plain_scalar(n.Scalar());
      return json::string(n.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
  }
  return nullptr;
}

}  // namespace

core::Result<json::value> yaml_to_json(std::string_view yaml) {
  // yaml-cpp reports syntax errors by exception only; none leaves this function.
  try {
    return convert(YAML::Load(std::string(yaml)));
  } catch (const YAML::Exception& e) {
    return core::Error(core::Code::kInvalidArgument,
                       "YAML line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

const core::Result<std::string>& openapi_json() {
  static const core::Result<std::string> kJson = []() -> core::Result<std::string> {
    auto v = yaml_to_json(openapi_yaml());
    if (!v) return core::Error(core::Code::kInternal, "openapi.yaml: " + v.error().message());
    return json::serialize(*v);
  }();
  return kJson;
}

}  // namespace simcore::ctl
