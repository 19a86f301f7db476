// A Raft node (leader election with randomized timeouts, heartbeats, log replication, commit,
// a replicated key-value machine), written once and templated on the network: `Net::udp_socket`
// is corio::udp_socket for real (raft_node) and corio::sim::udp_socket in simulation (raft_sim).
//
// Shape: two tasks under when_all, so that everything the node runs ends with its frame (a
// simulated crash destroys it): the receive loop handles one datagram at a time; the ticker
// counts ticks of `tick` (etcd's design: time in the protocol is a count of ticks, never a read
// of a clock, so it is the same code on virtual time). Messages are datagrams: Raft tolerates
// loss, duplication and reordering by itself, which a stream would only hide.
//
// Durability: term, vote and log are written and synced (storage::sync) before the node answers
// a vote request or an append, and before a candidate asks for votes.
//
// Clients: propose() (the RESP port, in-process) returns once the entry is applied, or
// "not leader"; a client_request datagram (raft_sim's client) gets a client_reply.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <corio/net/address.hpp>
#include <corio/sync/oneshot.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>
#include <corio/when.hpp>

#include "messages.hpp"
#include "state_machine.hpp"
#include "storage.hpp"

namespace raft {

enum class role : std::uint8_t { follower, candidate, leader };
inline const char* to_string(role r) {
  return r == role::leader ? "leader" : r == role::candidate ? "candidate" : "follower";
}

// Known bugs to plant, for proving that raft_sim's checker finds them.
struct bugs {
  bool vote_without_log_check = false;  // grant votes to candidates with stale logs
  // Commit earlier terms' entries by counting replicas, and (like an implementation that missed
  // Raft §5.4.2 would) no no-op at election: with the no-op, every append a new leader gets
  // acknowledged covers an entry of its own term, and the wrong count is never the deciding one.
  bool commit_old_term = false;
  bool skip_sync = false;               // answer before term/vote/log are durable
};

struct config {
  std::uint32_t id = 0;
  std::vector<corio::net::socket_address> peers;  // every member's Raft address, by id
  std::chrono::milliseconds tick{10};
  int heartbeat_ticks = 5;
  int election_ticks_min = 15;
  int election_ticks_max = 30;
  std::uint64_t seed = 1;  // for the randomized election timeouts
  std::string client_address;  // advertised by a leader, for followers' redirects
  bugs bug;
};

struct entry {
  std::uint64_t term = 0;
  std::string command;
};

// What a client gets for a command: the state machine's reply, or that this node cannot take
// it (reply empty: no leader known; else the leader's id in `leader`).
struct outcome {
  bool committed = false;
  std::string reply;
  std::uint32_t leader = no_node;
};

template <class Net>
class node {
 public:
  node(config c, storage& s) : cfg_(std::move(c)), store_(s), random_(cfg_.seed * 2 + 1) {
    log_.push_back({});  // index 0: the sentinel every log starts with
    offsets_.push_back(0);
    load();
    reset_election_timer();
  }
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // Binds the node's Raft address and runs until cancelled (or its frame is destroyed).
  corio::task<corio::result<void>> run() {
    auto bound = Net::udp_socket::bind(cfg_.peers.at(cfg_.id));
    if (!bound) co_return bound.error();
    socket_ = std::move(*bound);
    if (cfg_.peers.size() == 1) become_leader();
    co_await corio::when_all(receive_loop(), tick_loop());
    co_return corio::result<void>{};
  }

  // Appends `command` if this node leads and waits until it is applied (the entry at its index
  // may turn out to be another leader's: then "not leader").
  corio::task<outcome> propose(std::string command) {
    if (role_ != role::leader) co_return outcome{false, {}, leader_};
    const std::uint64_t index = append_local(std::move(command));
    auto [tx, rx] = corio::make_oneshot<outcome>();
    local_waiters_.emplace(index, waiter{current_term_, std::move(tx)});
    replicate_all();
    auto got = co_await rx.recv();
    if (!got) co_return outcome{false, {}, leader_};
    co_return std::move(*got);
  }

