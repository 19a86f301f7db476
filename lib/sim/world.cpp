// The world's run loop: virtual time, hosts (spawn, crash, restart), faults and the trace.
#include <corio/sim/world.hpp>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "sim/sim_backend.hpp"
#include "sim/world_impl.hpp"

namespace corio::sim {
namespace {

thread_local world* current_world = nullptr;

std::uint64_t splitmix(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

detail::host_frame run_on_host(task<> work) { co_await std::move(work); }

}  // namespace

rng::rng(std::uint64_t seed) noexcept {
  for (auto& s : s_) s = splitmix(seed);
}

std::uint64_t rng::next() noexcept {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

void detail::host_frame::promise_type::final_awaiter::await_suspend(
    std::coroutine_handle<>) const noexcept {
  w->finished_frames = true;
}

void detail::host_frame::promise_type::unhandled_exception() noexcept {
  if (!w->failure) w->failure = std::current_exception();
  w->done = true;
}

world::impl::impl(world& o, std::uint64_t s) : owner(o), seed(s), random(s) {
  queue.reserve(1024);
}

std::int64_t world::impl::now_ns() const noexcept {
  return clock.now().time_since_epoch().count();
}

void world::impl::mix(std::uint64_t v) noexcept {
  // One multiply-xorshift round per value: order-sensitive, and cheap enough for every event.
  digest = (digest ^ v) * 0x9e3779b97f4a7c15ull;
  digest ^= digest >> 32;
}

void world::impl::trace(const char* what, const char* detail_fmt, ...) {
  mix(static_cast<std::uint64_t>(now_ns()));
  // The kind by its first letters (not its address, which differs between processes).
  std::uint64_t kind = 0;
  for (int i = 0; i < 8 && what[i]; ++i) kind |= std::uint64_t{static_cast<unsigned char>(what[i])} << (8 * i);
  mix(kind);
  if (!tracing) return;
  char line[512];
  const std::int64_t t = now_ns();
  int n = std::snprintf(line, sizeof line, "[%4lld.%06llds] %-9s ",
                        static_cast<long long>(t / 1'000'000'000),
                        static_cast<long long>((t / 1000) % 1'000'000), what);
  if (detail_fmt && n > 0 && n < static_cast<int>(sizeof line)) {
    va_list args;
    va_start(args, detail_fmt);
    std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n), detail_fmt, args);
    va_end(args);
  }
  text += line;
  text += '\n';
}

void world::impl::push(event e) {
  e.seq = next_seq++;
  queue.push_back(e);
  std::push_heap(queue.begin(), queue.end(), later{});
}

bool world::impl::process_due(bool quiescent) {
  bool any = false;
  while (!queue.empty() && queue.front().at <= now_ns()) {
    const event& top = queue.front();
    // A crash or restart destroys or starts frames: only once nothing is queued to run.
    if (top.kind != event_kind::deliver && !quiescent) break;
    const event e = top;
    std::pop_heap(queue.begin(), queue.end(), later{});
    queue.pop_back();
    any = true;
    switch (e.kind) {
      case event_kind::deliver: deliver(e.d); break;
      case event_kind::crash: crash_now(e.host); break;
      case event_kind::restart: restart_now(e.host); break;
      default: tcp_event(e); break;
    }
  }
  return any;
}

void world::impl::step(std::optional<std::chrono::nanoseconds> timeout) {
  // First, before time moves: the hook and the predicate see the state the last turn left.
  if (step_hook) step_hook();
  if ((until && (*until)()) || stop_requested) {
    done = true;
    return;
  }
  const bool quiescent = !timeout || timeout->count() > 0;
  if (quiescent && finished_frames) reap_finished();
  if (!process_due(quiescent) && quiescent && !done) {
    if (now_ns() >= stop_at) {
      done = true;  // the end, once everything due at its instant has run
    } else {
      // Nothing runnable and nothing due: jump to the next timer, event, or the end.
      std::int64_t target = stop_at;
      bool timer = false;
      if (timeout && now_ns() + timeout->count() <= target) {
        target = now_ns() + timeout->count();
        timer = true;
      }
      if (!queue.empty() && queue.front().at < target) {
        target = queue.front().at;
        timer = false;
      }
      if (target > now_ns()) clock.set(std::chrono::steady_clock::time_point(duration(target)));
      if (timer) trace("timer");
      (void)process_due(true);
    }
  }
}

void world::impl::reap_finished() {
  finished_frames = false;
  for (auto& h : hosts) {
    std::erase_if(h->frames, [](auto f) {
      if (!f.done()) return false;
      f.destroy();
      return true;
    });
  }
}

void world::impl::crash_now(host_id id) {
  host& h = *hosts[id];
  if (!h.up) return;
  trace("crash", "host %u (incarnation %u)", id, h.incarnation);
  h.up = false;
  tcp_crash_mark(id);  // first: its streams must not send a FIN while its frames close them
  auto frames = std::move(h.frames);
  h.frames.clear();
  crashing = id;
  for (auto f : frames) f.destroy();
  crashing.reset();
  tcp_crash_wake(id);
  // Sockets owned outside its tasks stay open but dead: their operations fail from now on.
  for (auto& [key, s] : bound) {
    if (s->host != id || s->closed) continue;
    s->closed = true;
    if (s->waiter) s->waiter->fail(std::make_error_code(std::errc::connection_reset));
  }
  h.disk.lose_unsynced();
}

void world::impl::restart_now(host_id id) {
  host& h = *hosts[id];
  if (h.up) return;
  h.up = true;
  ++h.incarnation;
  h.stop = std::stop_source();
  trace("restart", "host %u (incarnation %u)", id, h.incarnation);
  if (h.boot) owner.spawn(id, h.boot());
}

void world::impl::destroy_all_frames() {
  for (auto& h : hosts) {
    auto frames = std::move(h->frames);
    h->frames.clear();
    for (auto f : frames) f.destroy();
  }
}

void world::impl::run(std::int64_t stop) {
  stop_at = stop;
  done = false;
  stop_requested = false;
  if (auto r = ex->run_until(done); !r) throw std::system_error(r.error(), "corio::sim::world");
  until = nullptr;
  if (failure) std::rethrow_exception(std::exchange(failure, nullptr));
}

// ---- world ---------------------------------------------------------------------------------

world::world(std::uint64_t seed) : impl_(std::make_unique<impl>(*this, seed)) {
  if (current_world) throw std::logic_error("corio::sim::world: one world per thread at a time");
  impl* w = impl_.get();
  auto made = corio::detail::executor::create(
      detail::make_sim_backend([w](std::optional<std::chrono::nanoseconds> t) { w->step(t); }),
      w->clock);
  if (!made) throw std::system_error(made.error(), "corio::sim::world");
  w->ex = std::move(*made);
  current_world = this;
  w->trace("seed", "%llu", static_cast<unsigned long long>(seed));
}

world::~world() {
  // Host tasks first: their operations unlink from the executor's timers and our sockets.
  impl_->destroy_all_frames();
  impl_->ex.reset();
  current_world = nullptr;
}

world* world::current() noexcept { return current_world; }
std::uint64_t world::seed() const noexcept { return impl_->seed; }

host_id world::add_host(std::function<task<>()> boot) {
  if (impl_->hosts.size() >= 250) throw std::length_error("corio::sim::world: at most 250 hosts");
  impl_->hosts.push_back(std::make_unique<impl::host>());
  const auto id = static_cast<host_id>(impl_->hosts.size() - 1);
  impl_->hosts.back()->boot = std::move(boot);
  if (impl_->hosts.back()->boot) spawn(id, impl_->hosts.back()->boot());
  return id;
}

std::size_t world::host_count() const noexcept { return impl_->hosts.size(); }

net::ip_address world::address_of(host_id h) const {
  return net::ip_address::v4({10, 0, 0, static_cast<std::uint8_t>(h + 1)});
}

bool world::is_up(host_id h) const { return impl_->hosts.at(h)->up; }
sim::disk& world::disk(host_id h) { return impl_->hosts.at(h)->disk; }

void world::spawn(host_id id, task<> work) {
  auto& h = *impl_->hosts.at(id);
  if (!h.up) return;
  auto frame = run_on_host(std::move(work)).frame;
  frame.promise().w = impl_.get();
  frame.promise().stop = h.stop.get_token();
  h.frames.push_back(frame);
  corio::detail::schedule(*impl_->ex, frame);
}

void world::run_for(duration d) { impl_->run(impl_->now_ns() + d.count()); }

bool world::run_until(const std::function<bool()>& done, duration limit) {
  if (done()) return true;
  impl_->until = &done;
  impl_->run(impl_->now_ns() + limit.count());
  return done();
}

void world::on_step(std::function<void()> hook) { impl_->step_hook = std::move(hook); }
void world::stop() noexcept { impl_->stop_requested = true; }
duration world::now() const noexcept { return duration(impl_->now_ns()); }

void world::set_default_link(const link_faults& f) { impl_->default_link = f; }
void world::set_link(host_id from, host_id to, const link_faults& f) {
  impl_->links[{from, to}] = f;
}
void world::clear_links() { impl_->links.clear(); }

void world::partition(const std::vector<host_id>& side) {
  std::string names;
  for (host_id a : side) {
    names += std::to_string(a) + ' ';
    for (host_id b = 0; b < impl_->hosts.size(); ++b) {
      if (std::find(side.begin(), side.end(), b) != side.end()) continue;
      impl_->cuts.insert({a, b});
      impl_->cuts.insert({b, a});
    }
  }
  impl_->trace("partition", "{ %s} from the rest", names.c_str());
}

void world::cut(host_id a, host_id b) {
  impl_->cuts.insert({a, b});
  impl_->cuts.insert({b, a});
  impl_->trace("cut", "%u <-> %u", a, b);
}

void world::heal() {
  impl_->cuts.clear();
  impl_->trace("heal");
}

void world::crash(host_id h) {
  impl::event e;
  e.at = impl_->now_ns();
  e.kind = impl::event_kind::crash;
  e.host = h;
  impl_->push(e);
}

void world::restart(host_id h) {
  impl::event e;
  e.at = impl_->now_ns();
  e.kind = impl::event_kind::restart;
  e.host = h;
  impl_->push(e);
}

std::uint64_t world::random() noexcept { return impl_->random.next(); }
double world::random_unit() noexcept { return impl_->random.unit(); }
std::uint64_t world::random_below(std::uint64_t n) noexcept { return impl_->random.below(n); }

void world::enable_trace(bool on) { impl_->tracing = on; }
const std::string& world::trace() const noexcept { return impl_->text; }
std::uint64_t world::trace_digest() const noexcept { return impl_->digest; }
void world::note(std::string_view t) {
  impl_->trace("note", "%.*s", static_cast<int>(t.size()), t.data());
}

std::string world::replay_command(std::string_view command) const {
  return "CORIO_SIM_SEED=" + std::to_string(impl_->seed) + " " + std::string(command);
}

std::uint64_t seed_from_env(std::uint64_t fallback) {
  const char* s = std::getenv("CORIO_SIM_SEED");
  if (!s || !*s) return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  return end && *end == '\0' ? v : fallback;
}

}  // namespace corio::sim
