// Levels (64 slots each; a slot at level L spans 64^L ticks of 1 ms):
//
//   level | slot width  | level range (what one rotation covers)
//   ------+-------------+---------------------------------------
//     0   |   1 ms      |  64 ms
//     1   |  64 ms      |  ~4.1 s
//     2   |  ~4.1 s     |  ~4.4 min
//     3   |  ~4.4 min   |  ~4.7 h
//     4   |  ~4.7 h     |  ~12.4 days
//     5   |  ~12.4 days |  ~2.2 years  (max_range = 2^36 ms)
//
// Placement (as in tokio): a node goes to the level of the highest base-64 digit in which its
// deadline differs from elapsed_, in the slot given by the deadline's digit at that level. So
// level 0 holds only deadlines in elapsed_'s own 64 ms block, and every node in a level-0 slot
// has the same deadline: firing a level-0 slot is exact. A higher slot is a bucket of mixed
// deadlines; when elapsed_ reaches the slot's first tick its nodes are re-placed (cascaded),
// landing on lower levels.
//
// Invariants that the code relies on:
//   - Below the top level, every occupied slot lies strictly after elapsed_'s slot, inside
//     elapsed_'s block of the next level up. Hence all of level L's slots come due before any of
//     level L+1's, and the earliest slot is the first one found scanning upward from level 0.
//   - Each slot's list is ordered by sequence, so equal deadlines fire in insertion order
//     whatever path each node took down. insert() appends (its sequence is the largest yet).
//     A cascade walks its slot in order and links each node with an insertion-merge from the
//     tail: below the top level the targets are empty (anything there would have come due
//     first), but a re-parked far node can join a top-level slot behind later inserts.
//   - A deadline beyond max_range is parked in the farthest slot the top level reaches; that
//     slot begins no later than the deadline, so reaching it only re-places the node, and the
//     top level is treated as a ring (a slot at or behind elapsed_'s means one rotation ahead).

#include "driver/timer_wheel.hpp"

#include <bit>
#include <cassert>
#include <type_traits>

