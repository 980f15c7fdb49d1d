// dataplane/pcapng.cc — the pcapng blocks (draft-ietf-opsawg-pcapng sections 4.1, 4.2, 4.3):
// each block is type, total length, body padded to 32 bits, total length again, so a reader
// can walk the file both ways.
#include "dataplane/pcapng.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace simcore::dp {
namespace {

constexpr uint32_t kShbType = 0x0A0D0D0A;
constexpr uint32_t kIdbType = 0x00000001;
constexpr uint32_t kEpbType = 0x00000006;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint16_t kLinkTypeEthernet = 1;
constexpr uint16_t kOptEndOfOpt = 0;
constexpr uint16_t kOptComment = 1;
constexpr uint16_t kShbUserAppl = 4;
constexpr uint16_t kIfName = 2;
constexpr uint16_t kIfTsresol = 9;
constexpr uint8_t kTsresolNanoseconds = 9;  // 10^-9 s
// stdio buffer: a replay writes millions of small blocks; 1 MiB makes that a few large writes.
constexpr size_t kBufferBytes = size_t{1} << 20;

constexpr uint32_t pad4(size_t n) { return static_cast<uint32_t>((n + 3) & ~size_t{3}); }

// Block bodies are composed here, in host byte order, before one fwrite.
class Block {
 public:
  void u16(uint16_t v) { raw(&v, 2); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void raw(const void* p, size_t n) {
    if (n == 0) return;  // p may be null then (an empty comment), which memcpy may not get
    std::memcpy(bytes_.data() + len_, p, n);
    len_ += n;
  }
  void pad() {
    while (len_ % 4) bytes_[len_++] = 0;
  }
  // An option with its value padded to 32 bits.
  void option(uint16_t code, const void* value, uint16_t n) {
    u16(code);
    u16(n);
    raw(value, n);
    pad();
  }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return len_; }

 private:
  std::array<uint8_t, 512> bytes_;
  size_t len_ = 0;
};

bool put(std::FILE* f, const void* p, size_t n) { return n == 0 || std::fwrite(p, 1, n, f) == n; }

// Writes one whole block around `body` (already padded).
bool put_block(std::FILE* f, uint32_t type, const Block& body) {
  const uint32_t total = static_cast<uint32_t>(12 + body.size());
  return put(f, &type, 4) && put(f, &total, 4) && put(f, body.data(), body.size()) &&
         put(f, &total, 4);
}

}  // namespace

PcapngWriter::PcapngWriter(std::string path, std::FILE* f, std::unique_ptr<char[]> buffer,
                           uint32_t interfaces)
    : path_(std::move(path)), file_(f), buffer_(std::move(buffer)), interfaces_(interfaces) {}

PcapngWriter::PcapngWriter(PcapngWriter&& o) noexcept
    : path_(std::move(o.path_)),
      file_(std::exchange(o.file_, nullptr)),
      buffer_(std::move(o.buffer_)),
      interfaces_(o.interfaces_),
      packets_(o.packets_) {}

PcapngWriter& PcapngWriter::operator=(PcapngWriter&& o) noexcept {
  if (this != &o) {
    (void)close();
    path_ = std::move(o.path_);
    file_ = std::exchange(o.file_, nullptr);
    buffer_ = std::move(o.buffer_);
    interfaces_ = o.interfaces_;
    packets_ = o.packets_;
  }
  return *this;
}

PcapngWriter::~PcapngWriter() { (void)close(); }

core::Error PcapngWriter::io_error(const char* what) const {
  return core::Error(core::Code::kUnavailable,
                     "pcapng " + path_ + ": " + what + ": " + std::strerror(errno));
}

core::Result<PcapngWriter> PcapngWriter::open(const std::string& path,
                                              const std::vector<Interface>& interfaces) {
  if (interfaces.empty()) {
    return core::Error(core::Code::kInvalidArgument, "pcapng " + path + ": no interface");
  }
  for (const Interface& i : interfaces) {
    if (i.name.size() > 256) {
      return core::Error(core::Code::kInvalidArgument,
                         "pcapng " + path + ": interface name longer than 256 bytes");
    }
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return core::Error(core::Code::kUnavailable,
                       "pcapng " + path + ": cannot create: " + std::strerror(errno));
  }
  auto buffer = std::make_unique<char[]>(kBufferBytes);
  std::setvbuf(f, buffer.get(), _IOFBF, kBufferBytes);
  PcapngWriter w(path, f, std::move(buffer), static_cast<uint32_t>(interfaces.size()));

  Block shb;
  shb.u32(kByteOrderMagic);
  shb.u16(1);             // major version
  shb.u16(0);             // minor version
  shb.u64(~uint64_t{0});  // section length not given: the section runs to the end of the file
  static constexpr char kAppl[] = "simcore";
  shb.option(kShbUserAppl, kAppl, sizeof kAppl - 1);
  shb.option(kOptEndOfOpt, nullptr, 0);
  bool ok = put_block(f, kShbType, shb);
  for (const Interface& i : interfaces) {
    Block idb;
    idb.u16(kLinkTypeEthernet);
    idb.u16(0);  // reserved
    idb.u32(kSnapLen);
    if (!i.name.empty()) {
      idb.option(kIfName, i.name.data(), static_cast<uint16_t>(i.name.size()));
    }
    idb.option(kIfTsresol, &kTsresolNanoseconds, 1);
    idb.option(kOptEndOfOpt, nullptr, 0);
    ok = ok && put_block(f, kIdbType, idb);
  }
  if (!ok) {
    core::Error e = w.io_error("cannot write the header");
    (void)w.close();
    return e;
  }
  return w;
}

