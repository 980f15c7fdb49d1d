#include "dataplane/testing/tshark.h"

#include <cstdio>
#include <set>
#include <sstream>

namespace simcore::dp::testing {

bool have_tshark() { return std::system("command -v tshark >/dev/null 2>&1") == 0; }

std::string run_command(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  return out;
}

std::vector<std::vector<std::string>> tshark_fields(const std::filesystem::path& file,
                                                    const std::string& filter,
                                                    const std::vector<std::string>& fields) {
  std::string cmd =
      "tshark -n -r '" + file.string() + "' -Y '" + filter + "' -T fields -E separator=/t";
  for (const std::string& f : fields) cmd += " -e " + f;
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(run_command(cmd + " 2>/dev/null"));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> row;
    std::istringstream cols(line);
    for (std::string c; std::getline(cols, c, '\t');) row.push_back(c);
    row.resize(fields.size());
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string tshark_problems(const std::filesystem::path& file) {
  return run_command("tshark -n -r '" + file.string() +
                     "' -Y '_ws.malformed || _ws.expert.severity >= error' -T fields"
                     " -e frame.number -e _ws.col.Protocol -e _ws.col.Info 2>/dev/null");
}

std::string tshark_problems_in_our_layers(const std::filesystem::path& file,
                                          const std::string& filter) {
  static const std::set<std::string> kOurs = {"eth", "ethertype", "vlan", "arp", "ip", "udp",
                                              "tcp", "icmp", "gtp", "gtpv2", "e212"};
  std::string out;
  for (const auto& row :
       tshark_fields(file, "(" + filter + ") && (_ws.malformed || _ws.expert.severity >= error)",
                     {"frame.number", "frame.protocols", "_ws.col.Info"})) {
    // The deepest protocol, a trailing "data" (undissected bytes) aside.
    std::string stack = row[1];
    if (stack.size() > 5 && stack.compare(stack.size() - 5, 5, ":data") == 0) {
      stack.resize(stack.size() - 5);
    }
    const std::string deepest = stack.substr(stack.rfind(':') + 1);
    if (kOurs.count(deepest) != 0) out += row[0] + "\t" + row[1] + "\t" + row[2] + "\n";
  }
  return out;
}

}  // namespace simcore::dp::testing
