// render_prometheus: exact lines, every name of the X-macro lists present, and the whole text
// accepted by a strict parser of the text exposition format 0.0.4 written here from the
// format's description (prometheus.io/docs/instrumenting/exposition_formats), since promtool
// is not installed on these machines.
#include "dataplane/metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace simcore::dp {
namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value;
};

struct Exposition {
  std::map<std::string, std::string> type;  // family → counter, gauge, ...
  std::map<std::string, std::string> help;
  std::vector<Sample> samples;
  std::string error;  // empty when the text is well-formed

  // The value of the sample with exactly these labels, or -1.
  double value(const std::string& name, const std::map<std::string, std::string>& labels) const {
    for (const Sample& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return -1;
  }
};

// Unescapes a label value (\\, \", \n) or a help text (\\, \n); false on any other escape.
bool unescape(const std::string& in, bool quotes, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\') {
      if (quotes && in[i] == '"') return false;
      out += in[i];
      continue;
    }
    if (++i == in.size()) return false;
    if (in[i] == '\\')
      out += '\\';
    else if (in[i] == 'n')
      out += '\n';
    else if (quotes && in[i] == '"')
      out += '"';
    else
      return false;
  }
  return true;
}

// Strict: every line is # HELP, # TYPE or a sample; no blank lines or other comments; the text
// ends with a line feed; HELP and TYPE at most once per family and before its samples; a
// family's samples are contiguous; label names valid and not repeated; no repeated series;
// counters not negative.
Exposition parse_exposition(const std::string& text) {
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
  static const std::regex type(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? )"
      R"(([-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|Inf|NaN))( -?[0-9]+)?)");
  static const std::regex label(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)\",?)");
  Exposition e;
  if (!text.empty() && text.back() != '\n') return e.error = "no final line feed", e;
  std::set<std::string> closed, series;
  std::string current;
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    auto fail = [&](const std::string& why) {
      e.error = "line " + std::to_string(line_no) + ": " + why + ": " + line;
      return e;
    };
    std::smatch m;
    // The family a HELP, TYPE or sample line belongs to; switching families closes the last.
    auto enter = [&](const std::string& family) {
      if (family == current) return true;
      if (closed.count(family)) return false;
      if (!current.empty()) closed.insert(current);
      current = family;
      return true;
    };
    if (std::regex_match(line, m, help)) {
      std::string doc;
      if (!unescape(m[2], false, doc)) return fail("bad escape in HELP");
      if (e.help.count(m[1]) || !enter(m[1])) return fail("second HELP");
      e.help[m[1]] = doc;
    } else if (std::regex_match(line, m, type)) {
      if (e.type.count(m[1]) || !enter(m[1])) return fail("second TYPE");
      for (const Sample& s : e.samples) {
        if (s.name == m[1]) return fail("TYPE after samples");
      }
      e.type[m[1]] = m[2];
    } else if (std::regex_match(line, m, sample)) {
      Sample s;
      s.name = m[1];
      const std::string labels = m[2];
      for (std::sregex_iterator it(labels.begin(), labels.end(), label), end; it != end; ++it) {
        const std::string name = (*it)[1];
        if (name.rfind("__", 0) == 0) return fail("reserved label name");
        std::string value;
        if (!unescape((*it)[2], true, value)) return fail("bad escape in a label value");
        if (!s.labels.emplace(name, value).second) return fail("repeated label " + name);
      }
      const std::string v = m[3];
      s.value = v == "Inf" || v == "+Inf" ? 1e308 : v == "-Inf" ? -1e308 : std::stod(v);
      // Counters and gauges are named as their family; untyped samples are their own family.
      if (!enter(s.name)) return fail("samples of a family not contiguous");
      if (e.type.count(s.name) && e.type[s.name] == "counter" && s.value < 0) {
        return fail("negative counter");
      }
      std::string key = s.name;
      for (const auto& [k, val] : s.labels) key += "\x1f" + k + "=" + val;
      if (!series.insert(key).second) return fail("repeated series");
      e.samples.push_back(std::move(s));
    } else {
      return fail("not a HELP, TYPE or sample line");
    }
  }
  return e;
}