core::Status PcapngWriter::write(uint32_t interface, uint64_t ts_ns, std::span<const uint8_t> frame,
                                 std::string_view comment) {
  if (file_ == nullptr) {
    return core::Error(core::Code::kFailedPrecondition, "pcapng " + path_ + ": closed");
  }
  if (interface >= interfaces_) {
    return core::Error(core::Code::kInvalidArgument,
                       "pcapng " + path_ + ": no interface " + std::to_string(interface));
  }
  const uint32_t captured = static_cast<uint32_t>(std::min<size_t>(frame.size(), kSnapLen));
  if (comment.size() > kMaxComment) comment = comment.substr(0, kMaxComment);
  const uint32_t options = (comment.empty() ? 0 : 4 + pad4(comment.size())) + 4;  // + opt_endofopt
  const uint32_t total = 32 + pad4(captured) + options;

  // Type, length, interface, timestamp (high, low), captured and original lengths.
  const uint32_t head[7] = {kEpbType,
                            total,
                            interface,
                            static_cast<uint32_t>(ts_ns >> 32),
                            static_cast<uint32_t>(ts_ns),
                            captured,
                            static_cast<uint32_t>(frame.size())};
  static constexpr uint8_t kZeros[4] = {};
  const uint16_t comment_head[2] = {kOptComment, static_cast<uint16_t>(comment.size())};
  const uint16_t end[2] = {kOptEndOfOpt, 0};
  bool ok = put(file_, head, sizeof head) && put(file_, frame.data(), captured) &&
            put(file_, kZeros, pad4(captured) - captured);
  if (ok && !comment.empty()) {
    ok = put(file_, comment_head, sizeof comment_head) &&
         put(file_, comment.data(), comment.size()) &&
         put(file_, kZeros, pad4(comment.size()) - comment.size());
  }
  ok = ok && put(file_, end, sizeof end) && put(file_, &total, 4);
  if (!ok) return io_error("write failed");
  ++packets_;
  return core::Status::Ok();
}

core::Status PcapngWriter::close() {
  if (file_ == nullptr) return core::Status::Ok();
  const bool flushed = std::fflush(file_) == 0 && !std::ferror(file_);
  const int saved = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  buffer_.reset();
  if (!flushed) errno = saved;
  if (!flushed || !closed) return io_error("cannot flush or close");
  return core::Status::Ok();
}

// ------------------------------------------------------------------ comments

namespace {

// Appends to a fixed buffer, dropping what does not fit.
class Text {
 public:
  explicit Text(std::span<char> buf) : buf_(buf) {}
  Text& operator<<(std::string_view s) {
    const size_t n = std::min(s.size(), buf_.size() - len_);
    std::memcpy(buf_.data() + len_, s.data(), n);
    len_ += n;
    return *this;
  }
  Text& operator<<(uint32_t v) {
    char digits[10];
    size_t n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    for (; n > 0; --n) *this << std::string_view(&digits[n - 1], 1);
    return *this;
  }
  std::string_view view() const { return {buf_.data(), len_}; }

 private:
  std::span<char> buf_;
  size_t len_ = 0;
};

void put_rule(Text& t, const Outcome& o, DecidedBy by) {
  const bool firewall =
      by.stage == core::Stage::kFirewallOut || by.stage == core::Stage::kFirewallIn;
  if (o.verdict == core::Verdict::kDrop && !firewall) return;
  t << " rule=";
  if (by.rule_id == 0) {
    t << "default";
  } else if (by.rule_id == core::kFlowRuleId) {
    t << "flow";
  } else {
    t << by.rule_id;
  }
}

}  // namespace

std::string_view format_comment(const Outcome& o, DecidedBy by, std::span<char> buf) noexcept {
  Text t(buf);
  if (o.punt != Punt::kNone) {
    t << "verdict=PUNT reason=" << punt_name(o.punt) << " stage=pipeline";
    return t.view();
  }
  if (o.policed) {
    if (o.drop != PipelineDrop::kNone) {
      // The policy let it through (or tunnelled it) but the data plane could not send it.
      t << "verdict=DROP reason=" << pipeline_drop_name(o.drop)
        << " policy=" << core::verdict_name(o.verdict) << " stage=" << core::stage_name(by.stage);
      put_rule(t, o, by);
      return t.view();
    }
    t << "verdict=" << core::verdict_name(o.verdict);
    if (o.verdict == core::Verdict::kDrop) t << " reason=" << core::drop_reason_name(o.policy_drop);
    t << " stage=" << core::stage_name(by.stage);
    put_rule(t, o, by);
    return t.view();
  }
  if (o.drop != PipelineDrop::kNone || o.parse == ParseStatus::kOk) {
    t << "verdict=DROP reason=" << pipeline_drop_name(o.drop) << " stage=pipeline";
    return t.view();
  }
  // Parse statuses other than ok are drops, except an Echo Request or ARP request answered in
  // place (an ARP frame the pipeline drops or punts was handled above).
  t << (o.out != Port::kNone ? "verdict=REPLY" : "verdict=DROP")
    << " reason=" << parse_status_name(o.parse) << " stage=parse";
  return t.view();
}

}  // namespace simcore::dp
