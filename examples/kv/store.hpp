// The key space: binary-safe keys to immutable shared values, with optional deadlines.
//
// Threads (--threads N): the keys are spread over `stripe_count` stripes by hash, each a map
// with its own std::mutex. A command runs on the thread of its connection and locks only the
// stripes of its keys, for a hash lookup and a pointer copy (values are shared and immutable,
// so a big value is never copied under a lock). The alternative, one owner worker per key
// with commands sent over channels, would cost a cross-thread hop and a wake-up per command
// for state that needs microseconds under a lock; with 64 stripes two workers rarely meet.
// Commands over several keys (MGET, MSET, FLUSHALL) lock their stripes in index order, so they
// are atomic like in Redis and cannot deadlock one another.
//
// Expiry: time is passed in by the caller (milliseconds on a monotonic clock), which is what
// lets tests drive it. A key whose deadline passed is gone for every reader (lazy expiry, as
// Redis: expired when now > deadline), and each stripe also keeps its deadlines in order, so
// active expiry removes exactly the expired keys, oldest first, within a budget per call,
// instead of sampling at random as Redis does.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "reply_writer.hpp"

namespace kv {

using millis = std::int64_t;  // a point on the caller's monotonic clock, or a duration
inline constexpr millis no_deadline = -1;

struct set_options {
  bool only_if_absent = false;   // NX
  bool only_if_present = false;  // XX
  bool keep_ttl = false;         // KEEPTTL
  millis deadline = no_deadline; // EX / PX, already made absolute
};

// EXPIRE's NX / XX / GT / LT; with none set the deadline is always set.
struct expire_flags {
  bool nx = false;  // only without a deadline
  bool xx = false;  // only with one
  bool gt = false;  // only later than the current (none counts as infinite)
  bool lt = false;  // only earlier
};

class store {
 public:
  static constexpr std::size_t stripe_count = 64;

  store() = default;
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // Null when absent or expired.
  value_ptr get(const std::string& key, millis now);
  // Whether it was set (NX/XX may refuse); `previous` receives the old value if asked.
  bool set(const std::string& key, value_ptr value, const set_options& options, millis now,
           value_ptr* previous = nullptr);
  bool erase(const std::string& key, millis now);
  bool contains(const std::string& key, millis now);

  enum class incr_error { none, not_integer, overflow };
  struct incr_result {
    std::int64_t value = 0;
    incr_error error = incr_error::none;
  };
  incr_result increment(const std::string& key, std::int64_t delta, millis now);

  // One value (or null) per key, all read under the locks of their stripes at once.
  void get_many(std::span<const std::string> keys, millis now, std::vector<value_ptr>& out);
  // key, value, key, value...: all set at once, deadlines cleared.
  void set_many(std::span<std::string> pairs, millis now);

  // 0: absent or the condition refused; 1: set, or deleted for a deadline already past.
  int expire(const std::string& key, millis deadline, expire_flags when, millis now);
  // Remaining ms, -1 without a deadline, -2 absent.
  millis ttl(const std::string& key, millis now);

  std::size_t size();  // keys still stored, expired ones not yet removed included (as Redis)
  void clear();

  // Active expiry: removes up to `budget` expired keys, visiting the stripes round-robin from
  // where the last call (on any thread) stopped. Returns how many it removed.
  std::size_t remove_expired(millis now, std::size_t budget);

 private:
  struct entry;
  using deadline_index = std::multimap<millis, const std::string*>;
  struct entry {
    value_ptr value;
    millis deadline = no_deadline;
    deadline_index::iterator in_index;  // valid only with a deadline
  };
  struct stripe {
    std::mutex mutex;
    std::unordered_map<std::string, entry> map;
    deadline_index deadlines;  // keys point into `map`: its nodes never move
  };
  using map_iterator = std::unordered_map<std::string, entry>::iterator;

  static std::size_t stripe_of(const std::string& key) noexcept;
  // The live entry of key, removing it first if it expired; end() if none. Lock held.
  static map_iterator find_live(stripe& s, const std::string& key, millis now);
  static void set_deadline(stripe& s, map_iterator it, millis deadline);
  static void remove(stripe& s, map_iterator it);
  // Locks the stripes in `wanted` (a bitmask) in index order; unlocks on destruction.
  class multi_lock;

  std::array<stripe, stripe_count> stripes_;
  std::atomic<std::size_t> expiry_cursor_{0};
};

}  // namespace kv