// Every family, one per Counters field.
const char* const kFamilyNames[] = {
    "simcore_rx_packets_total",
    "simcore_tx_packets_total",
    "simcore_parse_total",
    "simcore_verdicts_total",
    "simcore_drops_total",
    "simcore_pipeline_drops_total",
    "simcore_punts_total",
    "simcore_gtpu_echo_replies_total",
    "simcore_arp_replies_total",
    "simcore_arp_requests_total",
    "simcore_arp_requests_throttled_total",
    "simcore_icmp_time_exceeded_total",
    "simcore_icmp_frag_needed_total",
    "simcore_icmp_suppressed_total",
    "simcore_esp_encrypted_total",
    "simcore_esp_decrypted_total",
};
constexpr size_t kScalarFamilies = 9;  // echo replies .. esp_decrypted: one sample per worker

TEST(MetricsParser, RefusesWhatTheFormatForbids) {
  EXPECT_EQ(parse_exposition("a 1\n").error, "");
  EXPECT_EQ(parse_exposition("a{b=\"x\\\"y\"} 1\n").error, "");
  for (const char* bad : {
           "a 1",                                   // no final line feed
           "a{b=\"x\"} 1\n\n",                      // blank line
           "# TYPE a counter\n# TYPE a counter\n",  // two TYPEs
           "a 1\nb 1\na 2\n",                       // not contiguous
           "a{b=\"1\"} 1\na{b=\"1\"} 2\n",          // repeated series
           "a{b=\"\\x\"} 1\n",                      // bad escape
           "a{b=\"1\",b=\"2\"} 1\n",                // repeated label
           "a{__b=\"1\"} 1\n",                      // reserved label
           "1a 1\n",                                // bad name
           "a one\n",                               // bad value
           "# TYPE a counter\na -1\n",              // negative counter
           "# a comment\n",                         // not HELP or TYPE
       }) {
    EXPECT_NE(parse_exposition(bad).error, "") << bad;
  }
}

