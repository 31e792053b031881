// A hashed timer wheel driven by the engine's batch timestamp: arming, re-arming and
// cancelling are O(1) and nothing allocates. One slot per kTickUs; a deadline beyond the
// wheel's horizon waits in the farthest slot and is re-armed when that slot comes round.
// Timers are intrusive: the owner embeds a Timer and gets it back in the callback.
#pragma once

#include <cstdint>

namespace machnet::transport {

class TimerWheel {
 public:
  static constexpr uint64_t kTickUs = 32;
  static constexpr uint32_t kSlots = 4096;  // horizon: 131 ms

  struct Timer {
    Timer* prev = nullptr;
    Timer* next = nullptr;
    uint64_t deadline_us = 0;
    void* owner = nullptr;
    bool armed() const { return prev != nullptr; }
  };

  explicit TimerWheel(uint64_t now_us) : tick_(now_us / kTickUs) {
    for (auto& s : slots_) s.prev = s.next = &s;
  }
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  void arm(Timer& t, uint64_t deadline_us) {
    cancel(t);
    t.deadline_us = deadline_us;
    uint64_t at = deadline_us / kTickUs;
    if (at <= tick_) at = tick_ + 1;  // due: fires on the next advance
    if (at - tick_ >= kSlots) at = tick_ + kSlots - 1;
    Timer& head = slots_[at % kSlots];
    t.next = &head;
    t.prev = head.prev;
    head.prev->next = &t;
    head.prev = &t;
    ++armed_;
  }

  void cancel(Timer& t) {
    if (!t.armed()) return;
    t.prev->next = t.next;
    t.next->prev = t.prev;
    t.prev = t.next = nullptr;
    --armed_;
  }

  // Fires (calls fire(Timer&)) every timer due at now_us. A callback may arm or cancel any
  // timer, including the one it was called for.
  template <typename Fire>
  void advance(uint64_t now_us, Fire&& fire) {
    const uint64_t target = now_us / kTickUs;
    if (armed_ == 0) {
      tick_ = target;
      return;
    }
    if (target - tick_ > kSlots) tick_ = target - kSlots;  // a long stall: one full turn visits every slot
    while (tick_ < target) {
      ++tick_;
      Timer& head = slots_[tick_ % kSlots];
      // Detach the slot first: callbacks may re-arm into it.
      Timer pending;
      if (head.next == &head) continue;
      pending.next = head.next;
      pending.prev = head.prev;
      pending.next->prev = &pending;
      pending.prev->next = &pending;
      head.prev = head.next = &head;
      while (pending.next != &pending) {
        Timer* t = pending.next;
        pending.next = t->next;
        t->next->prev = &pending;
        t->prev = t->next = nullptr;
        --armed_;
        if (t->deadline_us <= now_us) fire(*t);
        else arm(*t, t->deadline_us);  // parked beyond the horizon, or due later in this tick
      }
    }
    tick_ = target;
  }

  uint32_t armed_count() const { return armed_; }

 private:
  uint64_t tick_;
  uint32_t armed_ = 0;
  Timer slots_[kSlots];
};

}  // namespace machnet::transport
