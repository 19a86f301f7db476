// raft_sim: the Raft of node.hpp, unchanged, on corio::sim: many seeds, each a cluster under
// drops, duplicates, reordering, partitions and crashes for --virtual-seconds, checked after
// every step (checker.hpp); then the network heals and a leader must be elected and client
// commands commit within a bounded virtual time. A failure prints its seed and the command
// that replays it; CORIO_SIM_SEED=S runs only seed S and prints its trace.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include <corio/sim.hpp>
#include <corio/time.hpp>

#include "../common/command_line.hpp"
#include "checker.hpp"
#include "node.hpp"

using namespace std::chrono_literals;
namespace sim = corio::sim;
using node_t = raft::node<sim::network>;

namespace {

constexpr std::uint16_t raft_port = 7000;
constexpr std::uint16_t client_port = 9000;

struct options {
  std::uint64_t first_seed = 1;
  std::uint64_t seeds = 100;
  int nodes = 5;
  int virtual_seconds = 10;
  std::vector<std::string> bug_names;
  raft::bugs bug;
  bool keep_going = false;
  bool trace = false;
  bool replay = false;  // CORIO_SIM_SEED: one seed, its trace printed whatever the outcome
};

class sim_storage final : public raft::storage {
 public:
  explicit sim_storage(sim::disk& d) : d_(d) {}
  std::string load_meta() override { return d_.read("meta"); }
  std::string load_log() override { return d_.read("log"); }
  void write_meta(std::string_view b) override { d_.write("meta", b); }
  void truncate_log(std::size_t n) override { d_.truncate("log", n); }
  void append_log(std::string_view b) override { d_.append("log", b); }
  void sync() override { d_.sync(); }

 private:
  sim::disk& d_;
};

struct client_stats {
  std::uint64_t acked = 0;
};

// Sends SETs to whoever it believes leads; follows redirects; gives up on a node after 200 ms.
corio::task<> client(sim::world& w, std::vector<corio::net::socket_address> peers,
                     corio::net::socket_address at, client_stats& stats) {
  auto sock = sim::udp_socket::bind(at).value();
  std::vector<std::byte> buf(raft::max_message);
  std::string out;
  std::uint32_t target = static_cast<std::uint32_t>(w.random_below(peers.size()));
  for (std::uint64_t request = 1;; ++request) {
    {
      raft::writer m(out);
      m.u8(static_cast<std::uint8_t>(raft::msg_type::client_request));
      m.u32(raft::no_node);
      m.u64(0);
      m.u64(request);
      m.bytes(raft::encode_command(raft::op::set, "k" + std::to_string(request % 7),
                                   std::to_string(request)));
    }
    (void)sock.try_send_to(std::as_bytes(std::span(out)), peers[target]);
    for (;;) {
      auto got = co_await corio::timeout(200ms, sock.recv_from(buf));
      if (!got) {
        if (got.error() != std::errc::timed_out) co_return;
        target = (target + 1) % peers.size();
        break;
      }
      raft::reader r(std::span<const std::byte>(buf.data(), got->first));
      (void)r.u8();
      (void)r.u32();
      (void)r.u64();
      const std::uint64_t id = r.u64();
      const bool ok = r.u8() != 0;
      const std::uint32_t leader = r.u32();
      if (!r.ok() || id != request) continue;  // a late reply to an earlier request
      if (ok) {
        ++stats.acked;
      } else {
        target = leader < peers.size() ? leader : (target + 1) % peers.size();
        auto paused = co_await corio::sleep_for(20ms);
        if (!paused) co_return;
      }
      break;
    }
  }
}

struct cluster {
  cluster(std::uint64_t seed, const options& o) : check(static_cast<std::size_t>(o.nodes)), w(seed) {
    w.enable_trace(o.trace);
    sim::link_faults f;
    f.latency_min = 1ms;
    f.latency_max = 10ms;
    f.loss = 0.02;
    f.duplicate = 0.01;
    f.reorder = 0.01;
    w.set_default_link(f);
    for (int i = 0; i < o.nodes; ++i) {
      peers.push_back({w.address_of(static_cast<sim::host_id>(i)), raft_port});
    }
    slots.resize(static_cast<std::size_t>(o.nodes));
    for (int i = 0; i < o.nodes; ++i) {
      // The boot function is what a restarted host runs again; its disk outlives crashes.
      const auto id = static_cast<std::uint32_t>(i);
      const auto h = w.add_host([this, id, o] { return run_node(id, o); });
      storages.push_back(std::make_unique<sim_storage>(w.disk(h)));
    }
    client_host = w.add_host();
    w.spawn(client_host, client(w, peers, {w.address_of(client_host), client_port}, stats));
    restart_at.resize(static_cast<std::size_t>(o.nodes));
    aggression = std::array<std::uint64_t, 4>{0, 0, 25, 50}[w.random_below(4)];
    rolled.resize(static_cast<std::size_t>(o.nodes));
    w.on_step([this] {
      if (!check.check(slots)) {
        w.stop();
        return;
      }
      adversary();
    });
  }

