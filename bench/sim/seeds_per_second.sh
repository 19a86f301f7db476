#!/bin/sh
# Seeds per second of raft_sim: a 5-node cluster, each seed >= 10 s of virtual time with drops,
# partitions and crashes (then healed and checked for liveness). Both cores: two processes over
# disjoint seed ranges. Build with -Dbuildtype=release for the number that counts.
#
#   bench/sim/seeds_per_second.sh build-release/examples/raft/raft_sim [SEEDS]
set -eu
exe=${1:?usage: seeds_per_second.sh path/to/raft_sim [seeds]}
seeds=${2:-10000}
half=$((seeds / 2))
start=$(date +%s.%N)
"$exe" --seeds "$half" --first-seed 1 --nodes 5 --virtual-seconds 10 > /tmp/raft_sim_bench.$$.1 &
a=$!
"$exe" --seeds $((seeds - half)) --first-seed $((half + 1)) --nodes 5 --virtual-seconds 10 \
  > /tmp/raft_sim_bench.$$.2 &
b=$!
status=0
wait $a || status=1
wait $b || status=1
end=$(date +%s.%N)
tail -n 1 /tmp/raft_sim_bench.$$.1 /tmp/raft_sim_bench.$$.2
grep -h FAILED /tmp/raft_sim_bench.$$.1 /tmp/raft_sim_bench.$$.2 || true
rm -f /tmp/raft_sim_bench.$$.1 /tmp/raft_sim_bench.$$.2
awk -v s="$seeds" -v t0="$start" -v t1="$end" \
  'BEGIN { printf "%d seeds in %.1f s wall: %.0f seeds/s (two processes)\n", s, t1 - t0, s / (t1 - t0) }'
exit $status
