// simcore-sim — scenario → pcaps + expected verdicts → offline replay through the DPDK engine →
// validation report. See sim/README.md. Exit codes: 0 no mismatch, 1 mismatches, 2 bad input
// (usage, scenario, account), 3 the replay could not run (EAL, engine, files).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "control/account_file.h"
#include "dataplane/dpdk/eal.h"
#include "sim/check.h"
#include "sim/generator.h"
#include "sim/link.h"
#include "sim/online.h"
#include "sim/provision.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/validate.h"

namespace {

namespace sim = simcore::sim;

constexpr int kExitOk = 0;
constexpr int kExitMismatch = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitFailure = 3;

constexpr const char* kUsage = R"(usage:
  simcore-sim generate SCENARIO --out DIR
      Writes DIR/access.pcap, DIR/core.pcap (the frames arriving on each port) and
      DIR/expected.json (sessions, flows, and every frame's expected outcome).
  simcore-sim validate SCENARIO [--against ACCOUNT.yaml] --out DIR [--no-progress]
      Generates, replays every frame through the DPDK engine (net_ring ports, one worker)
      and compares. Writes DIR/report.json and the annotated DIR/access.pcapng and
      DIR/core.pcapng; prints a summary. --against replays on another account's tables
      (with the scenario's sessions), expectations still from the scenario's account: the
      mismatches are what that change would do to the traffic.
  simcore-sim provision SCENARIO --api HOST:PORT --client-id ID --client-secret SECRET
                       [--account ACCOUNT.yaml]
      Creates the scenario's account (profiles, networks, groups, Things; not its sessions,
      which come from attach) in a running simcored through its HTTP API. --account
      provisions another account instead: a replay then shows what that policy changes.
  simcore-sim replay SCENARIO --access IF --core IF --out DIR [--no-progress]
      The online replay (root): plays the SGW/SGSN and the core-side hosts on the far ends
      of the veth pairs whose near ends simcored's net_af_packet ports hold. Attaches every
      session over GTP-C, rewrites the frames to the TEIDs and addresses simcored chose,
      sends them and checks where each one went. Writes DIR/report.json; prints a summary
      with the attach results, first-packet latency and throughput. simcored's ports must
      have the generator's addresses and MACs (sim/README.md).
  simcore-sim check --account ACCOUNT.yaml [--access-pcap FILE] [--core-pcap FILE] --out DIR
      Any capture against an account, offline: every frame through the DPDK engine on the
      account's tables (our access address: the outer destination of the first G-PDU), each
      frame the policy decides compared with the reference evaluator's decision. Writes
      DIR/report.json and the annotated DIR/access.pcapng and DIR/core.pcapng.
  simcore-sim --help

exit status: 0 no mismatch, 1 mismatches, 2 bad input, 3 the replay could not run
)";

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A one-line progress bar on stderr, drawn only when stderr is a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : on_(enabled && isatty(STDERR_FILENO) == 1) {}
  sim::Progress callback(std::string label) {
    if (!on_) return {};
    return [this, label = std::move(label)](uint64_t done, uint64_t total) {
      const int width = 40;
      const int fill = total == 0 ? width : static_cast<int>(done * width / total);
      std::fprintf(stderr, "\r%-9s [%s%s] %llu/%llu", label.c_str(),
                   std::string(static_cast<size_t>(fill), '#').c_str(),
                   std::string(static_cast<size_t>(width - fill), '.').c_str(),
                   static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
      if (done >= total) std::fputc('\n', stderr);
    };
  }
  void status(const std::string& line) {
    if (on_) std::fprintf(stderr, "%s\n", line.c_str());
  }

 private:
  bool on_;
};

bool write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  out.close();
  if (!out) {
    std::cerr << "simcore-sim: cannot write " << p << "\n";
    return false;
  }
  return true;
}

struct Args {
  std::string command;
  std::string scenario;
  std::string out;
  std::string against;
  std::string api, client_id, client_secret, account;
  std::string access_if, core_if;
  std::string access_pcap, core_pcap;
  bool progress = true;
};