  // For observers (the checker, ROLE).
  std::uint32_t id() const noexcept { return cfg_.id; }
  enum role role() const noexcept { return role_; }
  std::uint64_t term() const noexcept { return current_term_; }
  std::uint32_t leader() const noexcept { return leader_; }
  // The leader's client address as it advertised it ("" when unknown).
  const std::string& leader_client_address() const noexcept {
    return leader_ == cfg_.id ? cfg_.client_address : leader_client_;
  }
  const std::vector<entry>& log() const noexcept { return log_; }
  std::uint64_t commit_index() const noexcept { return commit_; }
  std::uint64_t last_applied() const noexcept { return applied_; }
  const kv_machine& machine() const noexcept { return machine_; }
  // A committed entry was overwritten: the checker's cue (a correct Raft never does this).
  bool truncated_committed() const noexcept { return truncated_committed_; }
  std::uint64_t log_version() const noexcept { return log_version_; }

 private:
  struct waiter {
    std::uint64_t term;
    corio::oneshot_sender<outcome> tx;
  };
  struct remote_waiter {
    std::uint64_t term;
    corio::net::socket_address from;
    std::uint64_t request;
  };

  std::uint64_t last_index() const noexcept { return log_.size() - 1; }
  std::uint64_t last_term() const noexcept { return log_.back().term; }
  std::size_t majority() const noexcept { return cfg_.peers.size() / 2 + 1; }

