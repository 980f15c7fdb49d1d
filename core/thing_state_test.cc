#include "core/thing_state.h"

#include <gtest/gtest.h>

#include <string>

namespace simcore::core {
namespace {

using S = ThingState;
constexpr S kAll[] = {S::kProvisioned, S::kActive, S::kSuspended, S::kRetired};

// The names as API.md spells them; written out here rather than taken from state_name().
const char* api_name(S s) {
  switch (s) {
    case S::kProvisioned:
      return "PROVISIONED";
    case S::kActive:
      return "ACTIVE";
    case S::kSuspended:
      return "SUSPENDED";
    case S::kRetired:
      return "RETIRED";
  }
  return "?";
}

// API.md "Thing lifecycle", one row per cell of the 4x4 table.
struct Cell {
  S from;
  S to;
  bool allowed;
  const char* why;
};

const Cell kLifecycle[] = {
    {S::kProvisioned, S::kProvisioned, false, "same state is not a transition"},
    {S::kProvisioned, S::kActive, true, "PROVISIONED -> ACTIVE"},
    {S::kProvisioned, S::kSuspended, false, "a SIM never used cannot be suspended"},
    {S::kProvisioned, S::kRetired, true, "PROVISIONED -> RETIRED"},

    {S::kActive, S::kProvisioned, false, "nothing returns to PROVISIONED"},
    {S::kActive, S::kActive, false, "same state is not a transition"},
    {S::kActive, S::kSuspended, true, "ACTIVE <-> SUSPENDED"},
    {S::kActive, S::kRetired, true, "ACTIVE -> RETIRED"},

    {S::kSuspended, S::kProvisioned, false, "nothing returns to PROVISIONED"},
    {S::kSuspended, S::kActive, true, "ACTIVE <-> SUSPENDED"},
    {S::kSuspended, S::kSuspended, false, "same state is not a transition"},
    {S::kSuspended, S::kRetired, true, "SUSPENDED -> RETIRED"},

    {S::kRetired, S::kProvisioned, false, "RETIRED is terminal"},
    {S::kRetired, S::kActive, false, "RETIRED is terminal"},
    {S::kRetired, S::kSuspended, false, "RETIRED is terminal"},
    {S::kRetired, S::kRetired, false, "RETIRED is terminal; same state is not a transition"},
};

TEST(ThingState, TableCoversEveryCellOnce) {
  int seen[4][4] = {};
  for (const Cell& c : kLifecycle) ++seen[static_cast<int>(c.from)][static_cast<int>(c.to)];
  for (int f = 0; f < 4; ++f) {
    for (int t = 0; t < 4; ++t) EXPECT_EQ(seen[f][t], 1) << f << "->" << t;
  }
}

TEST(ThingState, TransitionAllowedMatchesApiCellByCell) {
  for (const Cell& c : kLifecycle) {
    SCOPED_TRACE(std::string(api_name(c.from)) + " -> " + api_name(c.to) + " (" + c.why + ")");
    EXPECT_EQ(transition_allowed(c.from, c.to), c.allowed);
  }
}

TEST(ThingState, CheckTransitionAgreesAndExplainsRefusals) {
  for (const Cell& c : kLifecycle) {
    const std::string from = api_name(c.from);
    const std::string to = api_name(c.to);
    SCOPED_TRACE(from + " -> " + to + " (" + c.why + ")");
    const Status s = check_transition(c.from, c.to);
    ASSERT_EQ(s.ok(), c.allowed);
    if (c.allowed) continue;
    const Error& e = s.error();
    EXPECT_EQ(e.code(), Code::kFailedPrecondition);
    ASSERT_EQ(e.fields().size(), 1u);
    EXPECT_EQ(e.fields()[0].field, "state");
    // Both names appear, the current state first, in the message and the field's message.
    for (const std::string& msg : {e.message(), e.fields()[0].message}) {
      const size_t at_from = msg.find(from);
      const size_t at_to = msg.rfind(to);
      ASSERT_NE(at_from, std::string::npos) << msg;
      ASSERT_NE(at_to, std::string::npos) << msg;
      if (c.from != c.to) {
        EXPECT_LT(at_from, at_to) << msg;
      }
    }
  }
}

TEST(ThingState, NothingEverReturnsToProvisioned) {
  for (S from : kAll) EXPECT_FALSE(transition_allowed(from, S::kProvisioned)) << api_name(from);
}

TEST(ThingState, RetiredIsTerminalAndReachableFromEveryOtherState) {
  for (S to : kAll) EXPECT_FALSE(transition_allowed(S::kRetired, to)) << api_name(to);
  for (S from : {S::kProvisioned, S::kActive, S::kSuspended}) {
    EXPECT_TRUE(transition_allowed(from, S::kRetired)) << api_name(from);
  }
}

TEST(ThingState, OnlyActivePassesTraffic) {
  EXPECT_FALSE(may_pass_traffic(S::kProvisioned));
  EXPECT_TRUE(may_pass_traffic(S::kActive));
  EXPECT_FALSE(may_pass_traffic(S::kSuspended));
  EXPECT_FALSE(may_pass_traffic(S::kRetired));
}

TEST(ThingState, SuspendingAndRetiringEndSessions) {
  EXPECT_FALSE(ends_session(S::kProvisioned));
  EXPECT_FALSE(ends_session(S::kActive));
  EXPECT_TRUE(ends_session(S::kSuspended));
  EXPECT_TRUE(ends_session(S::kRetired));
}

TEST(ThingState, NamesParseBack) {
  for (S s : kAll) {
    EXPECT_STREQ(state_name(s), api_name(s));
    auto r = parse_state(api_name(s));
    ASSERT_TRUE(r.ok()) << api_name(s);
    EXPECT_EQ(*r, s);
  }
  for (const char* bad : {"", "active", "Active", "DELETED", "ACTIVE "}) {
    auto r = parse_state(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find("SUSPENDED"), std::string::npos) << r.error().message();
  }
}

}  // namespace
}  // namespace simcore::core