int usage_error(const std::string& why) {
  std::cerr << "simcore-sim: " << why << "\n" << kUsage;
  return kExitBadInput;
}

std::optional<simcore::sim::Endpoint> parse_endpoint(const std::string& s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  const std::string port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const unsigned long n = std::stoul(port);
  if (n == 0 || n > 65535) return std::nullopt;
  return simcore::sim::Endpoint{s.substr(0, colon), static_cast<uint16_t>(n)};
}

int provision(const sim::Scenario& scenario, const Args& a) {
  const auto endpoint = parse_endpoint(a.api);
  if (!endpoint) return usage_error("--api must be HOST:PORT");
  simcore::core::Result<simcore::core::Account> account =
      simcore::core::Error(simcore::core::Code::kInternal, "unset");
  if (a.account.empty()) {
    account = sim::load_scenario_account(scenario);
  } else if (auto loaded = simcore::ctl::load_account_yaml(a.account); loaded) {
    account = std::move(loaded->account);
  } else {
    account = simcore::core::Error(loaded.error().code(), a.account + ": " + loaded.error().message());
  }
  if (!account) {
    std::cerr << "simcore-sim: " << account.error().message() << "\n";
    return kExitBadInput;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto token = sim::fetch_token(*endpoint, a.client_id, a.client_secret);
  if (!token) {
    std::cerr << "simcore-sim: " << token.error().message() << "\n";
    return kExitFailure;
  }
  auto done = sim::provision(account->model(), {*endpoint, "/iot/jpu/iotprogrammablesim", *token});
  if (!done) {
    std::cerr << "simcore-sim: provisioning failed: " << done.error().message() << "\n";
    return kExitFailure;
  }
  std::printf("provisioned %zu Things, %zu networks, %zu IP Profiles, %zu Things Groups in %zu "
              "requests (%.2f s)\n",
              done->things, done->network_ids.size(), done->profile_ids.size(),
              done->group_ids.size(), done->requests, since(t0));
  for (const std::string& n : done->notes) std::printf("note: %s\n", n.c_str());
  return kExitOk;
}

int replay(const Args& a, const sim::Scenario& scenario, const sim::Traffic& traffic,
           ProgressBar& bar, double gen_s) {
  auto link = sim::AfPacketLink::open(a.access_if, a.core_if);
  if (!link) {
    std::cerr << "simcore-sim: " << link.error().message() << "\n";
    return kExitFailure;
  }
  const auto t1 = std::chrono::steady_clock::now();
  const std::filesystem::path out(a.out);
  sim::OnlineOptions o;
  o.capture = (out / "online.pcapng").string();
  auto run = sim::replay_online(scenario, traffic, *link, o, bar.callback("replay"));
  if (!run) {
    std::cerr << "simcore-sim: " << run.error().message() << "\n";
    return kExitFailure;
  }
  if (!write_file(out / "report.json", sim::online_report_json(a.scenario, traffic, *run))) {
    return kExitFailure;
  }
  std::fputs(sim::online_report_text(a.scenario, traffic, *run).c_str(), stdout);
  std::printf("time: generate %.2f s, attach and replay %.2f s; report in %s, every frame "
              "sent and received in %s\n",
              gen_s, since(t1), (out / "report.json").c_str(), o.capture.c_str());
  const bool ok = sim::online_mismatches(traffic, *run).empty() &&
                  sim::attach_mismatches(*run).empty();
  return ok ? kExitOk : kExitMismatch;
}

int check(const Args& a) {
  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  if (ec) {
    std::cerr << "simcore-sim: cannot create " << a.out << ": " << ec.message() << "\n";
    return kExitFailure;
  }
  simcore::dp::EalOptions eal;
  eal.memory_mb = 1024;
  eal.log_level = "error";
  if (auto st = simcore::dp::eal_init(eal); !st) {
    std::cerr << "simcore-sim: " << st.error().message() << "\n";
    return kExitFailure;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto checked = sim::check_pcaps({a.account, a.access_pcap, a.core_pcap, 0, 0, a.out});
  if (!checked) {
    std::cerr << "simcore-sim: " << checked.error().message() << "\n";
    return checked.error().code() == simcore::core::Code::kInvalidArgument ? kExitBadInput
                                                                           : kExitFailure;
  }
  std::string what = a.access_pcap;
  if (!a.core_pcap.empty()) what += (what.empty() ? "" : " + ") + a.core_pcap;
  const sim::ReportInfo info{what, 0, a.account};
  if (!write_file(std::filesystem::path(a.out) / "report.json",
                  sim::report_json(info, checked->traffic, checked->replayed))) {
    return kExitFailure;
  }
  std::fputs(sim::report_text(info, checked->traffic, checked->replayed).c_str(), stdout);
  std::printf("%zu frames replayed in %.2f s, %zu decided by the policy and compared, %zu handled "
              "before it (ARP, Echo, GTP-C/IKE punts, parse drops); report in %s\n",
              checked->frames, since(t0), checked->traffic.frames.size(), checked->not_policy,
              a.out.c_str());
  return sim::mismatches(checked->traffic, checked->replayed).empty() ? kExitOk : kExitMismatch;
}

int run(const Args& a) {
  const auto t0 = std::chrono::steady_clock::now();
  auto scenario = sim::load_scenario(a.scenario);
  if (!scenario) {
    std::cerr << "simcore-sim: " << scenario.error().message() << "\n";
    return kExitBadInput;
  }
  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  if (ec) {
    std::cerr << "simcore-sim: cannot create " << a.out << ": " << ec.message() << "\n";
    return kExitFailure;
  }
  ProgressBar bar(a.progress);
  const simcore::dp::PortConfig ports = sim::default_ports();
  auto traffic = sim::generate(*scenario, ports, bar.callback("generate"));
  if (!traffic) {
    std::cerr << "simcore-sim: " << a.scenario << ": " << traffic.error().message() << "\n";
    return kExitBadInput;
  }
  const double gen_s = since(t0);
  const std::filesystem::path out(a.out);

  if (a.command == "generate") {
    for (const auto port : {simcore::dp::Port::kAccess, simcore::dp::Port::kCore}) {
      const std::string file =
          (out / (std::string(simcore::dp::port_name(port)) + ".pcap")).string();
      if (auto st = sim::write_pcap(file, *traffic, port); !st) {
        std::cerr << "simcore-sim: " << st.error().message() << "\n";
        return kExitFailure;
      }
    }
    if (!write_file(out / "expected.json", sim::expected_json(*scenario, *traffic, ports))) {
      return kExitFailure;
    }
    std::printf("generated %zu frames (%zu flows, %llu Things) in %.2f s into %s\n",
                traffic->frames.size(), traffic->flows.size(),
                static_cast<unsigned long long>(traffic->things_selected), gen_s, a.out.c_str());
    for (const std::string& n : traffic->notes) std::printf("note: %s\n", n.c_str());
    return kExitOk;
  }

  if (a.command == "replay") return replay(a, *scenario, *traffic, bar, gen_s);

  simcore::dp::EalOptions eal;
  eal.memory_mb = 1024;
  eal.log_level = "error";
  if (auto st = simcore::dp::eal_init(eal); !st) {
    std::cerr << "simcore-sim: " << st.error().message() << "\n";
    return kExitFailure;
  }
  bar.status("replaying " + std::to_string(traffic->frames.size()) + " frames ...");
  const auto t1 = std::chrono::steady_clock::now();
  sim::ValidateOptions vo;
  vo.against = a.against;
  vo.out_dir = a.out;
  auto replayed = sim::replay_offline(*scenario, *traffic, ports, vo);
  if (!replayed) {
    const bool bad_account = !a.against.empty() &&
                             replayed.error().code() != simcore::core::Code::kUnavailable &&
                             replayed.error().code() != simcore::core::Code::kFailedPrecondition;
    std::cerr << "simcore-sim: " << replayed.error().message() << "\n";
    return bad_account ? kExitBadInput : kExitFailure;
  }
  const double replay_s = since(t1);
  const sim::ReportInfo info{a.scenario, scenario->seed, a.against};
  if (!write_file(out / "report.json", sim::report_json(info, *traffic, *replayed))) {
    return kExitFailure;
  }
  std::fputs(sim::report_text(info, *traffic, *replayed).c_str(), stdout);
  std::printf("time: generate %.2f s, replay and compare %.2f s (%.0f frames/s); report in %s\n",
              gen_s, replay_s, static_cast<double>(traffic->frames.size()) / replay_s,
              a.out.c_str());
  return sim::mismatches(*traffic, *replayed).empty() ? kExitOk : kExitMismatch;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("no command");
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= args.size()) return false;
      into = args[++i];
      return true;
    };
    if (s == "--help" || s == "-h") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (s == "--out") {
      if (!value(a.out)) return usage_error("--out needs a directory");
    } else if (s == "--against") {
      if (!value(a.against)) return usage_error("--against needs an account file");
    } else if (s == "--api") {
      if (!value(a.api)) return usage_error("--api needs HOST:PORT");
    } else if (s == "--client-id") {
      if (!value(a.client_id)) return usage_error("--client-id needs a value");
    } else if (s == "--client-secret") {
      if (!value(a.client_secret)) return usage_error("--client-secret needs a value");
    } else if (s == "--account") {
      if (!value(a.account)) return usage_error("--account needs an account file");
    } else if (s == "--access-pcap") {
      if (!value(a.access_pcap)) return usage_error("--access-pcap needs a file");
    } else if (s == "--core-pcap") {
      if (!value(a.core_pcap)) return usage_error("--core-pcap needs a file");
    } else if (s == "--access") {
      if (!value(a.access_if)) return usage_error("--access needs an interface");
    } else if (s == "--core") {
      if (!value(a.core_if)) return usage_error("--core needs an interface");
    } else if (s == "--no-progress") {
      a.progress = false;
    } else if (!s.empty() && s[0] == '-') {
      return usage_error("unknown option " + s);
    } else if (a.command.empty()) {
      a.command = s;
    } else if (a.scenario.empty()) {
      a.scenario = s;
    } else {
      return usage_error("unexpected argument " + s);
    }
  }
  if (a.command != "generate" && a.command != "validate" && a.command != "provision" &&
      a.command != "replay" && a.command != "check") {
    return usage_error("unknown command \"" + a.command + "\"");
  }
  if (a.command == "check") {
    if (!a.scenario.empty()) return usage_error("check takes no scenario");
    if (a.account.empty()) return usage_error("check needs --account");
    if (a.access_pcap.empty() && a.core_pcap.empty()) {
      return usage_error("check needs --access-pcap and/or --core-pcap");
    }
    if (a.out.empty()) return usage_error("--out is required");
    return check(a);
  }
  if (a.scenario.empty()) return usage_error("no scenario file");
  if (a.command == "provision") {
    if (a.api.empty() || a.client_id.empty() || a.client_secret.empty()) {
      return usage_error("provision needs --api, --client-id and --client-secret");
    }
    auto scenario = sim::load_scenario(a.scenario);
    if (!scenario) {
      std::cerr << "simcore-sim: " << scenario.error().message() << "\n";
      return kExitBadInput;
    }
    return provision(*scenario, a);
  }
  if (a.command == "replay" && (a.access_if.empty() || a.core_if.empty())) {
    return usage_error("replay needs --access and --core");
  }
  if (a.out.empty()) return usage_error("--out is required");
  if (a.command == "generate" && !a.against.empty()) {
    return usage_error("--against is for validate");
  }
  return run(a);
}
