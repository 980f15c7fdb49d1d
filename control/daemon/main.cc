// simcored — the control daemon: the IoT Programmable SIM API over HTTP on the account stored
// in its data directory. Logs are one JSON object per line on stderr.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>

#include "control/daemon/config.h"
#include "control/daemon/fast_path.h"
#include "control/daemon/service.h"
#include "control/http/server.h"

namespace {

constexpr const char* kUsage =
    R"(usage: simcored [--config FILE] [--data-dir DIR] [--port N] [--help]

Serves the IoT Programmable SIM API (prefix /iot/jpu/iotprogrammablesim) with the account stored
in DIR (SQLite, created on the first start with the shipped defaults and a first admin).
  --config FILE   YAML config (listenAddress, port, dataDir, apiPrefix, adminClientId,
                  adminClientSecret, tokenTtlSeconds, rateLimitPerSecond, rateLimitBurst,
                  maxBodyBytes, maxConnections, tlsCertFile, tlsKeyFile, organization,
                  ratePlan {currency, feePerCycle, pricePerMb, pricePerSms},
                  smsValiditySeconds, dataplane {workers, lcores, memoryMb, hugepages, pci,
                  idleSleepMicros, packedMbufs, flowsPerWorker, ealArgs, access/core {port, devargs, address, prefixLength, gateway,
                  mtu, neighbours}, ike {port, nattPort, peerPort, logLevel, retransmitTries,
                  retransmitTimeoutSeconds, childRekeySeconds, retrySeconds, forceUdpEncap}}: present, simcored runs the
                  DPDK fast path on those ports, and with `ike` the embedded IKEv2 daemon)
  --data-dir DIR  overrides dataDir
  --port N        overrides port (0: any free port; the chosen one is printed)
Stops cleanly on SIGTERM or SIGINT.
)";

void log_line(const std::string& event, const std::string& fields) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  std::fprintf(stderr, "{\"ts\":%lld,\"event\":\"%s\"%s%s}\n", static_cast<long long>(ms),
               event.c_str(), fields.empty() ? "" : ",", fields.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace simcore;
  std::string config_path, data_dir;
  int port = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--config" && i + 1 < argc) {
      config_path = next();
    } else if (a == "--data-dir" && i + 1 < argc) {
      data_dir = next();
    } else if (a == "--port" && i + 1 < argc) {
      port = std::atoi(next());
    } else {
      std::cerr << "simcored: unknown argument " << a << "\n" << kUsage;
      return 2;
    }
  }
  core::Result<ctl::DaemonConfig> cfg =
      config_path.empty() ? ctl::load_config_text("") : ctl::load_config_file(config_path);
  if (!cfg) {
    std::cerr << "simcored: " << cfg.error().message() << "\n";
    return 2;
  }
  if (!data_dir.empty()) cfg->data_dir = data_dir;
  if (port >= 0) cfg->port = static_cast<uint16_t>(port);

  // With a `dataplane` section the snapshots go to the DPDK fast path; without one, to a
  // publisher nobody reads (the API alone).
  ctl::PublisherSink api_only;
  std::unique_ptr<ctl::FastPath> fast_path;
  if (cfg->dataplane) {
    auto fp = ctl::FastPath::open(*cfg->dataplane);
    if (!fp) {
      std::cerr << "simcored: " << fp.error().message() << "\n";
      return 1;
    }
    fast_path = std::move(*fp);
  }
  ctl::TablesSink& sink = fast_path ? static_cast<ctl::TablesSink&>(*fast_path) : api_only;
  auto now_ms = [] {
    return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
  };
  auto service = ctl::Service::open(*cfg, sink, now_ms);
  if (!service) {
    std::cerr << "simcored: " << service.error().message() << "\n";
    return 1;
  }
  ctl::http::ServerOptions opts;
  opts.address = cfg->listen_address;
  opts.port = cfg->port;
  opts.body_limit = cfg->max_body_bytes;
  opts.max_connections = cfg->max_connections;
  if (cfg->tls_cert_file) opts.tls = ctl::http::TlsFiles{*cfg->tls_cert_file, *cfg->tls_key_file};
  ctl::Service& svc = **service;
  if (fast_path) svc.set_metrics_source([&fast_path] { return fast_path->metrics(); });
  if (fast_path && fast_path->ike()) {
    svc.set_tunnel_status_source(
        [&fast_path](core::TunnelId id) { return fast_path->ike()->status(id); });
  }
  // Access log: every write and every error, one JSON line each. Successful reads are not
  // logged: at tens of thousands per second they would drown the rest. Only method, path,
  // status, time and request id are written (bodies carry secrets such as pre-shared keys).
  auto server = ctl::http::Server::create(opts, [&svc](const ctl::http::Request& req) {
    const auto t0 = std::chrono::steady_clock::now();
    ctl::http::Response res = svc.handle(req);
    const int status = res.result_int();
    if (req.msg.method() != ctl::http::Verb::get || status >= 400) {
      std::string path(req.target().substr(0, req.target().find('?')));
      for (char& c : path) {
        if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
      }
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
      log_line("request",
               "\"method\":\"" + std::string(ctl::http::bhttp::to_string(req.msg.method())) +
                   "\",\"path\":\"" + path + "\",\"status\":" + std::to_string(status) +
                   ",\"us\":" + std::to_string(us) + ",\"requestId\":\"" + req.request_id + "\"");
    }
    return res;
  });
  if (!server) {
    std::cerr << "simcored: " << server.error().message() << "\n";
    return 1;
  }
  // Background work (SMS delivery, bulk jobs, billing reports) runs on the io thread between
  // requests: again at once while work is pending, else every 100 ms. With a fast path, every
  // millisecond: punted GTP-C waits at most that long for its answer.
  boost::asio::steady_timer ticker((*server)->io_context());
  std::function<void(const boost::system::error_code&)> on_tick =
      [&](const boost::system::error_code& ec) {
        if (ec) return;
        bool more = svc.tick();
        if (fast_path) more = fast_path->poll(svc, now_ms()) || more;
        ticker.expires_after(std::chrono::milliseconds(more ? 0 : fast_path ? 1 : 100));
        ticker.async_wait(on_tick);
      };
  ticker.expires_after(std::chrono::milliseconds(100));
  ticker.async_wait(on_tick);
  boost::asio::signal_set signals((*server)->io_context(), SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log_line("stopping", "\"signal\":" + std::to_string(sig));
    ticker.cancel();
    (*server)->stop();
  });
  const std::string scheme = cfg->tls_cert_file ? "https" : "http";
  if (svc.generated_admin_secret()) {
    // Shown once: only its hash is stored.
    std::printf("first start: admin client_id %s client_secret %s\n", svc.admin_client_id().c_str(),
                svc.generated_admin_secret()->c_str());
  }
  std::printf("simcored: listening on %s://%s:%u%s (data in %s, tables generation %llu)\n",
              scheme.c_str(), cfg->listen_address.c_str(), (*server)->port(),
              cfg->api_prefix.c_str(), cfg->data_dir.c_str(),
              static_cast<unsigned long long>(svc.generation()));
  std::fflush(stdout);
  log_line("listening", "\"port\":" + std::to_string((*server)->port()));
  (*server)->run();
  // Before the service: workers read its tables, charon its tunnels. Closing charon's tunnels
  // sends their DELETEs, so the ports must still run.
  fast_path.reset();
  log_line("stopped", "");
  return 0;
}
