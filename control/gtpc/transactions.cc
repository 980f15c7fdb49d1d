#include "control/gtpc/transactions.h"

#include <algorithm>

namespace simcore::gtpc {

const std::vector<uint8_t>* ResponseCache::find(const Key& key, std::span<const uint8_t> request,
                                                int64_t now_ms) const {
  const auto it = cached_.find(key);
  if (it == cached_.end() || it->second.expires_ms <= now_ms) return nullptr;
  if (!std::equal(request.begin(), request.end(), it->second.request.begin(),
                  it->second.request.end())) {
    return nullptr;
  }
  return &it->second.response;
}

void ResponseCache::remember(const Key& key, std::span<const uint8_t> request,
                             const std::vector<uint8_t>& response, int64_t now_ms) {
  if (lifetime_ms_ <= 0) return;
  const int64_t expires = now_ms + lifetime_ms_;
  cached_[key] = {{request.begin(), request.end()}, response, expires};
  order_.emplace_back(expires, key);
  batch_.push_back(key);
}

void ResponseCache::expire(int64_t now_ms) {
  // One lifetime for all: entries expire in insertion order. A key answered again later has a
  // later expiry and survives its older queue entry.
  while (!order_.empty() && order_.front().first <= now_ms) {
    const auto it = cached_.find(order_.front().second);
    if (it != cached_.end() && it->second.expires_ms <= now_ms) cached_.erase(it);
    order_.pop_front();
  }
  batch_.clear();
}

void ResponseCache::forget_batch() {
  for (const Key& k : batch_) cached_.erase(k);
  batch_.clear();
}

bool PendingRequests::has(uint32_t teid) const {
  return std::any_of(pending_.begin(), pending_.end(),
                     [teid](const auto& p) { return p.second.teid == teid; });
}

void PendingRequests::send(uint32_t seq, uint32_t teid, Datagram request, int64_t now_ms,
                           std::vector<Datagram>& out) {
  out.push_back(request);
  pending_[seq] = {teid, std::move(request), now_ms + timeout_ms_, retries_};
}

std::optional<uint32_t> PendingRequests::match(uint32_t seq, core::Ipv4 from) const {
  const auto it = pending_.find(seq);
  if (it == pending_.end() || it->second.request.to.addr != from) return std::nullopt;
  return it->second.teid;
}

void PendingRequests::drop(uint32_t teid) {
  std::erase_if(pending_, [teid](const auto& p) { return p.second.teid == teid; });
}

std::vector<uint32_t> PendingRequests::tick(int64_t now_ms, std::vector<Datagram>& out) {
  std::vector<uint32_t> gave_up;
  for (auto it = pending_.begin(); it != pending_.end();) {
    Pending& p = it->second;
    if (now_ms < p.deadline_ms) {
      ++it;
    } else if (p.retries_left > 0) {
      --p.retries_left;
      p.deadline_ms = now_ms + timeout_ms_;
      out.push_back(p.request);  // the same sequence number: a retransmission
      ++it;
    } else {
      gave_up.push_back(p.teid);
      it = pending_.erase(it);
    }
  }
  return gave_up;
}

bool PeerRestarts::restarted(core::Ipv4 peer, std::optional<uint8_t> recovery) {
  if (!recovery) return false;
  const auto [it, first] = last_.try_emplace(peer.value, *recovery);
  if (first || it->second == *recovery) return false;
  it->second = *recovery;
  return true;
}

}  // namespace simcore::gtpc