namespace corio::detail {
namespace {

constexpr unsigned slot_bits = 6;  // log2(slots_per_level)
constexpr tick slot_mask = timer_wheel::slots_per_level - 1;
constexpr tick max_range = tick{1} << (slot_bits * timer_wheel::levels);

static_assert(timer_wheel::slots_per_level == (1u << slot_bits));
static_assert(timer_wheel::slots_per_level == 64, "occupied_ is one 64-bit mask per level");
static_assert(std::is_same_v<decltype(timer_node::deadline), tick>);

constexpr tick slot_range(unsigned level) noexcept { return tick{1} << (slot_bits * level); }
constexpr tick level_range(unsigned level) noexcept { return slot_range(level + 1); }

constexpr unsigned digit(tick t, unsigned level) noexcept {
  return static_cast<unsigned>((t >> (slot_bits * level)) & slot_mask);
}

// The level of the highest base-64 digit where `when` differs from `elapsed`. Differences above
// the top level are capped there; the caller has already capped `when` so that the slot this
// picks is not after the deadline.
constexpr unsigned level_for(tick elapsed, tick when) noexcept {
  tick masked = (elapsed ^ when) | slot_mask;
  if (masked >= max_range) masked = max_range - 1;
  const auto significant = static_cast<unsigned>(std::bit_width(masked)) - 1;
  return significant / slot_bits;
}

}  // namespace

timer_wheel::timer_wheel(tick now) : elapsed_(now) {}

void timer_wheel::insert(timer_node& n, tick deadline) noexcept {
  if (n.linked) {
    unlink(n);
  } else {
    ++size_;
  }
  n.deadline = deadline;
  n.sequence = next_sequence_++;
  place(n);
}

bool timer_wheel::remove(timer_node& n) noexcept {
  if (!n.linked) return false;
  unlink(n);
  --size_;
  return true;
}

timer_node* timer_wheel::poll(tick now) noexcept {
  while (const auto e = next_slot()) {
    // Covers now < elapsed_ too: every slot starts at or after elapsed_, so nothing is due.
    if (e->start > now) break;
    // Move time only to the slot being handled, not to `now`: a node inserted by the caller
    // between two polls is then placed relative to the time of the node that just fired, and
    // still fires in deadline order with the rest of this poll's batch.
    elapsed_ = e->start;
    if (e->level == 0) {
      timer_node* n = slots_[0][e->slot].head;
      unlink(*n);
      --size_;
      return n;
    }
    cascade(*e);
  }
  if (now > elapsed_) elapsed_ = now;
  return nullptr;
}

std::optional<tick> timer_wheel::next_expiration() const noexcept {
  if (const auto e = next_slot()) return e->start;
  return std::nullopt;
}

std::optional<timer_wheel::expiration> timer_wheel::next_slot() const noexcept {
  for (unsigned level = 0; level < levels; ++level) {
    const std::uint64_t occupied = occupied_[level];
    if (occupied == 0) continue;
    // Rotate so that the first slot to search is bit 0; then the lowest set bit is the next
    // slot due. At level 0 elapsed_'s own slot holds what is due now, so it comes first; above,
    // it can only be occupied at the top level, by a node one whole rotation ahead, so it
    // comes last.
    const unsigned now_slot = digit(elapsed_, level);
    const unsigned first = level == 0 ? now_slot : (now_slot + 1) & slot_mask;
    const auto offset =
        static_cast<unsigned>(std::countr_zero(std::rotr(occupied, static_cast<int>(first))));
    const unsigned slot = (first + offset) & slot_mask;
    const tick level_start = elapsed_ & ~(level_range(level) - 1);
    tick start = level_start + slot * slot_range(level);
    if (level > 0 && start <= elapsed_) {
      // Only the top level wraps (see the invariants above): the slot is one rotation ahead.
      assert(level == levels - 1);
      start += level_range(level);
    }
    return expiration{level, slot, start};
  }
  return std::nullopt;
}

void timer_wheel::place(timer_node& n) noexcept {
  // Overdue deadlines are due now: they go to elapsed_'s own level-0 slot.
  tick when = n.deadline < elapsed_ ? elapsed_ : n.deadline;
  // Beyond the top level's reach, park in the farthest slot it does reach; that slot begins
  // before the deadline, so reaching it merely re-places the node.
  const tick reach = elapsed_ <= ~tick{0} - (max_range - 1) ? elapsed_ + (max_range - 1) : ~tick{0};
  if (when > reach) when = reach;
  const unsigned level = level_for(elapsed_, when);
  link(n, level, digit(when, level));
}

void timer_wheel::link(timer_node& n, unsigned level, unsigned slot) noexcept {
  list& l = slots_[level][slot];
  // Insertion-merge from the tail keeps the list ordered by sequence. Fresh inserts stop at
  // once (they carry the largest sequence). Cascades below the top level land in empty slots.
  // The walk is only ever taken by a re-parked far node joining a top-level slot that received
  // later inserts meanwhile, which may include one with the very same deadline.
  timer_node* after = l.tail;
  while (after != nullptr && after->sequence > n.sequence) after = after->prev;
  n.prev = after;
  n.next = after != nullptr ? after->next : l.head;
  if (n.next != nullptr) {
    n.next->prev = &n;
  } else {
    l.tail = &n;
  }
  if (after != nullptr) {
    after->next = &n;
  } else {
    l.head = &n;
  }
  occupied_[level] |= std::uint64_t{1} << slot;
  n.level = static_cast<std::uint8_t>(level);
  n.slot = static_cast<std::uint8_t>(slot);
  n.linked = true;
}

void timer_wheel::unlink(timer_node& n) noexcept {
  list& l = slots_[n.level][n.slot];
  if (n.prev != nullptr) {
    n.prev->next = n.next;
  } else {
    l.head = n.next;
  }
  if (n.next != nullptr) {
    n.next->prev = n.prev;
  } else {
    l.tail = n.prev;
  }
  if (l.head == nullptr) occupied_[n.level] &= ~(std::uint64_t{1} << n.slot);
  n.next = nullptr;
  n.prev = nullptr;
  n.linked = false;
}

void timer_wheel::cascade(const expiration& e) noexcept {
  // Detach the whole slot first: re-placing may link into other slots of this level (the top
  // level's ring), never into this one, but the walk must not see its own output.
  list& l = slots_[e.level][e.slot];
  timer_node* n = l.head;
  l = list{};
  occupied_[e.level] &= ~(std::uint64_t{1} << e.slot);
  while (n != nullptr) {
    timer_node* next = n->next;
    place(*n);
    n = next;
  }
}

}  // namespace corio::detail
