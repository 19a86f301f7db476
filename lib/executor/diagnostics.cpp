// The watchdog thread, the registry of executors, the dump and the metrics snapshot
// (corio/diagnostics.hpp says what they promise, lib/executor/diagnostics.hpp what they cost).
//
// The watchdog wakes every `tick` while any executor exists and sleeps on a condition variable
// otherwise. Each wake it advances the coarse clock, looks for stalled workers (running a turn,
// not parked, turn counter unchanged for the threshold) and checks the shutdown deadline. It
// runs with every signal blocked, and it never takes an executor's locks except the short
// spawned-list one, so it works while every worker is stuck.
#include "executor/diagnostics.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <corio/runtime.hpp>

#include "driver/signals.hpp"
#include "os/thread_name.hpp"

namespace corio {
namespace detail {

std::atomic<std::uint32_t> coarse_clock_ms{0};

// The watchdog's own view of one executor; touched only under the registry lock.
struct diagnostics_access {
  static spawn_link& tasks(executor_diagnostics& d) noexcept { return d.tasks_; }
  static executor_diagnostics*& next(executor_diagnostics& d) noexcept { return d.next_; }
  static executor_diagnostics*& prev(executor_diagnostics& d) noexcept { return d.prev_; }
  static bool running(const executor_diagnostics& d) noexcept {
    return d.running_.load(std::memory_order_relaxed);
  }
  static bool parked(const executor_diagnostics& d) noexcept {
    return d.parked_.load(std::memory_order_relaxed);
  }
  static void* current_frame(const executor_diagnostics& d) noexcept {
    return d.current_frame_.load(std::memory_order_relaxed);
  }
  static const runtime* owner(const executor_diagnostics& d) noexcept {
    return d.runtime_.load(std::memory_order_relaxed);
  }
  static std::size_t index(const executor_diagnostics& d) noexcept {
    return d.index_.load(std::memory_order_relaxed);
  }
  static int thread_id(const executor_diagnostics& d) noexcept { return d.thread_id_; }
  static std::chrono::steady_clock::time_point created(const executor_diagnostics& d) noexcept {
    return d.created_;
  }
  static executor_diagnostics::watch_state& watch(executor_diagnostics& d) noexcept {
    return d.watch_;
  }
  static void lock(executor_diagnostics& d) noexcept { d.lock_tasks(); }
  static void unlock(executor_diagnostics& d) noexcept { d.unlock_tasks(); }
};

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using access = diagnostics_access;

constexpr auto default_stall = 500ms;
constexpr auto default_deadline = 1500ms;

std::chrono::milliseconds from_env(const char* name, std::chrono::milliseconds fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long long ms = std::strtoll(v, &end, 10);
  if (errno != 0 || *end != '\0' || ms < 0) {
    std::fprintf(stderr, "corio: ignoring %s=%s (want milliseconds, 0 = off)\n", name, v);
    return fallback;
  }
  return std::chrono::milliseconds(ms);
}

// Leaked on purpose: the detached watchdog thread may still use it while statics are destroyed.
struct registry {
  std::mutex lock;
  std::condition_variable wake;
  executor_diagnostics* head = nullptr;
  executor_diagnostics* tail = nullptr;
  std::size_t count = 0;
  bool thread_started = false;
  // termination_signal_count() when the first executor of a busy period registered: only a
  // signal after that starts the shutdown deadline (taken by the registering thread, so a
  // watchdog that is slow to start cannot miss one).
  std::uint32_t signal_baseline = 0;
  std::atomic<std::int64_t> stall_ms{from_env("CORIO_STALL_MS", default_stall).count()};
  std::atomic<std::int64_t> deadline_ms{
      from_env("CORIO_SHUTDOWN_DEADLINE_MS", default_deadline).count()};
  bool stall_from_env = std::getenv("CORIO_STALL_MS") != nullptr;
  bool deadline_from_env = std::getenv("CORIO_SHUTDOWN_DEADLINE_MS") != nullptr;
  const steady::time_point epoch = steady::now();
};

registry& reg() {
  static registry* r = new registry;
  return *r;
}

std::uint32_t coarse_now(const registry& r, steady::time_point now) noexcept {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now - r.epoch).count());
}

