#include "store.hpp"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

kv::value_ptr v(const std::string& s) { return std::make_shared<const std::string>(s); }

kv::set_options expiring_at(kv::millis deadline) {
  kv::set_options o;
  o.deadline = deadline;
  return o;
}

TEST(store, set_get_erase) {
  kv::store db;
  EXPECT_EQ(db.get("k", 0), nullptr);
  EXPECT_TRUE(db.set("k", v("v"), {}, 0));
  ASSERT_NE(db.get("k", 0), nullptr);
  EXPECT_EQ(*db.get("k", 0), "v");
  EXPECT_TRUE(db.erase("k", 0));
  EXPECT_FALSE(db.erase("k", 0));
  EXPECT_EQ(db.size(), 0u);
}

TEST(store, nx_and_xx) {
  kv::store db;
  kv::set_options nx;
  nx.only_if_absent = true;
  kv::set_options xx;
  xx.only_if_present = true;
  EXPECT_FALSE(db.set("k", v("1"), xx, 0));
  EXPECT_TRUE(db.set("k", v("1"), nx, 0));
  EXPECT_FALSE(db.set("k", v("2"), nx, 0));
  EXPECT_TRUE(db.set("k", v("3"), xx, 0));
  EXPECT_EQ(*db.get("k", 0), "3");
}

TEST(store, a_key_expires_after_its_deadline_not_at_it) {
  kv::store db;
  db.set("k", v("v"), expiring_at(100), 0);
  EXPECT_EQ(db.ttl("k", 40), 60);
  EXPECT_NE(db.get("k", 100), nullptr);
  EXPECT_EQ(db.get("k", 101), nullptr);
  EXPECT_EQ(db.ttl("k", 101), -2);
  EXPECT_EQ(db.size(), 0u);  // removed on that access
}

TEST(store, set_clears_the_deadline_unless_keepttl) {
  kv::store db;
  db.set("k", v("v"), expiring_at(100), 0);
  kv::set_options keep;
  keep.keep_ttl = true;
  db.set("k", v("w"), keep, 0);
  EXPECT_EQ(db.ttl("k", 0), 100);
  db.set("k", v("x"), {}, 0);
  EXPECT_EQ(db.ttl("k", 0), -1);
  EXPECT_NE(db.get("k", 1000), nullptr);
}

TEST(store, increment_keeps_the_deadline_and_checks_range) {
  kv::store db;
  EXPECT_EQ(db.increment("n", 5, 0).value, 5);
  db.expire("n", 100, {}, 0);
  EXPECT_EQ(db.increment("n", -7, 0).value, -2);
  EXPECT_EQ(db.ttl("n", 0), 100);
  db.set("n", v("9223372036854775807"), {}, 0);
  EXPECT_EQ(db.increment("n", 1, 0).error, kv::store::incr_error::overflow);
  db.set("n", v("-9223372036854775808"), {}, 0);
  EXPECT_EQ(db.increment("n", -1, 0).error, kv::store::incr_error::overflow);
  EXPECT_EQ(db.increment("n", 1, 0).value, -9223372036854775807);
  db.set("n", v("1.5"), {}, 0);
  EXPECT_EQ(db.increment("n", 1, 0).error, kv::store::incr_error::not_integer);
}

TEST(store, expire_conditions) {
  kv::store db;
  EXPECT_EQ(db.expire("absent", 10, {}, 0), 0);
  db.set("k", v("v"), {}, 0);
  EXPECT_EQ(db.expire("k", 50, {.xx = true}, 0), 0);
  EXPECT_EQ(db.expire("k", 50, {.gt = true}, 0), 0);  // none is infinite
  EXPECT_EQ(db.expire("k", 50, {.nx = true}, 0), 1);
  EXPECT_EQ(db.expire("k", 60, {.nx = true}, 0), 0);
  EXPECT_EQ(db.expire("k", 40, {.gt = true}, 0), 0);
  EXPECT_EQ(db.expire("k", 70, {.gt = true}, 0), 1);
  EXPECT_EQ(db.expire("k", 80, {.lt = true}, 0), 0);
  EXPECT_EQ(db.expire("k", 30, {.xx = true, .lt = true}, 0), 1);
  EXPECT_EQ(db.ttl("k", 0), 30);
  EXPECT_EQ(db.expire("k", 0, {}, 0), 1);  // a deadline not in the future deletes
  EXPECT_FALSE(db.contains("k", 0));
}

TEST(store, active_expiry_removes_expired_keys_within_the_budget) {
  kv::store db;
  for (int i = 0; i < 1000; ++i) {
    db.set("k" + std::to_string(i), v("v"), expiring_at(i % 2 == 0 ? 10 : 1000), 0);
  }
  db.set("forever", v("v"), {}, 0);
  EXPECT_EQ(db.remove_expired(5, 100000), 0u);
  EXPECT_EQ(db.remove_expired(11, 100), 100u);
  EXPECT_EQ(db.size(), 901u);
  std::size_t total = 100;
  for (int i = 0; i < 100 && total < 500; ++i) total += db.remove_expired(11, 100);
  EXPECT_EQ(total, 500u);
  EXPECT_EQ(db.remove_expired(11, 100), 0u);
  EXPECT_EQ(db.size(), 501u);
  EXPECT_EQ(*db.get("k1", 11), "v");
}

TEST(store, many_keys_at_once) {
  kv::store db;
  std::vector<std::string> pairs{"a", "1", "b", "2", "a", "3"};
  db.set_many(pairs, 0);
  std::vector<std::string> keys{"a", "b", "c"};
  std::vector<kv::value_ptr> got;
  db.get_many(keys, 0, got);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(*got[0], "3");
  EXPECT_EQ(*got[1], "2");
  EXPECT_EQ(got[2], nullptr);
  db.clear();
  EXPECT_EQ(db.size(), 0u);
}

TEST(store, concurrent_increments_lose_nothing) {
  kv::store db;
  constexpr int per_thread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&db] {
      for (int i = 0; i < per_thread; ++i) {
        db.increment("counter", 1, 0);
        db.increment("other" + std::to_string(i % 50), 1, 0);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(*db.get("counter", 0), std::to_string(4 * per_thread));
}

}  // namespace