  std::uint64_t next_random() noexcept {  // splitmix64: same numbers everywhere
    std::uint64_t z = (random_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  void reset_election_timer() noexcept {
    elapsed_ = 0;
    const auto span = static_cast<std::uint64_t>(cfg_.election_ticks_max - cfg_.election_ticks_min + 1);
    timeout_ = cfg_.election_ticks_min + static_cast<int>(next_random() % span);
  }

  // ---- durability ------------------------------------------------------------------------
  void load() {
    const std::string meta = store_.load_meta();
    if (meta.size() >= 12) {
      std::memcpy(&current_term_, meta.data(), 8);
      std::memcpy(&voted_for_, meta.data() + 8, 4);
    }
    const std::string bytes = store_.load_log();
    std::size_t at = 0;
    while (bytes.size() - at >= 12) {
      entry e;
      std::uint32_t n = 0;
      std::memcpy(&e.term, bytes.data() + at, 8);
      std::memcpy(&n, bytes.data() + at + 8, 4);
      if (n > bytes.size() - at - 12) break;  // torn by a crash: never acknowledged
      e.command.assign(bytes, at + 12, n);
      at += 12 + n;
      log_.push_back(std::move(e));
      offsets_.push_back(at);
    }
    if (at < bytes.size()) store_.truncate_log(at);
  }
  void save_meta() {
    char meta[12];
    std::memcpy(meta, &current_term_, 8);
    std::memcpy(meta + 8, &voted_for_, 4);
    store_.write_meta(std::string_view(meta, sizeof meta));
  }
  void persist_entry(const entry& e) {
    record_.clear();
    const auto n = static_cast<std::uint32_t>(e.command.size());
    record_.append(reinterpret_cast<const char*>(&e.term), 8);
    record_.append(reinterpret_cast<const char*>(&n), 4);
    record_.append(e.command);
    store_.append_log(record_);
    offsets_.push_back(offsets_.back() + record_.size());
  }
  void truncate_from(std::uint64_t index) {
    if (index <= commit_) truncated_committed_ = true;
    log_.resize(index);
    offsets_.resize(index);
    store_.truncate_log(offsets_.back());
    ++log_version_;
  }
  void sync() {
    if (!cfg_.bug.skip_sync) store_.sync();
  }

  // ---- roles -----------------------------------------------------------------------------
  void step_down(std::uint64_t term) {
    if (term > current_term_) {
      current_term_ = term;
      voted_for_ = no_node;
      save_meta();
    }
    if (role_ == role::leader) fail_waiters();
    role_ = role::follower;
  }
  void become_leader() {
    role_ = role::leader;
    leader_ = cfg_.id;
    next_.assign(cfg_.peers.size(), last_index() + 1);
    match_.assign(cfg_.peers.size(), 0);
    heartbeat_elapsed_ = 0;
    // A no-op of its own term lets it commit what earlier leaders left (Raft §5.4.2, §8).
    if (!cfg_.bug.commit_old_term) (void)append_local({});
    replicate_all();
  }
  void start_election() {
    ++current_term_;
    role_ = role::candidate;
    voted_for_ = cfg_.id;
    leader_ = no_node;
    voters_.assign(cfg_.peers.size(), false);
    voters_[cfg_.id] = true;
    votes_ = 1;
    save_meta();
    sync();
    reset_election_timer();
    if (votes_ >= majority()) {
      become_leader();
      return;
    }
    writer w(out_);
    header(w, msg_type::vote_request);
    w.u64(last_index());
    w.u64(last_term());
    broadcast();
  }
  std::uint64_t append_local(std::string command) {
    log_.push_back({current_term_, std::move(command)});
    persist_entry(log_.back());
    ++log_version_;
    // The leader counts itself among the replicas: only once the entry is durable.
    sync();
    if (cfg_.peers.size() == 1) advance_commit();
    return last_index();
  }

  // ---- sending ---------------------------------------------------------------------------
  void header(writer& w, msg_type t) {
    w.u8(static_cast<std::uint8_t>(t));
    w.u32(cfg_.id);
    w.u64(current_term_);
  }
  void send(const corio::net::socket_address& to) {
    // A datagram lost here is like one lost on the way: Raft retries on its own.
    (void)Net::try_send_to(socket_, std::as_bytes(std::span(out_.data(), out_.size())), to);
  }
  void broadcast() {
    for (std::uint32_t p = 0; p < cfg_.peers.size(); ++p) {
      if (p != cfg_.id) send(cfg_.peers[p]);
    }
  }
  void replicate(std::uint32_t p) {
    const std::uint64_t prev = next_[p] - 1;
    writer w(out_);
    header(w, msg_type::append_request);
    w.u64(prev);
    w.u64(log_[prev].term);
    w.u64(commit_);
    w.bytes(cfg_.client_address);
    const std::size_t count_pos = w.size();
    w.u32(0);  // how many entries fit: patched below
    std::uint32_t count = 0;
    for (std::uint64_t i = next_[p]; i <= last_index() && count < 64; ++i) {
      if (w.size() + 12 + log_[i].command.size() > max_message) break;
      w.u64(log_[i].term);
      w.bytes(log_[i].command);
      ++count;
    }
    std::memcpy(out_.data() + count_pos, &count, 4);
    send(cfg_.peers[p]);
  }
  void replicate_all() {
    for (std::uint32_t p = 0; p < cfg_.peers.size(); ++p) {
      if (p != cfg_.id) replicate(p);
    }
  }

  // ---- commit and apply ------------------------------------------------------------------
  void advance_commit() {
    for (std::uint64_t n = last_index(); n > commit_; --n) {
      // Only an entry of the leader's own term is committed by counting (Raft §5.4.2).
      if (log_[n].term != current_term_ && !cfg_.bug.commit_old_term) break;
      std::size_t replicas = 1;
      for (std::uint32_t p = 0; p < cfg_.peers.size(); ++p) {
        if (p != cfg_.id && match_[p] >= n) ++replicas;
      }
      if (replicas >= majority()) {
        commit_ = n;
        break;
      }
    }
    apply();
  }
  void apply() {
    while (applied_ < commit_) {
      ++applied_;
      std::string reply = machine_.apply(log_[applied_].command);
      if (auto it = local_waiters_.find(applied_); it != local_waiters_.end()) {
        const bool ours = it->second.term == log_[applied_].term;
        (void)it->second.tx.send(ours ? outcome{true, reply, leader_} : outcome{false, {}, leader_});
        local_waiters_.erase(it);
      }
      if (auto it = remote_waiters_.find(applied_); it != remote_waiters_.end()) {
        const bool ours = it->second.term == log_[applied_].term;
        reply_client(it->second.from, it->second.request, ours, ours ? reply : std::string());
        remote_waiters_.erase(it);
      }
    }
  }
  void fail_waiters() {
    for (auto& [index, w] : local_waiters_) (void)w.tx.send(outcome{false, {}, no_node});
    local_waiters_.clear();
    for (auto& [index, w] : remote_waiters_) reply_client(w.from, w.request, false, {});
    remote_waiters_.clear();
  }
  void reply_client(const corio::net::socket_address& to, std::uint64_t request, bool ok,
                    std::string_view reply) {
    writer w(out_);
    header(w, msg_type::client_reply);
    w.u64(request);
    w.u8(ok ? 1 : 0);
    w.u32(leader_);
    w.bytes(reply);
    send(to);
  }

  // ---- receiving -------------------------------------------------------------------------
  corio::task<> receive_loop() {
    std::vector<std::byte> buf(max_message + 1024);
    for (;;) {
      auto got = co_await socket_.recv_from(buf);
      if (!got) {
        if (got.error() == std::errc::operation_canceled) co_return;
        continue;  // e.g. ICMP-reported refusals on a real socket: the peer is down, go on
      }
      handle(std::span<const std::byte>(buf.data(), got->first), got->second);
    }
  }

  corio::task<> tick_loop() {
    for (;;) {
      auto slept = co_await corio::sleep_for(cfg_.tick);
      if (!slept) co_return;
      on_tick();
    }
  }

  void on_tick() {
    if (role_ == role::leader) {
      if (++heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
        heartbeat_elapsed_ = 0;
        replicate_all();
      }
      return;
    }
    if (++elapsed_ >= timeout_) start_election();
  }

  void handle(std::span<const std::byte> bytes, const corio::net::socket_address& from) {
    reader r(bytes);
    const auto type = static_cast<msg_type>(r.u8());
    const std::uint32_t sender = r.u32();
    const std::uint64_t term = r.u64();
    if (!r.ok()) return;
    if (type == msg_type::client_request) {
      on_client_request(r, from);
      return;
    }
    if (sender >= cfg_.peers.size() || sender == cfg_.id) return;
    if (term > current_term_) {
      step_down(term);
      leader_ = no_node;
    }
    switch (type) {
      case msg_type::vote_request: on_vote_request(r, sender, term); break;
      case msg_type::vote_reply: on_vote_reply(r, sender, term); break;
      case msg_type::append_request: on_append_request(r, sender, term); break;
      case msg_type::append_reply: on_append_reply(r, sender, term); break;
      default: break;
    }
  }

  void on_vote_request(reader& r, std::uint32_t candidate, std::uint64_t term) {
    const std::uint64_t their_last_index = r.u64();
    const std::uint64_t their_last_term = r.u64();
    if (!r.ok()) return;
    const bool up_to_date =
        their_last_term > last_term() ||
        (their_last_term == last_term() && their_last_index >= last_index());
    bool granted = false;
    if (term == current_term_ && (voted_for_ == no_node || voted_for_ == candidate) &&
        (up_to_date || cfg_.bug.vote_without_log_check)) {
      granted = true;
      voted_for_ = candidate;
      save_meta();
      reset_election_timer();
    }
    sync();
    writer w(out_);
    header(w, msg_type::vote_reply);
    w.u8(granted ? 1 : 0);
    send(cfg_.peers[candidate]);
  }

  void on_vote_reply(reader& r, std::uint32_t voter, std::uint64_t term) {
    const bool granted = r.u8() != 0;
    if (!r.ok() || role_ != role::candidate || term != current_term_ || !granted) return;
    // Counted once per voter: the network may deliver a reply twice.
    if (voters_[voter]) return;
    voters_[voter] = true;
    if (++votes_ >= majority()) become_leader();
  }

  void on_append_request(reader& r, std::uint32_t from, std::uint64_t term) {
    const std::uint64_t prev = r.u64();
    const std::uint64_t prev_term = r.u64();
    const std::uint64_t leader_commit = r.u64();
    const std::string_view client_address = r.bytes();
    const std::uint32_t count = r.u32();
    if (!r.ok()) return;
    bool success = false;
    std::uint64_t match = 0;
    if (term == current_term_) {
      if (role_ != role::follower) step_down(term);
      leader_ = from;
      if (client_address != leader_client_) leader_client_.assign(client_address);
      reset_election_timer();
      if (prev <= last_index() && log_[prev].term == prev_term) {
        std::uint64_t index = prev;
        bool ok = true;
        for (std::uint32_t i = 0; i < count; ++i) {
          const std::uint64_t t = r.u64();
          const std::string_view cmd = r.bytes();
          if (!r.ok()) {
            ok = false;
            break;
          }
          ++index;
          if (index <= last_index()) {
            if (log_[index].term == t) continue;  // already there (a duplicate or a retry)
            truncate_from(index);
          }
          log_.push_back({t, std::string(cmd)});
          persist_entry(log_.back());
          ++log_version_;
        }
        if (ok) {
          success = true;
          match = index;
          // Only what this append proved to match the leader's log may be committed.
          commit_ = std::max(commit_, std::min(leader_commit, index));
        }
      } else {
        match = std::min(last_index(), prev == 0 ? 0 : prev - 1);  // where to try next
      }
    }
    sync();
    writer w(out_);
    header(w, msg_type::append_reply);
    w.u8(success ? 1 : 0);
    w.u64(match);
    send(cfg_.peers[from]);
    apply();
  }

  void on_append_reply(reader& r, std::uint32_t from, std::uint64_t term) {
    const bool success = r.u8() != 0;
    const std::uint64_t match = r.u64();
    if (!r.ok() || role_ != role::leader || term != current_term_) return;
    if (success) {
      if (match > match_[from]) match_[from] = std::min(match, last_index());
      next_[from] = std::max(next_[from], match_[from] + 1);
      advance_commit();
      if (next_[from] <= last_index()) replicate(from);
    } else {
      next_[from] = std::max<std::uint64_t>(1, std::min(next_[from] - 1, match + 1));
      replicate(from);
    }
  }

  void on_client_request(reader& r, const corio::net::socket_address& from) {
    const std::uint64_t request = r.u64();
    const std::string_view command = r.bytes();
    if (!r.ok()) return;
    if (role_ != role::leader) {
      reply_client(from, request, false, {});
      return;
    }
    const std::uint64_t index = append_local(std::string(command));
    remote_waiters_[index] = remote_waiter{current_term_, from, request};
    replicate_all();
  }

  config cfg_;
  storage& store_;
  std::uint64_t random_;
  typename Net::udp_socket socket_;

  // Persistent (storage): term, vote, log.
  std::uint64_t current_term_ = 0;
  std::uint32_t voted_for_ = no_node;
  std::vector<entry> log_;
  std::vector<std::size_t> offsets_;  // offsets_[i]: where entry i ends in the log file

  // Volatile.
  enum role role_ = role::follower;
  std::uint32_t leader_ = no_node;
  std::string leader_client_;
  std::uint64_t commit_ = 0;
  std::uint64_t applied_ = 0;
  int elapsed_ = 0;
  int timeout_ = 0;
  int heartbeat_elapsed_ = 0;
  std::size_t votes_ = 0;
  std::vector<bool> voters_;
  std::vector<std::uint64_t> next_;
  std::vector<std::uint64_t> match_;
  kv_machine machine_;
  std::map<std::uint64_t, waiter> local_waiters_;
  std::map<std::uint64_t, remote_waiter> remote_waiters_;
  bool truncated_committed_ = false;
  std::uint64_t log_version_ = 0;

  std::string out_;     // the message being sent; its capacity is kept
  std::string record_;  // the log record being written
};

}  // namespace raft