std::atomic<void (*)(std::string_view)> sink{nullptr};

void write_report(const std::string& text) {
  if (auto* to = sink.load(std::memory_order_acquire)) {
    to(text);
    return;
  }
  // One write: reports from a dying process must not interleave with the service's output.
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

std::string site(const char* file, unsigned line) {
  if (!file) return "(none yet)";
  return std::string(file) + ":" + std::to_string(line);
}

std::string label(const executor_diagnostics& d) {
  std::string s;
  if (const runtime* rt = access::owner(d)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "runtime %p worker %zu", static_cast<const void*>(rt),
                  access::index(d));
    s = buf;
  } else {
    s = "block_on executor";
  }
  return s + " (thread " + std::to_string(access::thread_id(d)) + ")";
}

std::string millis(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", std::chrono::duration<double>(d).count());
  return buf;
}

// The task whose frame the executor resumed last; the caller holds the executor's task lock.
const spawn_link* running_task(executor_diagnostics& d) {
  void* frame = access::current_frame(d);
  if (!frame) return nullptr;
  spawn_link& head = access::tasks(d);
  for (const spawn_link* l = head.next; l != &head; l = l->next) {
    if (l->trace.frame.load(std::memory_order_relaxed) == frame || l->frame.address() == frame) {
      return l;
    }
  }
  return nullptr;
}

std::string describe_task(const spawn_link& l, std::uint32_t now_ms, bool running) {
  const task_trace& t = l.trace;
  std::string s = "task spawned at " + site(t.spawned_at.file, t.spawned_at.line);
  if (*t.spawned_at.function) s += std::string(" in ") + t.spawned_at.function;
  const suspend_note last = t.last_suspend();
  const std::uint32_t since = t.since_ms.load(std::memory_order_relaxed);
  const std::uint32_t waited = now_ms >= since ? now_ms - since : 0;
  if (running) {
    s += ": running";
  } else {
    s += ": ";
    s += to_string(last.state);
    s += " for ~" + std::to_string(waited) + " ms";
  }
  s += ", last co_await " + site(last.file, last.line);
  return s;
}

worker_metrics snapshot(const executor_diagnostics& d, steady::time_point now) {
  const worker_counters& c = d.counters;
  auto get = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  worker_metrics m;
  m.owner = access::owner(d);
  m.worker = access::index(d);
  m.turns = get(c.turns);
  m.resumes = get(c.resumes);
  m.tasks_spawned = get(c.spawned);
  const std::uint64_t finished = get(c.finished);
  m.tasks_alive = m.tasks_spawned >= finished ? m.tasks_spawned - finished : 0;
  m.io_events = get(c.io_events);
  m.io_completions = get(c.io_completions);
  m.timers_fired = get(c.timers_fired);
  m.remote_runs = get(c.remote_runs);
  m.ready_depth = get(c.ready_depth);
  m.timers_armed = get(c.timers_armed);
  m.parked = std::chrono::nanoseconds(get(c.parked_ns));
  const auto alive = std::chrono::duration_cast<std::chrono::nanoseconds>(now - access::created(d));
  m.running = alive > m.parked ? alive - m.parked : std::chrono::nanoseconds::zero();
  return m;
}