TEST(Metrics, RendersExactLinesForTwoWorkers) {
  Counters w[2] = {};
  w[0].rx[static_cast<size_t>(Port::kAccess)] = 12;
  w[1].tx[static_cast<size_t>(Port::kCore)] = 7;
  w[0].parse[static_cast<size_t>(Port::kAccess)][static_cast<size_t>(ParseStatus::kMalformedGtpu)] =
      2;
  w[1].verdict[static_cast<size_t>(core::Verdict::kForward)] = 9;
  w[0].policy_drop[static_cast<size_t>(core::DropReason::kUplinkFirewall)] = 3;
  w[1].pipeline_drop[static_cast<size_t>(PipelineDrop::kTtlExceeded)] = 4;
  w[1].echo_replies = 18446744073709551615ull;
  const std::string text = render_prometheus(w);
  for (const char* line : {
           "# HELP simcore_rx_packets_total Frames received, by port.\n",
           "# TYPE simcore_rx_packets_total counter\n",
           "simcore_rx_packets_total{port=\"access\",worker=\"0\"} 12\n",
           "simcore_rx_packets_total{port=\"access\",worker=\"1\"} 0\n",
           "simcore_tx_packets_total{port=\"core\",worker=\"1\"} 7\n",
           "simcore_parse_total{port=\"access\",status=\"malformed.gtpu\",worker=\"0\"} 2\n",
           "simcore_parse_total{port=\"core\",status=\"ok\",worker=\"1\"} 0\n",
           "# TYPE simcore_verdicts_total counter\n",
           "simcore_verdicts_total{verdict=\"FORWARD\",worker=\"1\"} 9\n",
           "# HELP simcore_drops_total Frames dropped by the policy, by reason.\n",
           "# TYPE simcore_drops_total counter\n",
           "simcore_drops_total{reason=\"uplink.firewall\",worker=\"0\"} 3\n",
           "simcore_pipeline_drops_total{reason=\"ipv4.ttl_exceeded\",worker=\"1\"} 4\n",
           "# TYPE simcore_gtpu_echo_replies_total counter\n",
           "simcore_gtpu_echo_replies_total{worker=\"1\"} 18446744073709551615\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "in\n" << text;
  }
  // The never-counted "none" entries are left out.
  EXPECT_EQ(text.find("reason=\"none\""), std::string::npos);
  const Exposition e = parse_exposition(text);
  EXPECT_EQ(e.error, "");
  EXPECT_EQ(e.value("simcore_drops_total", {{"reason", "uplink.firewall"}, {"worker", "0"}}), 3);
}

// Every name of the four X-macro lists, for every worker, with its family's HELP and TYPE.
TEST(Metrics, EveryStatusAndReasonAppearsForEveryWorker) {
  std::vector<Counters> w(3);
  for (size_t i = 0; i < w.size(); ++i) w[i].policy_drop[1] = i + 1;
  const Exposition e = parse_exposition(render_prometheus(w));
  ASSERT_EQ(e.error, "");
  for (const char* f : kFamilyNames) {
    EXPECT_EQ(e.type.count(f) ? e.type.at(f) : "", "counter") << f;
    EXPECT_FALSE(e.help.count(f) ? e.help.at(f).empty() : true) << f;
  }
  for (size_t worker = 0; worker < w.size(); ++worker) {
    const std::string wl = std::to_string(worker);
    for (size_t r = 1; r < kPolicyDropCount; ++r) {
      const char* name = core::drop_reason_name(static_cast<core::DropReason>(r));
      EXPECT_GE(e.value("simcore_drops_total", {{"reason", name}, {"worker", wl}}), 0) << name;
    }
    for (size_t d = 1; d < kPipelineDropCount; ++d) {
      const char* name = pipeline_drop_name(static_cast<PipelineDrop>(d));
      EXPECT_GE(e.value("simcore_pipeline_drops_total", {{"reason", name}, {"worker", wl}}), 0)
          << name;
    }
    for (size_t p = 0; p < kPortCount; ++p) {
      const char* port = port_name(static_cast<Port>(p));
      for (size_t s = 0; s < kParseStatusCount; ++s) {
        const char* status = parse_status_name(static_cast<ParseStatus>(s));
        EXPECT_GE(
            e.value("simcore_parse_total", {{"port", port}, {"status", status}, {"worker", wl}}), 0)
            << port << " " << status;
      }
    }
    for (size_t p = 1; p < kPuntCount; ++p) {
      const char* name = punt_name(static_cast<Punt>(p));
      EXPECT_GE(e.value("simcore_punts_total", {{"reason", name}, {"worker", wl}}), 0) << name;
    }
    for (size_t v = 0; v < kVerdictCount; ++v) {
      const char* name = core::verdict_name(static_cast<core::Verdict>(v));
      EXPECT_GE(e.value("simcore_verdicts_total", {{"verdict", name}, {"worker", wl}}), 0);
    }
  }
  EXPECT_EQ(e.value("simcore_drops_total", {{"reason", "uplink.no_session"}, {"worker", "2"}}), 3);
  // One sample per array element (minus the three "none" entries) and scalar, per worker.
  const size_t per_worker = 2 * kPortCount + kPortCount * kParseStatusCount + kVerdictCount +
                            (kPolicyDropCount - 1) + (kPipelineDropCount - 1) + (kPuntCount - 1) +
                            kScalarFamilies;
  EXPECT_EQ(e.samples.size(), per_worker * w.size());
}

TEST(Metrics, NoWorkersStillDescribesEveryFamily) {
  const Exposition e = parse_exposition(render_prometheus({}));
  EXPECT_EQ(e.error, "");
  EXPECT_EQ(e.samples.size(), 0u);
  EXPECT_EQ(e.type.size(), std::size(kFamilyNames));
}

TEST(Metrics, LabelValuesAreEscaped) {
  std::string out;
  append_label_value(out, "a\"b\\c\nd.e");
  EXPECT_EQ(out, "a\\\"b\\\\c\\nd.e");
  const Exposition e = parse_exposition("x{l=\"" + out + "\"} 1\n");
  ASSERT_EQ(e.error, "");
  EXPECT_EQ(e.samples[0].labels.at("l"), "a\"b\\c\nd.e");
}

}  // namespace
}  // namespace simcore::dp
