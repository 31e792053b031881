// Flows accepted from a SYN that have not heard from their peer since: half-open, oldest
// first. Every flow gets the same timeout, so accept order is deadline order and the engine
// looks at the oldest only: the cost of checking is O(1) whatever the number of flows, and
// the list never holds more than the live flows (a link leaves it when its flow goes).
// Intrusive: a flow embeds its link, which unlinks itself when destroyed. Engine thread only.
#pragma once

#include <cstdint>

namespace machnet::engine {

struct HalfOpenLink {
  HalfOpenLink* prev = nullptr;
  HalfOpenLink* next = nullptr;
  uint64_t deadline_us = 0;
  void* owner = nullptr;

  HalfOpenLink() = default;
  HalfOpenLink(const HalfOpenLink&) = delete;
  HalfOpenLink& operator=(const HalfOpenLink&) = delete;
  ~HalfOpenLink() { unlink(); }

  bool linked() const { return prev != nullptr; }
  void unlink() {
    if (prev == nullptr) return;
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }
};

class HalfOpenList {
 public:
  HalfOpenList() { head_.prev = head_.next = &head_; }
  HalfOpenList(const HalfOpenList&) = delete;
  HalfOpenList& operator=(const HalfOpenList&) = delete;
  ~HalfOpenList() {
    while (head_.next != &head_) head_.next->unlink();
    head_.prev = head_.next = nullptr;
  }

  void push_back(HalfOpenLink& link, void* owner, uint64_t deadline_us) {
    link.unlink();
    link.owner = owner;
    link.deadline_us = deadline_us;
    link.next = &head_;
    link.prev = head_.prev;
    head_.prev->next = &link;
    head_.prev = &link;
  }
  // The oldest link, or null.
  HalfOpenLink* oldest() { return head_.next == &head_ ? nullptr : head_.next; }

 private:
  HalfOpenLink head_;
};

}  // namespace machnet::engine
