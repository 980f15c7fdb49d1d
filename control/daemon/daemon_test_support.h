// control/daemon/daemon_test_support.h — the real simcored binary on port 0 with a temp data dir,
// driven over the socket by curl (a client nobody here wrote). Bounded: every curl has
// --max-time, and a Daemon is always stopped (SIGKILL in the destructor).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace simcore::ctl::e2e {

namespace json = boost::json;
namespace fs = std::filesystem;

constexpr const char* kId = "test-admin";
constexpr const char* kSecret = "0123456789abcdef-secret";
constexpr const char* kPrefix = "/iot/jpu/iotprogrammablesim";

struct Reply {
  int status = 0;
  std::string headers;
  std::string body;
  json::value json() const { return json::parse(body); }
};

class Daemon {
 public:
  explicit Daemon(const fs::path& dir) : dir_(dir) {}
  ~Daemon() { stop(SIGKILL); }

  // Starts simcored and waits for its "listening" line; returns the port.
  int start() {
    int out[2];
    if (pipe(out) != 0) return 0;
    pid_ = fork();
    if (pid_ == 0) {
      // If the test process dies without stopping us (an abort skips destructors), die too:
      // an orphan daemon would hold ctest's output pipe open and hang the whole run.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      const std::string cfg = (dir_ / "simcored.yaml").string();
      execl(SIMCORED_PATH, SIMCORED_PATH, "--config", cfg.c_str(), "--port", "0", "--data-dir",
            (dir_ / "data").c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char line[512];
    port_ = 0;
    while (fgets(line, sizeof line, f)) {
      if (const char* p = std::strstr(line, "listening on http://127.0.0.1:")) {
        port_ = std::atoi(p + std::strlen("listening on http://127.0.0.1:"));
        break;
      }
    }
    fclose(f);
    return port_;
  }

  // Sends `sig` and reaps; returns the exit status (or -sig).
  int stop(int sig) {
    if (pid_ <= 0) return 0;
    kill(pid_, sig);
    int status = 0;
    for (int i = 0; i < 100; ++i) {  // 10 s at most, then SIGKILL
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = 0;
    return -1000;
  }

  Reply call(const std::string& method, const std::string& path, const std::string& token = "",
             const std::string& body = "", const std::string& extra = "") const {
    const fs::path body_file = dir_ / "body.json";
    std::ofstream(body_file) << body;
    std::string cmd = "curl -s -i --max-time 20 -X " + method +
                      " 'http://127.0.0.1:" + std::to_string(port_) + path + "'";
    if (!token.empty()) cmd += " -H 'Authorization: Bearer " + token + "'";
    if (!body.empty()) {
      cmd += " -H 'Content-Type: application/json' --data-binary @" + body_file.string();
    }
    cmd += " " + extra + " 2>/dev/null";
    Reply r;
    std::string all;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      std::array<char, 65536> buf;
      size_t n;
      while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) all.append(buf.data(), n);
      pclose(p);
    }
    // With -L curl prints every response's head in turn: the last one describes the body.
    while (all.rfind("HTTP/1.1 ", 0) == 0) {
      r.status = std::atoi(all.c_str() + 9);
      const size_t split = all.find("\r\n\r\n");
      r.headers = all.substr(0, split);
      all = split == std::string::npos ? "" : all.substr(split + 4);
    }
    r.body = all;
    return r;
  }

  // A bearer token for the first admin, or "" when the token endpoint refuses.
  std::string token() const { return token_of(kId, kSecret); }
  // A bearer token for the user a POST /users reply created (its clientId/clientSecret).
  std::string token_for(const Reply& created_user) const {
    if (created_user.status != 201) return "";
    const json::value u = created_user.json();
    return token_of(std::string(u.at("clientId").as_string()),
                    std::string(u.at("clientSecret").as_string()));
  }
  std::string token_of(const std::string& id, const std::string& secret) const {
    Reply r = call("POST", "/oauth/client_credential/accesstoken?grant_type=client_credentials", "",
                   "", "-d client_id=" + id + " -d client_secret=" + secret);
    if (r.status != 200) return "";
    return std::string(r.json().at("access_token").as_string());
  }

 private:
  fs::path dir_;
  pid_t pid_ = 0;
  int port_ = 0;
};

// A temp dir with a simcored.yaml holding the admin credentials above.
class Simcored : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/simcored-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ / "simcored.yaml")
        << "adminClientId: " << kId << "\nadminClientSecret: " << kSecret << "\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

inline std::string p(const std::string& path) { return kPrefix + path; }

}  // namespace simcore::ctl::e2e
