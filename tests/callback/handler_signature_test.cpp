// The callback loop refuses, at compile time, a handler member it could never call: a member
// named readable, writable, timeout, notify or signal with the wrong parameters used to be
// skipped silently, and run() then waited forever. A failing compile cannot be a runtime test,
// so corio::event_handler (the check run() and run_once() assert) is tested here both ways;
// the runtime tests show that the signatures it accepts are the ones the loop really calls.
#include <corio/event_loop.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using loop_t = corio::event_loop<int>;

// Accepted: the documented signatures, and the variations a caller may reasonably write.
struct documented {
  void readable(loop_t&, corio::token) {}
  void writable(loop_t&, corio::token) {}
  void timeout(loop_t&, corio::token) {}
  void notify(loop_t&, int) {}
  void signal(loop_t&, corio::signal_info) {}
};
struct no_callbacks {};
struct const_loop_and_refs {
  void timeout(const loop_t&, const corio::token&) const {}
  void notify(const loop_t&, const int&) {}
  void signal(loop_t&, const corio::signal_info&) {}
};
struct generic {
  template <class Loop>
  void timeout(Loop&, corio::token) {}
  void notify(auto&, auto) {}
};
struct overloaded {
  void timeout(loop_t&, corio::token) {}
  void timeout(int) {}  // an unrelated overload does not hide the one the loop calls
};
struct rvalue_message {
  void notify(loop_t&, int&&) {}
};
struct final_handler final {
  void timeout(loop_t&, corio::token) {}
};
static_assert(corio::event_handler<documented, int>);
static_assert(corio::event_handler<no_callbacks, int>);
static_assert(corio::event_handler<const_loop_and_refs, int>);
static_assert(corio::event_handler<generic, int>);
static_assert(corio::event_handler<overloaded, int>);
static_assert(corio::event_handler<rvalue_message, int>);
static_assert(corio::event_handler<final_handler, int>);

// Rejected: each of these compiled before and its callback never ran.
struct timeout_without_token {
  void timeout(loop_t&) {}
};
struct timeout_for_another_loop {
  void timeout(corio::event_loop<long>&, corio::token) {}
};
struct readable_with_fd {
  void readable(loop_t&, int fd, corio::token) { (void)fd; }
};
struct writable_without_loop {
  void writable(corio::token) {}
};
struct notify_wrong_message {
  void notify(loop_t&, const std::string&) {}
};
struct notify_by_lvalue_ref {
  void notify(loop_t&, int&) {}  // the loop moves the message out: an rvalue
};
struct signal_as_int {
  void signal(loop_t&, int signo, int pid) { (void)signo, (void)pid; }
};
struct timeout_template_wrong_arity {
  template <class Loop>
  void timeout(Loop&) {}
};
struct timeout_overloads_all_wrong {
  void timeout(int) {}
  void timeout(loop_t&) {}
};
struct timeout_is_data {
  std::chrono::milliseconds timeout{5};
};
class private_timeout {
  void timeout(loop_t&, corio::token) {}
};
struct final_bad final {
  void notify(loop_t&) {}
};
static_assert(!corio::event_handler<timeout_without_token, int>);
static_assert(!corio::event_handler<timeout_for_another_loop, int>);
static_assert(!corio::event_handler<readable_with_fd, int>);
static_assert(!corio::event_handler<writable_without_loop, int>);
static_assert(!corio::event_handler<notify_wrong_message, int>);
static_assert(!corio::event_handler<notify_by_lvalue_ref, int>);
static_assert(!corio::event_handler<signal_as_int, int>);
static_assert(!corio::event_handler<timeout_template_wrong_arity, int>);
static_assert(!corio::event_handler<timeout_overloads_all_wrong, int>);
static_assert(!corio::event_handler<timeout_is_data, int>);
static_assert(!corio::event_handler<private_timeout, int>);
static_assert(!corio::event_handler<final_bad, int>);
// The message type is part of the contract: the same handler fits one loop and not another.
struct string_notify {
  void notify(corio::event_loop<std::string>&, const std::string&) {}
};
static_assert(corio::event_handler<string_notify, std::string>);
static_assert(!corio::event_handler<string_notify, int>);
static_assert(!corio::event_handler<documented, std::string>);

// Uses the accepted variations at once; member templates cannot live in a local class.
struct varied {
  std::vector<std::string> log;
  void timeout(const loop_t&, const corio::token& t) {
    log.push_back("t" + std::to_string(static_cast<std::uint64_t>(t)));
  }
  template <class Loop>
  void notify(Loop& l, const int& m) {
    log.push_back("n" + std::to_string(m));
    l.shutdown();
  }
  void notify(int) {}  // an overload the loop cannot use, beside one it can
};
static_assert(corio::event_handler<varied, int>);

class handler_signature_test : public ::testing::TestWithParam<corio::backend_kind> {
 protected:
  loop_t make() {
    corio::loop_options o;
    o.backend = GetParam();
    auto l = loop_t::create(o);
    EXPECT_TRUE(l.has_value()) << l.error().message();
    return std::move(*l);
  }
};

// Every accepted variation is really called: acceptance that still skipped the callback would
// be the old bug in a new place.
TEST_P(handler_signature_test, accepted_variations_are_called) {
  auto loop = make();
  varied handler;
  ASSERT_TRUE(loop.timeout(corio::token{4}, 0ms));
  ASSERT_TRUE(loop.sender().send(9));
  for (int i = 0; i < 100 && handler.log.size() < 2; ++i) {
    ASSERT_TRUE(loop.run_once(handler, 100ms));
  }
  std::sort(handler.log.begin(), handler.log.end());
  EXPECT_EQ(handler.log, (std::vector<std::string>{"n9", "t4"}));
}

std::string backend_name(const ::testing::TestParamInfo<corio::backend_kind>& info) {
  return std::string(corio::to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(backends, handler_signature_test,
                         ::testing::ValuesIn(corio::built_backends().begin(),
                                             corio::built_backends().end()),
                         backend_name);

}  // namespace
