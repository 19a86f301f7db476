#include "store.hpp"

#include <bit>
#include <functional>
#include <limits>
#include <string_view>
#include <utility>

#include "number.hpp"

namespace kv {

static_assert(store::stripe_count <= 64, "multi_lock keeps the stripes in a 64-bit mask");

class store::multi_lock {
 public:
  multi_lock(store& s, std::uint64_t wanted) : store_(s), held_(wanted) {
    for (std::uint64_t m = held_; m != 0; m &= m - 1) {
      store_.stripes_[static_cast<std::size_t>(std::countr_zero(m))].mutex.lock();
    }
  }
  ~multi_lock() {
    for (std::uint64_t m = held_; m != 0; m &= m - 1) {
      store_.stripes_[static_cast<std::size_t>(std::countr_zero(m))].mutex.unlock();
    }
  }
  multi_lock(const multi_lock&) = delete;
  multi_lock& operator=(const multi_lock&) = delete;

 private:
  store& store_;
  std::uint64_t held_;
};

std::size_t store::stripe_of(const std::string& key) noexcept {
  // The map hashes the same key with the low bits; the stripe takes high ones, so that keys
  // of one stripe still spread over all of its buckets.
  const std::size_t h = std::hash<std::string_view>{}(key);
  return (h >> (sizeof(std::size_t) * 8 - 6)) % stripe_count;
}

store::map_iterator store::find_live(stripe& s, const std::string& key, millis now) {
  auto it = s.map.find(key);
  if (it != s.map.end() && it->second.deadline != no_deadline && now > it->second.deadline) {
    remove(s, it);
    return s.map.end();
  }
  return it;
}

void store::set_deadline(stripe& s, map_iterator it, millis deadline) {
  entry& e = it->second;
  if (e.deadline != no_deadline) s.deadlines.erase(e.in_index);
  e.deadline = deadline;
  if (deadline != no_deadline) e.in_index = s.deadlines.emplace(deadline, &it->first);
}

void store::remove(stripe& s, map_iterator it) {
  if (it->second.deadline != no_deadline) s.deadlines.erase(it->second.in_index);
  s.map.erase(it);
}

value_ptr store::get(const std::string& key, millis now) {
  stripe& s = stripes_[stripe_of(key)];
  std::lock_guard lock(s.mutex);
  auto it = find_live(s, key, now);
  return it == s.map.end() ? nullptr : it->second.value;
}

bool store::set(const std::string& key, value_ptr value, const set_options& options, millis now,
                value_ptr* previous) {
  stripe& s = stripes_[stripe_of(key)];
  std::lock_guard lock(s.mutex);
  auto it = find_live(s, key, now);
  const bool present = it != s.map.end();
  if (previous != nullptr) *previous = present ? it->second.value : nullptr;
  if ((options.only_if_absent && present) || (options.only_if_present && !present)) return false;
  if (!present) it = s.map.try_emplace(key).first;
  it->second.value = std::move(value);
  if (!options.keep_ttl) set_deadline(s, it, options.deadline);
  return true;
}

bool store::erase(const std::string& key, millis now) {
  stripe& s = stripes_[stripe_of(key)];
  std::lock_guard lock(s.mutex);
  auto it = find_live(s, key, now);
  if (it == s.map.end()) return false;
  remove(s, it);
  return true;
}

bool store::contains(const std::string& key, millis now) {
  stripe& s = stripes_[stripe_of(key)];
  std::lock_guard lock(s.mutex);
  return find_live(s, key, now) != s.map.end();
}

store::incr_result store::increment(const std::string& key, std::int64_t delta, millis now) {
  stripe& s = stripes_[stripe_of(key)];
  std::lock_guard lock(s.mutex);
  auto it = find_live(s, key, now);
  std::int64_t current = 0;
  if (it != s.map.end()) {
    const auto parsed = parse_int64(*it->second.value);
    if (!parsed) return {0, incr_error::not_integer};
    current = *parsed;
  }
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  constexpr auto min = std::numeric_limits<std::int64_t>::min();
  if ((delta < 0 && current < min - delta) || (delta > 0 && current > max - delta)) {
    return {0, incr_error::overflow};
  }
  const std::int64_t next = current + delta;
  if (it == s.map.end()) it = s.map.try_emplace(key).first;
  // A new value object: readers may still hold the old one. The deadline stays, as in Redis.
  it->second.value = std::make_shared<const std::string>(std::to_string(next));
  return {next, incr_error::none};
}

void store::get_many(std::span<const std::string> keys, millis now, std::vector<value_ptr>& out) {
  std::uint64_t wanted = 0;
  for (const auto& k : keys) wanted |= std::uint64_t{1} << stripe_of(k);
  multi_lock lock(*this, wanted);
  out.clear();
  for (const auto& k : keys) {
    stripe& s = stripes_[stripe_of(k)];
    auto it = find_live(s, k, now);
    out.push_back(it == s.map.end() ? nullptr : it->second.value);
  }
}

void store::set_many(std::span<std::string> pairs, millis now) {
  std::uint64_t wanted = 0;
  for (std::size_t i = 0; i + 1 < pairs.size(); i += 2) {
    wanted |= std::uint64_t{1} << stripe_of(pairs[i]);
  }
  // Built before locking: allocation under the locks would hold every writer up.
  std::vector<value_ptr> values;
  values.reserve(pairs.size() / 2);
  for (std::size_t i = 1; i < pairs.size(); i += 2) {
    values.push_back(std::make_shared<const std::string>(std::move(pairs[i])));
  }
  multi_lock lock(*this, wanted);
  for (std::size_t i = 0; i + 1 < pairs.size(); i += 2) {
    stripe& s = stripes_[stripe_of(pairs[i])];
    auto it = find_live(s, pairs[i], now);
    if (it == s.map.end()) it = s.map.try_emplace(pairs[i]).first;
    it->second.value = std::move(values[i / 2]);
    set_deadline(s, it, no_deadline);
  }
}

int store::expire(const std::string& key, millis deadline, expire_flags when, millis now) {
  stripe& s = stripes_[stripe_of(key)];
  std::lock_guard lock(s.mutex);
  auto it = find_live(s, key, now);
  if (it == s.map.end()) return 0;
  const millis current = it->second.deadline;
  const bool has = current != no_deadline;
  if ((when.nx && has) || (when.xx && !has)) return 0;
  if (when.gt && (!has || deadline <= current)) return 0;
  if (when.lt && has && deadline >= current) return 0;
  if (deadline <= now) {
    remove(s, it);  // a deadline already past deletes the key, as in Redis
  } else {
    set_deadline(s, it, deadline);
  }
  return 1;
}

millis store::ttl(const std::string& key, millis now) {
  stripe& s = stripes_[stripe_of(key)];
  std::lock_guard lock(s.mutex);
  auto it = find_live(s, key, now);
  if (it == s.map.end()) return -2;
  if (it->second.deadline == no_deadline) return -1;
  return it->second.deadline - now;
}

std::size_t store::size() {
  std::size_t n = 0;
  for (auto& s : stripes_) {
    std::lock_guard lock(s.mutex);
    n += s.map.size();
  }
  return n;
}

void store::clear() {
  // Freed after the locks are released: destroying many values is slow.
  std::array<std::unordered_map<std::string, entry>, stripe_count> old;
  {
    multi_lock lock(*this, ~std::uint64_t{0} >> (64 - stripe_count));
    for (std::size_t i = 0; i < stripe_count; ++i) {
      stripes_[i].deadlines.clear();
      old[i].swap(stripes_[i].map);
    }
  }
}

std::size_t store::remove_expired(millis now, std::size_t budget) {
  std::size_t removed = 0;
  for (std::size_t visited = 0; visited < stripe_count && removed < budget; ++visited) {
    stripe& s = stripes_[expiry_cursor_.fetch_add(1, std::memory_order_relaxed) % stripe_count];
    std::lock_guard lock(s.mutex);
    while (removed < budget && !s.deadlines.empty() && now > s.deadlines.begin()->first) {
      remove(s, s.map.find(*s.deadlines.begin()->second));
      ++removed;
    }
  }
  return removed;
}

}  // namespace kv