// The caller holds the registry lock.
std::string dump_locked(registry& r, const runtime* only) {
  const auto now = steady::now();
  const std::uint32_t now_ms = coarse_now(r, now);
  std::string out = "corio dump: " + std::to_string(r.count) + " executor(s)\n";
  for (executor_diagnostics* d = r.head; d; d = access::next(*d)) {
    if (only && access::owner(*d) != only) continue;
    const worker_metrics m = snapshot(*d, now);
    const bool parked = access::parked(*d);
    const bool running = access::running(*d);
    out += label(*d) + ": " + (!running ? "not running" : parked ? "parked" : "running") + "\n";
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "  turns %llu, resumes %llu, tasks %llu spawned / %llu alive, io events %llu, "
                  "io completions %llu, timers fired %llu, remote %llu, ready %llu, timers armed "
                  "%llu, parked %s, running %s\n",
                  static_cast<unsigned long long>(m.turns),
                  static_cast<unsigned long long>(m.resumes),
                  static_cast<unsigned long long>(m.tasks_spawned),
                  static_cast<unsigned long long>(m.tasks_alive),
                  static_cast<unsigned long long>(m.io_events),
                  static_cast<unsigned long long>(m.io_completions),
                  static_cast<unsigned long long>(m.timers_fired),
                  static_cast<unsigned long long>(m.remote_runs),
                  static_cast<unsigned long long>(m.ready_depth),
                  static_cast<unsigned long long>(m.timers_armed), millis(m.parked).c_str(),
                  millis(m.running).c_str());
    out += buf;
    access::lock(*d);
    const spawn_link* current = running && !parked ? running_task(*d) : nullptr;
    spawn_link& head = access::tasks(*d);
    for (const spawn_link* l = head.next; l != &head; l = l->next) {
      out += "  " + describe_task(*l, now_ms, l == current) + "\n";
    }
    access::unlock(*d);
  }
  return out;
}

void report_stall(executor_diagnostics& d, steady::duration stalled, std::uint32_t now_ms) {
  std::string s = "corio: stall: " + label(d) + " has not returned to its reactor for " +
                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(stalled)
                                     .count()) +
                  " ms; ";
  access::lock(d);
  if (const spawn_link* l = running_task(d)) {
    s += describe_task(*l, now_ms, true);
  } else {
    char buf[64];
    std::snprintf(buf, sizeof buf, "running a coroutine that is not a spawned task (frame %p)",
                  access::current_frame(d));
    s += buf;
  }
  access::unlock(d);
  write_report(s + "\n");
}

[[noreturn]] void force_exit(registry& r, std::int64_t deadline_ms) {
  std::string s = "corio: shutdown deadline: SIGTERM/SIGINT arrived " +
                  std::to_string(deadline_ms) +
                  " ms ago and the process is still running; forcing exit with status 3\n";
  s += dump_locked(r, nullptr);
  write_report(s);
  std::_Exit(3);
}

void watch() {
  sys::name_this_thread("corio-watchdog");
  registry& r = reg();
  std::unique_lock lk(r.lock);
  std::optional<steady::time_point> stop_asked;
  for (;;) {
    if (!r.head) {
      stop_asked.reset();
      r.wake.wait(lk, [&r] { return r.head != nullptr; });
      continue;
    }
    const std::int64_t stall_ms = r.stall_ms.load(std::memory_order_relaxed);
    const auto tick = stall_ms > 0 ? std::clamp(std::chrono::milliseconds(stall_ms / 4), 5ms, 25ms)
                                   : 25ms;
    r.wake.wait_for(lk, tick);
    const auto now = steady::now();
    const std::uint32_t now_ms = coarse_now(r, now);
    coarse_clock_ms.store(now_ms, std::memory_order_relaxed);

    if (!stop_asked && termination_signal_count() != r.signal_baseline) stop_asked = now;
    const std::int64_t deadline_ms = r.deadline_ms.load(std::memory_order_relaxed);
    if (stop_asked && r.head && deadline_ms > 0 &&
        now - *stop_asked >= std::chrono::milliseconds(deadline_ms)) {
      force_exit(r, deadline_ms);
    }

    for (executor_diagnostics* d = r.head; d; d = access::next(*d)) {
      auto& w = access::watch(*d);
      const std::uint64_t turns = d->counters.turns.load(std::memory_order_relaxed);
      if (!access::running(*d) || access::parked(*d) || turns != w.turns) {
        if (w.reported) {
          write_report("corio: stall over: " + label(*d) + " is back in its reactor after ~" +
                       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          now - w.since)
                                          .count()) +
                       " ms\n");
        }
        w = {turns, now, false};
        continue;
      }
      if (stall_ms > 0 && !w.reported && now - w.since >= std::chrono::milliseconds(stall_ms)) {
        report_stall(*d, now - w.since, now_ms);
        w.reported = true;
      }
    }
  }
}

