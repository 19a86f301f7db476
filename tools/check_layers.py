#!/usr/bin/env python3
"""Fails when a file in a lower layer of lib/ includes a higher layer's headers.

The layers, lowest first (docs: ARCHITECTURE.md, "Layers"):

    os < reactor, completion < driver < callback | executor < awaitables < sim

callback and executor sit side by side: neither may include the other. The awaitables are the
folders net, sync, time, signal, io, resolve and tls; they may include each other. A lib/
header is named by its folder ("reactor/backend.hpp"); a public header (<corio/...>) by the
layer that implements it (PUBLIC below); a public header not listed counts as an awaitable,
so a new one is checked from the start rather than waved through.

Usage: python3 tools/check_layers.py [repository root]. Exit 0 when clean; 1 with one line per
offending include (file:line: which include, and why) otherwise.
"""
import pathlib
import re
import sys

AWAITABLES = ("net", "sync", "time", "signal", "io", "resolve", "tls")

# layer -> (rank, group): an include is allowed into the same group or any lower rank.
LAYERS = {"os": (0, "os"), "reactor": (1, "reactor"), "completion": (1, "reactor"),
          "driver": (2, "driver"), "callback": (3, "callback"), "executor": (3, "executor"),
          "sim": (5, "sim")}
LAYERS.update({name: (4, "awaitables") for name in AWAITABLES})

# Public headers (paths under include/corio/, as regular expressions) and their layer.
PUBLIC = [
    (r"(error|reactor|unique_fd)\.hpp|net/.*|detail/(io_request|timer_node)\.hpp", "os"),
    (r"signal\.hpp", "driver"),  # signal_info: the driver makes these records
    (r"event_loop\.hpp|detail/loop_core\.hpp", "callback"),
    (r"(task|runtime|when|diagnostics)\.hpp|detail/(executor|frame_pool|io_awaiter|task_stop|task_trace)\.hpp",
     "executor"),
    (r"sim(/.*|\.hpp)", "sim"),
    (r"corio\.hpp", "sim"),  # the umbrella includes everything
]

# Folders of lib/ that belong to no layer (their files are the library's own glue).
UNLAYERED = {"", "."}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def public_layer(path):
    for pattern, layer in PUBLIC:
        if re.fullmatch(pattern, path):
            return layer
    return "net"  # an awaitable


def included_layer(kind, name):
    if kind == "<":
        if not name.startswith("corio/"):
            return None  # std, OS, third-party, the build's own config headers
        return public_layer(name[len("corio/"):])
    folder = name.split("/", 1)[0] if "/" in name else ""
    return folder if folder in LAYERS else None


def allowed(own, other):
    own_rank, own_group = LAYERS[own]
    other_rank, other_group = LAYERS[other]
    return own_group == other_group or other_rank < own_rank


def check(root):
    lib = root / "lib"
    problems = []
    for path in sorted(lib.rglob("*")):
        if path.suffix not in (".hpp", ".cpp", ".h", ".cc", ".ipp"):
            continue
        folder = path.relative_to(lib).parts[0] if len(path.relative_to(lib).parts) > 1 else ""
        if folder in UNLAYERED or folder not in LAYERS:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            other = included_layer(match.group(1), match.group(2))
            if other is None or allowed(folder, other):
                continue
            spelled = ("<%s>" if match.group(1) == "<" else '"%s"') % match.group(2)
            problems.append("%s:%d: includes %s: layer %s may not include layer %s" %
                            (path.relative_to(root), number, spelled, folder, other))
    return problems


def main(argv):
    root = pathlib.Path(argv[1] if len(argv) > 1 else pathlib.Path(__file__).parent.parent)
    problems = check(root.resolve())
    for p in problems:
        print(p)
    if problems:
        print("check_layers: %d include(s) cross a layer upwards" % len(problems))
        return 1
    print("check_layers: lib/ includes only its own and lower layers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
