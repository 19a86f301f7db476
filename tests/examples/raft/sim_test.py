#!/usr/bin/env python3
"""raft_sim's contract:
  sweep SEEDS      every seed passes (a bounded CI sweep);
  bug NAME BUDGET  with the bug planted, some seed within BUDGET fails, and the failure names its
                   seed and a replay command; replaying it fails again with the identical trace;
  replay SEED      two runs of one seed print identical traces.
usage: sim_test.py MODE ARGS... -- path/to/raft_sim
"""
import re
import subprocess
import sys


def run(exe, args, env=None, timeout=300):
    import os
    e = dict(os.environ)
    e.pop("CORIO_SIM_SEED", None)
    e.update(env or {})
    return subprocess.run([exe] + args, capture_output=True, text=True, timeout=timeout, env=e)


def main():
    argv = sys.argv[1:]
    exe = argv[-1]
    mode, args = argv[0], argv[1:argv.index("--")]
    if mode == "sweep":
        r = run(exe, ["--seeds", args[0], "--keep-going"])
        print(r.stdout[-2000:])
        assert r.returncode == 0, "a seed failed:\n" + r.stdout[-4000:]
        assert f"{args[0]} seeds" in r.stdout and " 0 failed" in r.stdout
        return 0
    if mode == "bug":
        name, budget = args
        r = run(exe, ["--seeds", budget, "--bug", name])
        print(r.stdout[-2000:])
        assert r.returncode == 1, f"--bug {name}: no seed of {budget} found it"
        m = re.search(r"seed (\d+) FAILED: (.*)\nreplay: CORIO_SIM_SEED=(\d+) (raft_sim .*)", r.stdout)
        assert m and m.group(1) == m.group(3), "no replayable seed printed"
        seed = m.group(1)
        flags = m.group(4).split()[1:]
        one = run(exe, flags, env={"CORIO_SIM_SEED": seed})
        two = run(exe, flags, env={"CORIO_SIM_SEED": seed})
        assert one.returncode == 1 and m.group(2) in one.stdout, "the replay did not fail the same way"
        strip = lambda s: re.sub(r", [0-9.]+ s, [0-9]+ seeds/s", "", s)
        assert strip(one.stdout) == strip(two.stdout), "two replays differ"
        print(f"--bug {name}: found by seed {seed}: {m.group(2)}")
        return 0
    if mode == "replay":
        one = run(exe, [], env={"CORIO_SIM_SEED": args[0]})
        two = run(exe, [], env={"CORIO_SIM_SEED": args[0]})
        strip = lambda s: re.sub(r", [0-9.]+ s, [0-9]+ seeds/s", "", s)
        assert one.returncode == 0, one.stdout[-3000:]
        assert one.stdout.count("\n") > 1000, "the trace is suspiciously short"
        for kind in ("deliver", "drop", "timer", "crash", "restart", "heal"):
            assert kind in one.stdout, f"no {kind} in the trace"
        assert strip(one.stdout) == strip(two.stdout), "two runs of one seed differ"
        print(f"seed {args[0]}: {one.stdout.count(chr(10))} trace lines, identical twice")
        return 0
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main())
