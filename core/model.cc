#include "core/model.h"

#include <array>
#include <string_view>
#include <utility>

namespace simcore::core {
namespace {

// One name table per enum, so printing and parsing cannot disagree.
template <class E, size_t N>
Result<E> parse_enum(const std::array<std::pair<E, const char*>, N>& names, std::string_view text,
                     const char* what) {
  for (const auto& [value, name] : names) {
    if (text == name) return value;
  }
  std::string allowed;
  for (const auto& [value, name] : names) allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  return Error::invalid("", std::string(what) + " must be one of " + allowed);
}

template <class E, size_t N>
const char* enum_name(const std::array<std::pair<E, const char*>, N>& names, E v) noexcept {
  for (const auto& [value, name] : names) {
    if (value == v) return name;
  }
  return "?";
}

constexpr std::array<std::pair<ThingState, const char*>, 4> kStateNames{{
    {ThingState::kProvisioned, "PROVISIONED"},
    {ThingState::kActive, "ACTIVE"},
    {ThingState::kSuspended, "SUSPENDED"},
    {ThingState::kRetired, "RETIRED"},
}};
constexpr std::array<std::pair<Role, const char*>, 4> kRoleNames{{
    {Role::kAdmin, "ADMIN"},
    {Role::kStandard, "STANDARD"},
    {Role::kGroupUser, "GROUP_USER"},
    {Role::kMonitor, "MONITOR"},
}};
constexpr std::array<std::pair<Action, const char*>, 2> kActionNames{{
    {Action::kAllow, "ALLOW"},
    {Action::kDeny, "DENY"},
}};
constexpr std::array<std::pair<RouteTarget, const char*>, 3> kRouteTargetNames{{
    {RouteTarget::kInternet, "INTERNET"},
    {RouteTarget::kIpsecTunnel, "IPSEC_TUNNEL"},
    {RouteTarget::kBlackhole, "BLACKHOLE"},
}};

}  // namespace

const char* state_name(ThingState s) noexcept { return enum_name(kStateNames, s); }
Result<ThingState> parse_state(std::string_view t) { return parse_enum(kStateNames, t, "state"); }
const char* role_name(Role r) noexcept { return enum_name(kRoleNames, r); }
Result<Role> parse_role(std::string_view t) { return parse_enum(kRoleNames, t, "role"); }
const char* action_name(Action a) noexcept { return enum_name(kActionNames, a); }
Result<Action> parse_action(std::string_view t) { return parse_enum(kActionNames, t, "action"); }
const char* route_target_name(RouteTarget t) noexcept { return enum_name(kRouteTargetNames, t); }
Result<RouteTarget> parse_route_target(std::string_view t) {
  return parse_enum(kRouteTargetNames, t, "target");
}

}  // namespace simcore::core
