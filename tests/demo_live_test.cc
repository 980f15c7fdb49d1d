// The live demo (scripts/demo, what ./scripts/run shows): the real simcored on net_af_packet
// ports, the demo account provisioned through its API, and simcore-sim replay in a network
// namespace attaching every session over GTPv2-C/GTPv1-C and sending the demo scenario's
// traffic. Every frame must meet its expected fate; every attach must be answered as the
// scenario's account says; tshark must decode everything on the wires, simcored's answers
// included. Then the same with a changed policy provisioned: the mismatches must be exactly
// the frames whose fate the reference evaluator says that policy changes. Root (namespaces,
// raw sockets).
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "control/account_file.h"
#include "core/reference_eval.h"
#include "dataplane/testing/tshark.h"
#include "sim/generator.h"
#include "sim/online.h"
#include "sim/scenario.h"

namespace simcore::sim {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const fs::path kSource = SIMCORE_SOURCE_DIR;
const fs::path kBuild = SIMCORE_BUILD_DIR;
const fs::path kScenario = kSource / "configs/scenarios/demo.yaml";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Demo {
  int rc = -1;
  std::string output;
  fs::path out;
};

Demo run_demo(const std::string& name, const std::string& extra = "") {
  Demo d;
  d.out = fs::temp_directory_path() / ("simcore-demo-" + name + "-" + std::to_string(getpid()));
  fs::create_directories(d.out);
  // A port of its own, below the kernel's ephemeral range (32768 up), where any outgoing
  // connection may hold it: simcored once failed to bind 36402 ("Address already in use",
  // 2026-11-29; what held it was not seen). The whole demo is bounded (simcored is stopped by
  // the script's trap).
  const std::string cmd = "SIMCORE_DEMO_PORT=" + std::to_string(20000 + getpid() % 12000) +
                          " timeout -k 5 240 " + (kSource / "scripts/demo").string() +
                          " --build " + kBuild.string() + " --out " + d.out.string() +
                          " --exit " + extra + " > " + (d.out / "demo.log").string() + " 2>&1";
  const int st = std::system(cmd.c_str());
  d.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  d.output = slurp(d.out / "demo.log");
  return d;
}

class DemoLive : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespace, veth, raw sockets)";
    auto s = load_scenario(kScenario.string());
    ASSERT_TRUE(s.ok()) << s.error().message();
    scenario_ = *s;
    auto t = generate(scenario_, default_ports());
    ASSERT_TRUE(t.ok()) << t.error().message();
    traffic_ = std::move(*t);
  }
  Scenario scenario_;
  Traffic traffic_;
};

TEST_F(DemoLive, EveryFrameMeetsItsFateAndEverySessionAttachesOverGtpc) {
  SIMCORE_REQUIRE_TSHARK();
  const Demo d = run_demo("own");
  ASSERT_EQ(d.rc, 0) << d.output;
  EXPECT_NE(d.output.find("result: PASS"), std::string::npos) << d.output;

  // As many attaches as the account's sessions and the scenario's attaches, all accepted.
  auto account = load_scenario_account(scenario_);
  ASSERT_TRUE(account.ok());
  size_t sessions = 0, v1 = 0, v2 = 0;
  for (const core::Thing& t : account->model().things) sessions += t.session ? 1 : 0;
  for (const SessionOp& op : traffic_.ops) {
    if (op.attach) ++(op.gtp == 1 ? v1 : v2);
  }
  v2 += sessions;
  const json::value report = json::parse(slurp(d.out / "report.json"));
  EXPECT_EQ(report.at("totals").at("mismatches").as_int64(), 0);
  EXPECT_EQ(report.at("totals").at("attachMismatches").as_int64(), 0);
  EXPECT_EQ(report.at("totals").at("attaches").as_int64(), static_cast<int64_t>(v1 + v2));
  EXPECT_EQ(report.at("totals").at("frames").as_int64(),
            static_cast<int64_t>(traffic_.frames.size()));
  const json::object& results = report.at("attachResults").as_object();
  EXPECT_EQ(results.at("GTPv2 cause 16").as_int64(), static_cast<int64_t>(v2));
  EXPECT_EQ(results.at("GTPv1 cause 128").as_int64(), static_cast<int64_t>(v1));
  EXPECT_NE(d.output.find("first packet:"), std::string::npos);

  // tshark on both wires: what the driver sent and everything simcored sent back (GTPv2-C and
  // GTPv1-C answers, G-PDUs, plain IPv4 with VLAN tags, ARP) decodes with no problem, and its
  // count of accepted answers is ours.
  const fs::path cap = d.out / "online.pcapng";
  EXPECT_EQ(dp::testing::tshark_problems_in_our_layers(cap, "frame.interface_name matches \"^from-\""),
            "");
  EXPECT_EQ(dp::testing::tshark_fields(cap, "gtpv2.cause == 16 && gtpv2.message_type == 33",
                                       {"frame.number"})
                .size(),
            v2);
  EXPECT_EQ(
      dp::testing::tshark_fields(cap, "gtp.cause == 128 && gtp.message == 0x11", {"frame.number"})
          .size(),
      v1);
  EXPECT_GT(dp::testing::tshark_fields(cap, "frame.interface_name == \"from-access\" && gtp.message == 0xff",
                                       {"frame.number"})
                .size(),
            1000u);
  fs::remove_all(d.out);
}

// The scenario's account with the Cameras network isolated: the frames whose fate changes are
// predicted with the reference evaluator alone (same sessions, flow memory per phase).
TEST_F(DemoLive, AChangedPolicyMismatchesExactlyTheFramesItChanges) {
  auto text = account_text(scenario_);
  ASSERT_TRUE(text.ok());
  YAML::Node doc = YAML::Load(*text);
  for (YAML::Node n : doc["networks"]) {
    if (n["name"].as<std::string>() == "Cameras") n["isolation"] = true;
  }
  YAML::Emitter e;
  e << doc;
  const fs::path changed = fs::temp_directory_path() / ("changed-" + std::to_string(getpid()) + ".yaml");
  std::ofstream(changed) << e.c_str();

  auto loaded = ctl::load_account_yaml(changed.string());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  core::Account& acc = loaded->account;
  std::set<size_t> want;
  core::FlowMemory flows;
  int phase = -1;
  for (size_t i = 0; i < traffic_.frames.size(); ++i) {
    const SimFrame& f = traffic_.frames[i];
    if (f.phase != phase) {
      phase = f.phase;
      apply_session_ops(acc, traffic_.ops, phase, nullptr);
      flows = core::FlowMemory();
    }
    if (f.expect.malformed) continue;
    const Expected other = expect_policy(core::evaluate_reference(acc.model(), f.desc, flows));
    if (expected_fate(other) != expected_fate(f.expect)) want.insert(i);
  }
  ASSERT_GT(want.size(), 0u);

  const Demo d = run_demo("changed", "--account " + changed.string());
  ASSERT_EQ(d.rc, 1) << d.output;  // mismatches
  const json::value report = json::parse(slurp(d.out / "report.json"));
  EXPECT_EQ(report.at("totals").at("attachMismatches").as_int64(), 0);
  std::set<size_t> got;
  for (const json::value& m : report.at("mismatches").as_array()) {
    got.insert(static_cast<size_t>(m.at("frame").as_int64()));
  }
  EXPECT_EQ(got, want);
  fs::remove(changed);
  fs::remove_all(d.out);
}

}  // namespace
}  // namespace simcore::sim