  // The schedule behind Raft's Figure 8, which random faults hardly ever produce: a leader
  // crashes right when its newest entry sits on a minority (an uncommitted entry survives on a
  // few nodes, to be picked up by a later leader), or right after its commit index moved (only
  // it knew); the node comes back 50-350 ms later. Each chance is rolled once per leader, log
  // length and holder count, from the world's seed, so the run stays replayable.
  void adversary() {
    const auto now = w.now();
    for (std::size_t i = 0; i < restart_at.size(); ++i) {
      if (restart_at[i] && now >= *restart_at[i]) {
        restart_at[i].reset();
        w.heal();  // adversarial seeds make no other cuts
        w.restart(static_cast<sim::host_id>(i));
      }
    }
    if (!attacking) return;
    const std::size_t majority = slots.size() / 2 + 1;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const node_t* n = slots[i].node;
      if (!n || n->role() != raft::role::leader || restart_at[i]) continue;
      const auto& log = n->log();
      const std::uint64_t last = log.size() - 1;
      if (last == 0) continue;
      std::size_t holders = 0;
      for (const auto& s : slots) {
        if (s.node && s.node->log().size() > last && s.node->log()[last].term == log[last].term) ++holders;
      }
      const roll now_seen{n->term(), last, holders, n->commit_index()};
      if (now_seen == rolled[i]) continue;
      const bool committed = n->commit_index() > rolled[i].commit && rolled[i].term == n->term();
      rolled[i] = now_seen;
      const bool minority = holders < majority;
      if ((minority || committed) && w.random_below(100) < aggression) {
        w.note(committed ? "adversary: crash a leader that just committed"
                         : "adversary: crash a leader whose newest entry is on a minority");
        // Cut off first: what it sent in this very step dies with it (it crashed before its
        // messages left), else a crash "right after" an append would not stop replication.
        w.partition({static_cast<sim::host_id>(i)});
        w.crash(static_cast<sim::host_id>(i));
        restart_at[i] = now + std::chrono::milliseconds(50 + w.random_below(300));
      }
    }
  }

  corio::task<> run_node(std::uint32_t id, options o) {
    raft::config c;
    c.id = id;
    c.peers = peers;
    c.seed = w.random();
    c.bug = o.bug;
    node_t n(c, *storages[id]);
    struct registration {
      std::vector<raft::checker<node_t>::slot>& slots;
      std::uint32_t id;
      ~registration() { slots[id].node = nullptr; }
    } reg{slots, id};
    slots[id] = {&n, ++incarnations};
    auto r = co_await n.run();
    if (!r) throw std::system_error(r.error(), "raft node");
  }

  bool has_leader() const {
    std::uint64_t top = 0;
    for (const auto& s : slots) {
      if (s.node) top = std::max(top, s.node->term());
    }
    for (const auto& s : slots) {
      if (s.node && s.node->role() == raft::role::leader && s.node->term() == top) return true;
    }
    return false;
  }

  struct roll {
    std::uint64_t term = 0;
    std::uint64_t last = 0;
    std::size_t holders = 0;
    std::uint64_t commit = 0;
    bool operator==(const roll&) const = default;
  };
  bool attacking = true;
  std::uint64_t aggression = 0;  // percent, drawn per seed
  std::vector<std::optional<sim::duration>> restart_at;
  std::vector<roll> rolled;

  raft::checker<node_t> check;
  std::vector<corio::net::socket_address> peers;
  std::vector<std::unique_ptr<sim_storage>> storages;
  std::vector<raft::checker<node_t>::slot> slots;
  std::uint64_t incarnations = 0;
  sim::host_id client_host = 0;
  client_stats stats;
  // Last: destroyed first, so the hosts' tasks end before what they use.
  sim::world w;
};

// One random fault, drawn from the world's seed.
void inject_fault(cluster& c, int nodes) {
  sim::world& w = c.w;
  const auto pick = [&] { return static_cast<sim::host_id>(w.random_below(static_cast<std::uint64_t>(nodes))); };
  // An adversarial seed leaves crashes and cuts to the adversary, whose nodes come back soon:
  // random crashes keep nodes down for seconds, which ends the races it sets up; only the
  // links' latency and loss still change at random.
  const std::uint64_t kind = c.aggression > 0 ? 5 + w.random_below(2) : w.random_below(8);
  switch (kind) {
    case 0:
    case 1: {
      const auto h = pick();
      if (w.is_up(h)) w.crash(h); else w.restart(h);
      break;
    }
    case 2: {
      std::vector<sim::host_id> side;
      for (int i = 0; i < nodes; ++i) {
        if (w.random_below(2)) side.push_back(static_cast<sim::host_id>(i));
      }
      w.partition(side);
      break;
    }
    case 3: w.cut(pick(), pick()); break;
    case 4: w.heal(); break;
    case 5: {
      sim::link_faults f;
      f.latency_min = 1ms;
      f.latency_max = std::chrono::milliseconds(5 + w.random_below(100));
      f.loss = static_cast<double>(w.random_below(30)) / 100.0;
      f.duplicate = 0.05;
      f.reorder = 0.05;
      w.set_link(pick(), pick(), f);
      break;
    }
    case 6: w.clear_links(); break;
    default:  // a leader's crash is what exercises elections the most
      for (int i = 0; i < nodes; ++i) {
        const auto& s = c.slots[static_cast<std::size_t>(i)];
        if (s.node && s.node->role() == raft::role::leader) {
          w.crash(static_cast<sim::host_id>(i));
          break;
        }
      }
  }
}

