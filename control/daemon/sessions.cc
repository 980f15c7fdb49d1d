#include "control/daemon/sessions.h"

#include <algorithm>
#include <cctype>

#include "control/daemon/service_impl.h"

namespace simcore::ctl {
namespace {

bool served_rat(core::Rat r) { return r != core::Rat::kNbIot && r != core::Rat::kNr; }

bool valid_imei(std::string_view s) {
  return s.size() >= 14 && s.size() <= 16 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string apn_network_identifier(std::string_view apn) {
  std::string ni(apn);
  std::transform(ni.begin(), ni.end(), ni.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // ".mncNNN.mccNNN.gprs" is 19 characters.
  constexpr std::string_view kGprs = ".gprs";
  if (ni.size() > 19 && ni.ends_with(kGprs)) {
    const std::string_view oi = std::string_view(ni).substr(ni.size() - 19);
    if (oi.starts_with(".mnc") && oi.substr(7, 4) == ".mcc") ni.resize(ni.size() - 19);
  }
  return ni;
}

SessionBackend::SessionBackend(Service::Impl& service) : s_(service) {
  // TEIDs of sessions that survived a restart stay taken: continue above the highest.
  for (const core::Thing& t : s_.account.model().things) {
    if (t.session) next_teid_ = std::max(next_teid_, t.session->uplink_teid + 1);
  }
}

gtpc::Refusal SessionBackend::check(const gtpc::AttachAsk& ask, const core::Thing& t) const {
  // The order decides which cause a request with several faults gets: the subscription
  // first, then where and how the device attaches, then the address.
  if (t.state != core::ThingState::kActive) return gtpc::Refusal::kNotActive;
  if (!s_.account.data_allowed(t)) return gtpc::Refusal::kDataOff;
  if (!ask.rat_served || (ask.rat_known && !served_rat(ask.rat))) {
    return gtpc::Refusal::kRatNotAllowed;
  }
  const std::vector<uint16_t>& served = s_.cfg.served_mccs;
  if (ask.serving_known && std::find(served.begin(), served.end(), ask.mcc) == served.end()) {
    return gtpc::Refusal::kRoamingNotAllowed;
  }
  const core::Model& m = s_.account.model();
  const core::Network& net = m.networks.at(m.groups.at(t.group).network);
  if (apn_network_identifier(ask.apn) != apn_network_identifier(net.apn)) {
    return gtpc::Refusal::kUnknownApn;
  }
  if (t.imei_lock && !t.imei.empty() && !ask.imei.empty() && ask.imei != t.imei) {
    return gtpc::Refusal::kImeiLocked;
  }
  return gtpc::Refusal::kNone;
}

uint32_t SessionBackend::allocate_teid() {
  while (next_teid_ == 0 || s_.account.thing_by_teid(next_teid_)) ++next_teid_;
  return next_teid_++;
}

void SessionBackend::touched(core::ThingSlot slot) { touched_.push_back(slot); }

gtpc::AttachAnswer SessionBackend::attach(const gtpc::AttachAsk& ask) {
  gtpc::AttachAnswer answer;
  const core::Thing* t = s_.account.thing_by_imsi(ask.imsi);
  if (!t) {
    answer.refusal = gtpc::Refusal::kUnknownImsi;
    json::object d{{"imsi", ask.imsi}, {"cause", gtpc::refusal_name(answer.refusal)}};
    events_.push_back({"ATTACH_REJECTED", core::ThingId{}, json::serialize(d)});
    return answer;
  }
  answer.thing = t->id;
  answer.refusal = check(ask, *t);
  if (answer.refusal == gtpc::Refusal::kNone) {
    core::AttachRequest req;
    req.uplink_teid = allocate_teid();
    req.peer_addr = ask.peer_addr;
    req.peer_teid = ask.peer_teid;
    req.apn = ask.apn;
    req.rat = ask.rat;
    req.mcc = ask.mcc;
    req.mnc = ask.mnc;
    // A malformed IMEI is not worth refusing the device for: it is not recorded.
    if (valid_imei(ask.imei)) req.imei = ask.imei;
    const std::string before = t->imei;
    core::Result<core::Session> s = s_.account.attach(t->id, req);
    if (s) {
      answer.ue_addr = s->ue_addr;
      answer.uplink_teid = s->uplink_teid;
      answer.dns = s_.cfg.dns_servers;
      if (!before.empty() && !req.imei.empty() && before != req.imei) {
        json::object d{{"from", before}, {"to", req.imei}};
        events_.push_back({"IMEI_CHANGED", t->id, json::serialize(d)});
      }
      json::object d{{"ipAddress", s->ue_addr.str()},
                     {"apnName", s->apn},
                     {"rat", api::rat_name(s->rat)},
                     {"mcc", s->mcc},
                     {"mnc", s->mnc}};
      if (!req.imei.empty()) d["imei"] = req.imei;
      events_.push_back({"ATTACH", t->id, json::serialize(d)});
      touched(t->slot);
      return answer;
    }
    answer.refusal = s.error().code() == core::Code::kResourceExhausted ? gtpc::Refusal::kNoAddress
                     : s.error().code() == core::Code::kPermissionDenied
                         ? gtpc::Refusal::kImeiLocked
                         : gtpc::Refusal::kSystemFailure;
  }
  json::object d{{"imsi", ask.imsi}, {"cause", gtpc::refusal_name(answer.refusal)}};
  events_.push_back({"ATTACH_REJECTED", t->id, json::serialize(d)});
  return answer;
}

bool SessionBackend::modify(uint32_t uplink_teid, core::Ipv4 peer_addr, uint32_t peer_teid) {
  const core::Thing* t = s_.account.thing_by_teid(uplink_teid);
  if (!t || !s_.account.modify_session(t->id, peer_addr, peer_teid)) return false;
  touched(t->slot);
  return true;
}

bool SessionBackend::detach(uint32_t uplink_teid) {
  const core::Thing* t = s_.account.thing_by_teid(uplink_teid);
  if (!t || !s_.account.detach(t->id)) return false;
  events_.push_back({"DETACH", t->id, "{}"});
  touched(t->slot);
  return true;
}

bool SessionBackend::flush() {
  if (touched_.empty() && events_.empty()) return true;
  std::sort(touched_.begin(), touched_.end(),
            [](core::ThingSlot a, core::ThingSlot b) { return a.value < b.value; });
  touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
  const core::Status st = s_.persist([&](Store::Txn& txn) -> core::Status {
    std::vector<core::Thing> things;
    things.reserve(touched_.size());
    for (core::ThingSlot slot : touched_) things.push_back(s_.account.model().things[slot.value]);
    if (core::Status s = txn.put_things(things); !s) return s;
    for (const PendingEvent& e : events_) {
      EventRecord r;
      r.time_ms = s_.clock();
      r.type = e.type;
      r.thing = e.thing;
      r.detail_json = e.detail_json;
      if (auto id = txn.append_event(r); !id) return id.status();
    }
    return core::Status::Ok();
  });
  events_.clear();
  std::vector<core::ThingSlot> slots;
  slots.swap(touched_);
  if (!st) return false;  // persist() reloaded the account and republished it
  s_.republish_things(slots);
  return true;
}

}  // namespace simcore::ctl
