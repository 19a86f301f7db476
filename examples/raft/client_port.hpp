// The client port of a real raft_node: kv_server's RESP subset (PING, GET, SET, DEL, INCR) and
// ROLE, parsed with examples/kv's request parser. Writes (and GETs, which go through the log
// too, so a read never returns a value a newer leader overwrote) answer once committed; a
// follower answers -NOTLEADER with the leader's client address, or -NOTLEADER unknown.
#pragma once

#include <corio/sim.hpp>
#include <corio/task.hpp>
#include <corio/tcp.hpp>

#include "node.hpp"

namespace raft {

corio::task<> serve_client(corio::tcp_stream stream, node<corio::real_network>& n);

}  // namespace raft