// Runs one seed; the failure's description, or nothing.
std::optional<std::string> run_seed(std::uint64_t seed, const options& o, std::string* trace) {
  cluster c(seed, o);
  const auto fault_phase = std::chrono::seconds(o.virtual_seconds);
  while (c.w.now() < fault_phase && c.check.failure().empty()) {
    c.w.run_for(std::chrono::milliseconds(50 + c.w.random_below(700)));
    if (c.check.failure().empty()) inject_fault(c, o.nodes);
  }
  std::optional<std::string> failure;
  if (!c.check.failure().empty()) {
    failure = c.check.failure();
  } else {
    // Liveness: heal everything; a leader must appear and the client must get 3 commits.
    c.w.note("heal everything");
    c.attacking = false;
    c.w.heal();
    c.w.clear_links();
    c.w.set_default_link({});
    for (int i = 0; i < o.nodes; ++i) c.w.restart(static_cast<sim::host_id>(i));
    const auto acked = c.stats.acked;
    const bool live = c.w.run_until(
        [&] { return !c.check.failure().empty() || (c.has_leader() && c.stats.acked >= acked + 3); },
        10s);
    if (!c.check.failure().empty()) {
      failure = c.check.failure();
    } else if (!live) {
      failure = "liveness: no leader with 3 commits within 10 s of healing";
    } else if (!c.check.check_all(c.slots)) {
      failure = c.check.failure();
    }
  }
  if (trace) *trace = c.w.trace();
  return failure;
}

std::string replay_flags(const options& o) {
  std::string s = "raft_sim --nodes " + std::to_string(o.nodes) + " --virtual-seconds " +
                  std::to_string(o.virtual_seconds);
  for (const auto& b : o.bug_names) s += " --bug " + b;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  examples::command_line cl("Raft on corio::sim: many seeded runs, each checked after every step",
                            argc, argv);
  cl.option("--seeds", o.seeds, "how many seeds to run").range(1, 100'000'000);
  cl.option("--first-seed", o.first_seed, "the first seed (the others follow it)");
  cl.option("--nodes", o.nodes, "cluster size").range(1, 9);
  cl.option("--virtual-seconds", o.virtual_seconds, "virtual time with faults, per seed")
      .range(1, 3600);
  cl.option("--bug", o.bug_names, "plant a bug: vote-without-log-check, commit-old-term, skip-sync")
      .one_of({"vote-without-log-check", "commit-old-term", "skip-sync"});
  cl.flag("--keep-going", o.keep_going, "run every seed even after a failure");
  cl.flag("--trace", o.trace, "print the trace of every failing seed");
  cl.parse();
  for (const auto& b : o.bug_names) {
    if (b == "vote-without-log-check") o.bug.vote_without_log_check = true;
    if (b == "commit-old-term") o.bug.commit_old_term = true;
    if (b == "skip-sync") o.bug.skip_sync = true;
  }

  if (const char* env = std::getenv("CORIO_SIM_SEED"); env && *env) {
    o.first_seed = sim::seed_from_env(0);
    o.seeds = 1;
    o.trace = true;
    o.replay = true;
  }

  const auto start = std::chrono::steady_clock::now();
  std::uint64_t failed = 0;
  std::uint64_t ran = 0;
  for (std::uint64_t seed = o.first_seed; seed < o.first_seed + o.seeds; ++seed) {
    std::string trace;
    auto failure = run_seed(seed, o, o.trace ? &trace : nullptr);
    ++ran;
    if (o.trace && (failure || o.replay)) std::fputs(trace.c_str(), stdout);
    if (!failure) continue;
    ++failed;
    std::printf("seed %llu FAILED: %s\nreplay: CORIO_SIM_SEED=%llu %s\n",
                static_cast<unsigned long long>(seed), failure->c_str(),
                static_cast<unsigned long long>(seed), replay_flags(o).c_str());
    std::fflush(stdout);
    if (!o.keep_going) break;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu seeds (%llu..%llu), %llu failed, %.2f s, %.0f seeds/s\n",
              static_cast<unsigned long long>(ran), static_cast<unsigned long long>(o.first_seed),
              static_cast<unsigned long long>(o.first_seed + ran - 1),
              static_cast<unsigned long long>(failed), secs, static_cast<double>(ran) / secs);
  return failed == 0 ? 0 : 1;
}