// The watchdog must never run a signal handler (it would steal SIGTERM from the workers under
// ThreadSanitizer, and a handler there could not do anything useful): it starts with every
// signal blocked.
void start_watchdog() {
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &saved);
  try {
    std::thread(watch).detach();
  } catch (const std::system_error&) {
    // No thread: no watchdog. Diagnostics are best effort; the service itself still runs.
  }
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
}

}  // namespace

executor_diagnostics::executor_diagnostics(spawn_link& tasks) noexcept
    : tasks_(tasks), thread_id_(static_cast<int>(::syscall(SYS_gettid))),
      created_(steady::now()) {
  registry& r = reg();
  std::lock_guard guard(r.lock);
  if (!r.head) r.signal_baseline = termination_signal_count();
  watch_.since = created_;
  prev_ = r.tail;
  (r.tail ? r.tail->next_ : r.head) = this;
  r.tail = this;
  ++r.count;
  // Both off: no thread at all. (The thread once cost ~45 instructions per system call: glibc's
  // read, send and epoll_wait take a cancellable path in a process that ever had two threads;
  // corio's hot calls now bypass it, lib/os/nocancel.hpp.)
  const bool wanted = hooks_on && (r.stall_ms.load(std::memory_order_relaxed) > 0 ||
                                   r.deadline_ms.load(std::memory_order_relaxed) > 0);
  if (!r.thread_started && wanted) {
    r.thread_started = true;
    start_watchdog();
  }
  r.wake.notify_one();
}

executor_diagnostics::~executor_diagnostics() {
  registry& r = reg();
  std::lock_guard guard(r.lock);
  (prev_ ? prev_->next_ : r.head) = next_;
  (next_ ? next_->prev_ : r.tail) = prev_;
  --r.count;
}

void configure_diagnostics(std::chrono::milliseconds stall_threshold,
                           std::chrono::milliseconds shutdown_deadline) noexcept {
  registry& r = reg();
  if (!r.stall_from_env) r.stall_ms.store(stall_threshold.count(), std::memory_order_relaxed);
  if (!r.deadline_from_env) {
    r.deadline_ms.store(shutdown_deadline.count(), std::memory_order_relaxed);
  }
}

void set_diagnostics_sink(void (*to)(std::string_view)) noexcept {
  sink.store(to, std::memory_order_release);
}

std::vector<worker_metrics> metrics_of(const runtime* only) {
  registry& r = reg();
  std::lock_guard guard(r.lock);
  std::vector<worker_metrics> out;
  const auto now = steady::now();
  for (executor_diagnostics* d = r.head; d; d = access::next(*d)) {
    if (!only || access::owner(*d) == only) out.push_back(snapshot(*d, now));
  }
  return out;
}

std::string dump_of(const runtime* only) {
  registry& r = reg();
  std::lock_guard guard(r.lock);
  return dump_locked(r, only);
}

stop_signals_blocked::stop_signals_blocked() noexcept {
  static_assert(sizeof(sigset_t) <= sizeof saved_);
  sigset_t stop;
  sigemptyset(&stop);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&stop, s);
  restore_ = pthread_sigmask(SIG_BLOCK, &stop, reinterpret_cast<sigset_t*>(saved_)) == 0;
}

stop_signals_blocked::~stop_signals_blocked() {
  if (restore_) pthread_sigmask(SIG_SETMASK, reinterpret_cast<sigset_t*>(saved_), nullptr);
}

}  // namespace detail

std::vector<worker_metrics> metrics() { return detail::metrics_of(nullptr); }
std::string dump() { return detail::dump_of(nullptr); }

std::string_view to_string(task_state s) noexcept {
  switch (s) {
    case task_state::not_started: return "not started";
    case task_state::ready: return "ready (yielded)";
    case task_state::io: return "waiting on I/O";
    case task_state::timer: return "waiting on a timer";
    case task_state::channel: return "waiting on a channel";
    case task_state::join: return "waiting on a join";
    case task_state::other: return "waiting";
  }
  return "?";
}

}  // namespace corio
