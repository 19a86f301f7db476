// Raft's safety properties, checked after every step of a simulated run:
//   election safety     at most one leader per term;
//   log matching        two logs with an entry of the same index and term agree up to it;
//   leader completeness a leader of term T holds every entry committed in a term before T;
//   state-machine safety no two nodes commit (and so apply) different entries at one index,
//                        and nobody overwrites an entry it counted as committed.
// Cheap enough for every step: committed prefixes are compared once against one global log,
// so log matching only has to look at the uncommitted tails.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "node.hpp"

namespace raft {

template <class Node>
class checker {
 public:
  struct slot {
    const Node* node = nullptr;
    std::uint64_t incarnation = 0;  // a restarted node starts its checks afresh
  };

  explicit checker(std::size_t nodes) : seen_(nodes) {}

  const std::string& failure() const noexcept { return failure_; }

  // Returns false on the first violation (see failure()).
  bool check(const std::vector<slot>& nodes) {
    bool logs_changed = false;
    for (std::size_t i = 0; i < nodes.size() && failure_.empty(); ++i) {
      if (!nodes[i].node) continue;
      const Node& n = *nodes[i].node;
      seen& s = seen_[i];
      if (s.incarnation != nodes[i].incarnation) s = seen{nodes[i].incarnation};
      if (n.log_version() != s.log_version) {
        s.log_version = n.log_version();
        logs_changed = true;
      }
      check_node(i, n, s);
    }
    if (logs_changed && failure_.empty()) check_log_matching(nodes);
    return failure_.empty();
  }

  // The whole of every log, pairwise: for the end of a run.
  bool check_all(const std::vector<slot>& nodes) {
    full_ = true;
    check_log_matching(nodes);
    full_ = false;
    return failure_.empty();
  }

  std::size_t committed() const noexcept { return committed_.size(); }

 private:
  struct seen {
    std::uint64_t incarnation = 0;
    std::uint64_t commit_checked = 0;
    std::uint64_t leader_term = 0;
    std::uint64_t log_version = ~0ull;
  };

  void fail(std::string what) {
    if (failure_.empty()) failure_ = std::move(what);
  }

  void check_node(std::size_t i, const Node& n, seen& s) {
    const auto& log = n.log();
    if (n.truncated_committed()) {
      fail("state-machine safety: node " + std::to_string(i) + " overwrote a committed entry");
      return;
    }
    if (n.role() == role::leader) {
      auto [it, fresh] = leaders_.emplace(n.term(), n.id());
      if (!fresh && it->second != n.id()) {
        fail("election safety: nodes " + std::to_string(it->second) + " and " +
             std::to_string(n.id()) + " both lead term " + std::to_string(n.term()));
        return;
      }
      if (s.leader_term != n.term()) {
        s.leader_term = n.term();
        for (std::size_t k = 1; k < committed_.size(); ++k) {
          if (committed_term_[k] >= n.term()) continue;
          if (k >= log.size() || log[k].term != committed_[k].term ||
              log[k].command != committed_[k].command) {
            fail("leader completeness: node " + std::to_string(i) + " leads term " +
                 std::to_string(n.term()) + " without committed entry " + std::to_string(k));
            return;
          }
        }
      }
    }
    if (n.last_applied() > n.commit_index() || n.commit_index() >= log.size()) {
      fail("node " + std::to_string(i) + " applied " + std::to_string(n.last_applied()) +
           " or committed " + std::to_string(n.commit_index()) + " past its log's end " +
           std::to_string(log.size() - 1));
      return;
    }
    for (std::uint64_t k = s.commit_checked + 1; k <= n.commit_index(); ++k) {
      if (committed_.empty()) {
        committed_.push_back({});
        committed_term_.push_back(0);
      }
      if (k < committed_.size()) {
        if (committed_[k].term != log[k].term || committed_[k].command != log[k].command) {
          fail("state-machine safety: node " + std::to_string(i) + " committed a different entry " +
               std::to_string(k) + " (term " + std::to_string(log[k].term) + " vs " +
               std::to_string(committed_[k].term) + ")");
          return;
        }
      } else {
        committed_.push_back(log[k]);
        committed_term_.push_back(n.term());
      }
    }
    s.commit_checked = std::max(s.commit_checked, n.commit_index());
  }

  void check_log_matching(const std::vector<slot>& nodes) {
    for (std::size_t a = 0; a < nodes.size(); ++a) {
      for (std::size_t b = a + 1; b < nodes.size(); ++b) {
        if (!nodes[a].node || !nodes[b].node) continue;
        const auto& la = nodes[a].node->log();
        const auto& lb = nodes[b].node->log();
        // Below both commit indexes the logs were compared with the global one already.
        std::uint64_t lo = full_ ? 0 : std::min(nodes[a].node->commit_index(), nodes[b].node->commit_index());
        const std::uint64_t hi = std::min(la.size(), lb.size()) - 1;
        std::uint64_t j = hi;
        while (j > lo && la[j].term != lb[j].term) --j;
        for (std::uint64_t k = lo + 1; k <= j; ++k) {
          if (la[k].term != lb[k].term || la[k].command != lb[k].command) {
            fail("log matching: nodes " + std::to_string(a) + " and " + std::to_string(b) +
                 " agree at " + std::to_string(j) + " but differ at " + std::to_string(k));
            return;
          }
        }
      }
    }
  }

  std::vector<seen> seen_;
  std::map<std::uint64_t, std::uint32_t> leaders_;  // term → its leader
  std::vector<entry> committed_;                    // index 0: the sentinel
  std::vector<std::uint64_t> committed_term_;       // a term in which each was seen committed
  std::string failure_;
  bool full_ = false;
};

}  // namespace raft
