// control/daemon/daemon_test_support.h — the real simcored binary on port 0 with a temp data dir,
// driven over the socket by curl (a client nobody here wrote). Bounded: every curl has
// --max-time, and a Daemon is always stopped (SIGKILL in the destructor). Its log (stderr, a
// line per request) goes to simcored.log in the test's dir, and only a failed test prints its
// tail: a test making hundreds of calls would otherwise bury its own failure messages.
#pragma once

#include <fcntl.h>
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
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

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
  ~Daemon() {
    stop(SIGKILL);
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "--- the last lines of %s ---\n%s---\n", log_path().c_str(),
                   log_tail(40).c_str());
    }
  }

  fs::path log_path() const { return dir_ / "simcored.log"; }
  // The last `lines` lines of the daemon's log (every start of this dir appends to it).
  std::string log_tail(size_t lines) const {
    std::ifstream in(log_path());
    std::deque<std::string> last;
    for (std::string line; std::getline(in, line);) {
      last.push_back(std::move(line));
      if (last.size() > lines) last.pop_front();
    }
    std::string out;
    for (const std::string& line : last) out += line + "\n";
    return out;
  }

  // Starts simcored and waits for its "listening" line; returns the port.
  int start() {
    // Everything the child needs is made before fork: it only calls async-signal-safe functions.
    const std::string cfg = (dir_ / "simcored.yaml").string();
    const std::string data = (dir_ / "data").string();
    const std::string log = log_path().string();
    int out[2];
    if (pipe(out) != 0) return 0;
    pid_ = fork();
    if (pid_ == 0) {
      // If the test process dies without stopping us (an abort skips destructors), die too:
      // an orphan daemon would hold ctest's output pipe open and hang the whole run.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (log_fd >= 0) dup2(log_fd, STDERR_FILENO);
      execl(SIMCORED_PATH, SIMCORED_PATH, "--config", cfg.c_str(), "--port", "0", "--data-dir",
            data.c_str(), static_cast<char*>(nullptr));
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

  // GETs every path over one curl process and connection, in order: a test that must look at
  // many resources inside a short window (while a peer holds its sessions) spends milliseconds,
  // not a process per call. Bodies are the API's JSON, which never holds a raw newline.
  std::vector<Reply> get_all(const std::vector<std::string>& paths,
                             const std::string& token) const {
    std::string cmd = "curl -s --max-time 20 -H 'Authorization: Bearer " + token + "'" +
                      " -w '\\n%{http_code}\\n'";
    for (const std::string& path : paths) {
      cmd += " 'http://127.0.0.1:" + std::to_string(port_) + path + "'";
    }
    std::vector<Reply> replies;
    if (FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r")) {
      std::string body;
      bool in_body = true;
      for (std::array<char, 65536> line; fgets(line.data(), line.size(), p);) {
        std::string l(line.data());
        if (!l.empty() && l.back() == '\n') l.pop_back();
        if (in_body) {
          body = l;
        } else {
          replies.push_back({std::atoi(l.c_str()), "", body});
        }
        in_body = !in_body;
      }
      pclose(p);
    }
    return replies;
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
