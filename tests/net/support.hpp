// Shared by the net_test binary: run a task on a chosen backend, assert inside coroutines,
// and yield a turn of the executor without sleeping.
#pragma once

#include <gtest/gtest.h>

#include <coroutine>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/reactor.hpp>
#include <corio/runtime.hpp>
#include <corio/task.hpp>

// ASSERT_* returns, which a coroutine cannot: these co_return instead.
#define CO_ASSERT_TRUE(cond)                      \
  do {                                            \
    if (!(cond)) {                                \
      ADD_FAILURE() << "expected true: " #cond;   \
      co_return;                                  \
    }                                             \
  } while (0)

#define CO_ASSERT_OK(r)                                                    \
  do {                                                                     \
    if (!(r)) {                                                            \
      ADD_FAILURE() << #r " failed: " << (r).error().message();           \
      co_return;                                                           \
    }                                                                      \
  } while (0)

namespace corio::test {

inline std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }
inline std::string text(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Yields up to `turns` loop turns for `h` to finish: a bounded wait instead of `co_await h`
// where a bug would otherwise hang the test.
template <class T>
task<bool> finishes_within(join_handle<T>& h, int turns = 100) {
  for (int i = 0; i < turns && !h.is_finished(); ++i) co_await corio::yield();
  co_return h.is_finished();
}

inline std::string backend_name(const ::testing::TestParamInfo<backend_kind>& info) {
  return std::string(to_string(info.param));
}

class backend_test : public ::testing::TestWithParam<backend_kind> {
 protected:
  void SetUp() override {
    auto p = poll::create(GetParam());
    if (!p && p.error() == error::backend_unavailable) {
      GTEST_SKIP() << "kernel refuses " << to_string(GetParam());
    }
  }
  template <class T>
  T run(task<T> t) {
    runtime_options options;
    options.backend = GetParam();
    return block_on(std::move(t), options);
  }
};

}  // namespace corio::test

#define CORIO_INSTANTIATE_BACKENDS(suite)                                                   \
  INSTANTIATE_TEST_SUITE_P(backends, suite,                                                \
                           ::testing::ValuesIn(corio::built_backends().begin(),           \
                                               corio::built_backends().end()),            \
                           corio::test::backend_name)
