#pragma once
// A hierarchical timing wheel (the shape of tokio's runtime/time/wheel): 6 levels of 64 slots,
// 1 ms slots at level 0, each level 64 times coarser than the one below (the table is at the top
// of timer_wheel.cpp). Intrusive and allocation-free: the owner embeds (or derives from) a
// timer_node and keeps it in place while it is linked. timer_node is defined in the public seam
// header <corio/detail/timer_node.hpp>: its deadline and linked fields are the owner's to read,
// the rest is the wheel's bookkeeping.
//
// Contract:
//   - insert and remove are O(1); re-inserting a linked node moves it.
//   - a node never fires before its deadline; nodes fire in (deadline, insertion order), also
//     when one was cascaded down from a higher level and the other was inserted at level 0.
//   - a deadline at or before elapsed() fires on the next poll(now >= elapsed()), after the nodes
//     already due at elapsed() that were inserted before it.
//   - poll(now) with now < elapsed() does nothing.
//   - a deadline beyond the top level's ~2.2 years is re-parked once per rotation it waits, so
//     a single poll that jumps centuries pays one cascade per 2.2 years jumped.
//   - a node must be removed (or have fired) before it is destroyed or moved; remove() on a node
//     linked into a different wheel is undefined.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include <corio/detail/timer_node.hpp>  // timer_node: public, as awaitables embed it in frames

#include "driver/clock.hpp"

namespace corio::detail {

class timer_wheel {
 public:
  static constexpr unsigned levels = 6;
  static constexpr unsigned slots_per_level = 64;

  explicit timer_wheel(tick now = 0);
  timer_wheel(const timer_wheel&) = delete;
  timer_wheel& operator=(const timer_wheel&) = delete;

  void insert(timer_node& n, tick deadline) noexcept;
  bool remove(timer_node& n) noexcept;
  // Advances to `now` and returns the next expired node, already unlinked, or nullptr.
  // Loop until nullptr; the fired node's callback may insert and remove nodes in between.
  timer_node* poll(tick now) noexcept;
  // Earliest tick at which poll can return a node: exact for deadlines within the current
  // 64 ms block, a lower bound (a cascade point) beyond. Never later than the earliest deadline,
  // except that overdue nodes report elapsed(). nullopt when empty.
  std::optional<tick> next_expiration() const noexcept;
  tick elapsed() const noexcept { return elapsed_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  struct list {
    timer_node* head = nullptr;
    timer_node* tail = nullptr;
  };
  struct expiration {
    unsigned level;
    unsigned slot;
    tick start;  // when the slot is due: its first tick
  };

  std::optional<expiration> next_slot() const noexcept;
  void place(timer_node& n) noexcept;
  void link(timer_node& n, unsigned level, unsigned slot) noexcept;
  void unlink(timer_node& n) noexcept;
  void cascade(const expiration& e) noexcept;

  tick elapsed_;
  std::uint64_t next_sequence_ = 0;
  std::size_t size_ = 0;
  std::array<std::uint64_t, levels> occupied_{};  // bit s set <=> slots_[level][s] non-empty
  std::array<std::array<list, slots_per_level>, levels> slots_{};
};

}  // namespace corio::detail
