// The scenario tool end to end: the shipped demo scenario validates through the DPDK engine
// with zero mismatches and exercises every feature it claims; generation and reports are
// deterministic; a changed policy (--against) produces exactly the mismatches the reference
// evaluator predicts; the CLI's exit codes and report.json.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "control/account_file.h"
#include "core/reference_eval.h"
#include "sim/check.h"
#include "sim/generator.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/validate.h"

namespace simcore::sim {
namespace {

namespace fs = std::filesystem;

const std::string kDemo = std::string(SIMCORE_SOURCE_DIR) + "/configs/scenarios/demo.yaml";

fs::path temp_dir() {
  char tmpl[] = "/tmp/simcore-sim-XXXXXX";
  return fs::path(mkdtemp(tmpl));
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The demo scenario generated and replayed once for the tests that only read the result.
struct DemoRun {
  Scenario scenario;
  Traffic traffic;
  Replayed replayed;
};
const DemoRun& demo() {
  static const DemoRun* run = [] {
    auto s = load_scenario(kDemo);
    EXPECT_TRUE(s.ok()) << s.error().message();
    auto t = generate(*s, default_ports());
    EXPECT_TRUE(t.ok()) << t.error().message();
    auto r = replay_offline(*s, *t, default_ports(), {});
    EXPECT_TRUE(r.ok()) << r.error().message();
    return new DemoRun{std::move(*s), std::move(*t), std::move(*r)};
  }();
  return *run;
}

TEST(Demo, ValidatesWithZeroMismatches) {
  const DemoRun& d = demo();
  EXPECT_GT(d.traffic.frames.size(), 20000u);
  EXPECT_GT(d.traffic.things_selected, 2000u);
  const std::vector<size_t> bad = mismatches(d.traffic, d.replayed);
  EXPECT_TRUE(bad.empty()) << report_text({kDemo, d.scenario.seed, ""}, d.traffic, d.replayed);
}

TEST(Demo, EveryClaimedFeatureOccurs) {
  const DemoRun& d = demo();
  std::map<std::string, uint64_t> actual;
  uint64_t stateful_replies = 0, rule_denies = 0, rule_allows = 0, nat_in = 0, vlan_tagged = 0;
  uint64_t detached = 0;
  for (size_t i = 0; i < d.traffic.frames.size(); ++i) {
    const SimFrame& f = d.traffic.frames[i];
    const dp::Outcome& o = d.replayed.outcomes[i];
    ++actual[outcome_key(o)];
    if (!o.policed) continue;
    if (o.rule_id == core::kFlowRuleId && o.verdict == core::Verdict::kDeliver) ++stateful_replies;
    if (o.rule_id != 0 && o.rule_id != core::kFlowRuleId) {
      ++(o.verdict == core::Verdict::kDrop ? rule_denies : rule_allows);
    }
    if (o.verdict == core::Verdict::kDeliver && f.expect.decision.out.dst != f.desc.dst) ++nat_in;
    if (o.verdict == core::Verdict::kForward && f.expect.decision.vlan != 0) ++vlan_tagged;
    if (f.phase == 1 && o.verdict == core::Verdict::kDrop) ++detached;
  }
  for (const char* key :
       {"FORWARD", "HAIRPIN", "DELIVER", "TUNNEL uplink.tunnel_unavailable",
        "DROP uplink.no_session", "DROP uplink.spoofed_source", "DROP uplink.firewall",
        "DROP uplink.isolation", "DROP uplink.blackhole", "DROP downlink.no_session",
        "DROP downlink.firewall", "DROP malformed.gtpu", "DROP inner_ipv4.bad_checksum",
        "DROP inner_ipv4.fragment", "DROP malformed.inner_l4", "DROP ipv4.bad_checksum",
        "DROP malformed.ipv4", "DROP malformed.ethernet", "DROP ipv4.fragment"}) {
    EXPECT_GT(actual[key], 0u) << key;
  }
  EXPECT_GT(stateful_replies, 0u);
  EXPECT_GT(rule_denies, 0u);  // outbound TCP 25 / UDP 53 rules
  EXPECT_GT(rule_allows, 0u);  // inbound ICMP rule, stateless Meters rules
  EXPECT_GT(nat_in, 0u);       // port forwarding rewrote the destination
  EXPECT_GT(vlan_tagged, 0u);
  EXPECT_GT(detached, 0u);
  EXPECT_EQ(d.traffic.phases, 2);
  // The engine's counters say the same as the records.
  const dp::Counters& c = d.replayed.counters;
  EXPECT_EQ(c.rx[0] + c.rx[1], d.traffic.frames.size());
  EXPECT_EQ(c.pipeline_drop[static_cast<size_t>(dp::PipelineDrop::kUplinkTunnelUnavailable)],
            actual["TUNNEL uplink.tunnel_unavailable"]);
  EXPECT_EQ(c.policy_drop[static_cast<size_t>(core::DropReason::kUplinkSpoofedSource)],
            actual["DROP uplink.spoofed_source"]);
}

TEST(Demo, GenerationAndReportsAreDeterministic) {
  const DemoRun& d = demo();
  auto t = generate(d.scenario, default_ports());
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->frames.size(), d.traffic.frames.size());
  for (size_t i = 0; i < t->frames.size(); ++i) {
    ASSERT_EQ(t->frames[i].bytes, d.traffic.frames[i].bytes) << "frame " << i;
    ASSERT_EQ(t->frames[i].ts_ns, d.traffic.frames[i].ts_ns) << "frame " << i;
  }
  EXPECT_EQ(expected_json(d.scenario, *t, default_ports()),
            expected_json(d.scenario, d.traffic, default_ports()));
  const fs::path dir = temp_dir();
  ASSERT_TRUE(write_pcap((dir / "a1.pcap").string(), *t, dp::Port::kAccess).ok());
  ASSERT_TRUE(write_pcap((dir / "a2.pcap").string(), d.traffic, dp::Port::kAccess).ok());
  EXPECT_EQ(slurp(dir / "a1.pcap"), slurp(dir / "a2.pcap"));
  auto r = replay_offline(d.scenario, *t, default_ports(), {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  const ReportInfo info{kDemo, d.scenario.seed, ""};
  EXPECT_EQ(report_json(info, *t, *r), report_json(info, d.traffic, d.replayed));
  // A different seed gives different traffic.
  Scenario other = d.scenario;
  other.seed += 1;
  auto t2 = generate(other, default_ports());
  ASSERT_TRUE(t2.ok());
  EXPECT_NE(t2->frames.front().bytes, t->frames.front().bytes);
  fs::remove_all(dir);
}

// Writes the demo scenario's account with `edit` applied to a file and returns its path.
template <class Edit>
std::string changed_account(const Scenario& s, const fs::path& dir, Edit edit) {
  auto text = account_text(s);
  EXPECT_TRUE(text.ok());
  YAML::Node doc = YAML::Load(*text);
  edit(doc);
  YAML::Emitter e;
  e << doc;
  const fs::path p = dir / "changed.yaml";
  std::ofstream(p) << e.c_str();
  return p.string();
}

// The frames whose outcome differs between the scenario's account and `against`, computed
// with the reference evaluator alone (same sessions, same order, flow memory per phase).
std::set<size_t> predicted_changes(const Traffic& t, const std::string& against) {
  auto loaded = ctl::load_account_yaml(against);
  EXPECT_TRUE(loaded.ok()) << loaded.error().message();
  core::Account& acc = loaded->account;
  std::set<size_t> out;
  core::FlowMemory flows;
  int phase = -1;
  for (size_t i = 0; i < t.frames.size(); ++i) {
    const SimFrame& f = t.frames[i];
    if (f.phase != phase) {
      phase = f.phase;
      apply_session_ops(acc, t.ops, phase, nullptr);
      flows = core::FlowMemory();
    }
    if (f.expect.malformed) continue;
    const Expected other = expect_policy(core::evaluate_reference(acc.model(), f.desc, flows));
    const uint32_t a = expected_rule(f.expect), b = expected_rule(other);
    if (expected_key(other) != expected_key(f.expect) || (a != 0 && b != 0 && a != b)) {
      out.insert(i);
    }
  }
  return out;
}

void expect_exact_mismatches(const char* what, const std::function<void(YAML::Node&)>& edit) {
  SCOPED_TRACE(what);
  const DemoRun& d = demo();
  const fs::path dir = temp_dir();
  const std::string against = changed_account(d.scenario, dir, edit);
  ValidateOptions o;
  o.against = against;
  auto r = replay_offline(d.scenario, d.traffic, default_ports(), o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const std::vector<size_t> got = mismatches(d.traffic, *r);
  const std::set<size_t> want = predicted_changes(d.traffic, against);
  EXPECT_GT(want.size(), 0u);
  EXPECT_EQ(std::set<size_t>(got.begin(), got.end()), want);
  fs::remove_all(dir);
}

TEST(Against, AnIsolationFlagChangesExactlyThePredictedFrames) {
  expect_exact_mismatches("Cameras isolated", [](YAML::Node& doc) {
    for (YAML::Node n : doc["networks"]) {
      if (n["name"].as<std::string>() == "Cameras") n["isolation"] = true;
    }
  });
}

TEST(Against, OneRuleChangesExactlyThePredictedFrames) {
  expect_exact_mismatches("Trackers DNS rule flipped to DENY", [](YAML::Node& doc) {
    for (YAML::Node p : doc["ipProfiles"]) {
      if (p["name"].as<std::string>() == "Trackers") p["outbound"]["rules"][0]["action"] = "DENY";
    }
  });
}

// --- check: captures against an account.

struct CheckCounts {
  size_t compared = 0, not_policy = 0, mismatched = 0;
  std::map<std::string, size_t> expected;  // expected key → frames
  std::vector<std::string> keys;           // per compared frame
};

CheckCounts check_demo_pcaps(const fs::path& dir, const std::string& account) {
  CheckCounts c;
  auto r = check_pcaps({account, (dir / "access.pcap").string(), (dir / "core.pcap").string(),
                        0, 0, ""});
  EXPECT_TRUE(r.ok()) << r.error().message();
  if (!r.ok()) return c;
  c.compared = r->traffic.frames.size();
  c.not_policy = r->not_policy;
  c.mismatched = mismatches(r->traffic, r->replayed).size();
  for (const SimFrame& f : r->traffic.frames) {
    c.keys.push_back(expected_key(f.expect));
    ++c.expected[c.keys.back()];
  }
  EXPECT_EQ(r->frames, c.compared + c.not_policy);
  return c;
}

// The generated captures, checked against the scenario's account and against one with the
// Cameras network isolated: the engine agrees with the reference evaluator both times, and the
// expectations are the given account's (the hairpinned camera streams become isolation drops).
TEST(Check, CapturesAgainstAnAccountUseThatAccountsPolicy) {
  const DemoRun& d = demo();
  const fs::path dir = temp_dir();
  ASSERT_TRUE(write_pcap((dir / "access.pcap").string(), d.traffic, dp::Port::kAccess).ok());
  ASSERT_TRUE(write_pcap((dir / "core.pcap").string(), d.traffic, dp::Port::kCore).ok());
  auto text = account_text(d.scenario);
  ASSERT_TRUE(text.ok());
  std::ofstream(dir / "own.yaml") << *text;
  CheckCounts own = check_demo_pcaps(dir, (dir / "own.yaml").string());
  EXPECT_EQ(own.mismatched, 0u);
  EXPECT_EQ(own.compared + own.not_policy, d.traffic.frames.size());
  EXPECT_GT(own.compared, 60000u);
  ASSERT_GT(own.expected.count("HAIRPIN"), 0u);

  const std::string changed = changed_account(d.scenario, dir, [](YAML::Node& doc) {
    for (YAML::Node n : doc["networks"]) {
      if (n["name"].as<std::string>() == "Cameras") n["isolation"] = true;
    }
  });
  CheckCounts isolated = check_demo_pcaps(dir, changed);
  EXPECT_EQ(isolated.mismatched, 0u);
  EXPECT_EQ(isolated.expected.count("HAIRPIN"), 0u);
  ASSERT_EQ(isolated.keys.size(), own.keys.size());
  for (size_t i = 0; i < own.keys.size(); ++i) {
    if (own.keys[i] == "HAIRPIN") {
      EXPECT_EQ(isolated.keys[i], "DROP uplink.isolation") << i;
    }
  }

  // Input errors name the file.
  auto missing = check_pcaps({changed, (dir / "nope.pcap").string(), "", 0, 0, ""});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), core::Code::kInvalidArgument);
  EXPECT_NE(missing.error().message().find("nope.pcap"), std::string::npos);
  fs::remove_all(dir);
}

// --- The binary.

int run(const std::string& args, const fs::path& log) {
  const std::string cmd =
      std::string(SIMCORE_SIM_BINARY) + " " + args + " >" + log.string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(Cli, EndToEnd) {
  const fs::path dir = temp_dir();
  const fs::path log = dir / "log.txt";
  EXPECT_EQ(run("--help", log), 0);
  EXPECT_NE(slurp(log).find("usage:"), std::string::npos);
  EXPECT_EQ(run("frobnicate x --out " + dir.string(), log), 2);
  EXPECT_EQ(run("validate " + kDemo, log), 2) << slurp(log);  // no --out

  // generate: the two pcaps and expected.json.
  EXPECT_EQ(run("generate " + kDemo + " --out " + (dir / "gen").string(), log), 0) << slurp(log);
  EXPECT_GT(fs::file_size(dir / "gen" / "access.pcap"), 1000u);
  EXPECT_GT(fs::file_size(dir / "gen" / "core.pcap"), 1000u);
  const boost::json::value expected = boost::json::parse(slurp(dir / "gen" / "expected.json"));
  EXPECT_EQ(expected.at("frames").as_array().size(), demo().traffic.frames.size());

  // validate: exit 0, a report that parses, annotated captures.
  EXPECT_EQ(run("validate " + kDemo + " --out " + (dir / "val").string(), log), 0) << slurp(log);
  EXPECT_NE(slurp(log).find("0 mismatches"), std::string::npos) << slurp(log);
  const boost::json::value report = boost::json::parse(slurp(dir / "val" / "report.json"));
  EXPECT_EQ(report.at("totals").at("mismatches").as_int64(), 0);
  EXPECT_EQ(report.at("totals").at("frames").as_int64(),
            static_cast<int64_t>(demo().traffic.frames.size()));
  EXPECT_GT(fs::file_size(dir / "val" / "access.pcapng"), 1000u);
  EXPECT_GT(fs::file_size(dir / "val" / "core.pcapng"), 1000u);

  // --against a changed policy: exit 1, mismatches listed first in the summary and the report.
  const std::string against = changed_account(demo().scenario, dir, [](YAML::Node& doc) {
    for (YAML::Node n : doc["networks"]) {
      if (n["name"].as<std::string>() == "Field ops") n["isolation"] = false;
    }
  });
  EXPECT_EQ(
      run("validate " + kDemo + " --against " + against + " --out " + (dir / "against").string(),
          log),
      1)
      << slurp(log);
  EXPECT_NE(slurp(log).find("MISMATCHES"), std::string::npos);
  const boost::json::value changed = boost::json::parse(slurp(dir / "against" / "report.json"));
  EXPECT_GT(changed.at("totals").at("mismatches").as_int64(), 0);
  EXPECT_EQ(changed.at("mismatches").as_array().at(0).at("expected").as_string(),
            "DROP uplink.isolation");

  // Bad input: exit 2 with the field named.
  std::ofstream(dir / "bad.yaml") << "account: ../nope.yaml\nthings: 3\n";
  EXPECT_EQ(run("validate " + (dir / "bad.yaml").string() + " --out " + dir.string(), log), 2);
  EXPECT_NE(slurp(log).find("things: expected a list"), std::string::npos) << slurp(log);
  std::ofstream(dir / "bad2.yaml") << "account: nope.yaml\n";
  EXPECT_EQ(run("generate " + (dir / "bad2.yaml").string() + " --out " + dir.string(), log), 2);
  EXPECT_NE(slurp(log).find("account: cannot read account file"), std::string::npos) << slurp(log);

  // check: the generated captures against the demo account pass; an unreadable capture is
  // bad input naming the file; check without a capture is a usage error.
  const std::string account = std::string(SIMCORE_SOURCE_DIR) + "/configs/demo.yaml";
  EXPECT_EQ(run("check --account " + account + " --access-pcap " +
                    (dir / "gen" / "access.pcap").string() + " --core-pcap " +
                    (dir / "gen" / "core.pcap").string() + " --out " +
                    (dir / "check").string(),
                log),
            0)
      << slurp(log);
  EXPECT_TRUE(fs::exists(dir / "check" / "access.pcapng"));
  EXPECT_EQ(run("check --account " + account + " --access-pcap " + (dir / "nope.pcap").string() +
                    " --out " + dir.string(),
                log),
            2);
  EXPECT_NE(slurp(log).find("nope.pcap"), std::string::npos) << slurp(log);
  EXPECT_EQ(run("check --account " + account + " --out " + dir.string(), log), 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace simcore::sim
