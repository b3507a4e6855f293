#!/usr/bin/env python3
"""Every headline figure of docs/benchmarks.md, one JSON object per line, so that two commits
can be compared on one machine:

    bench/headline.py [--build DIR] [--quick] [--only local,remote,durable,http]

Runs the benchmark programs of a Release build (default: build/) and reads their lines:
local (single_node_bench), remote (remote_bench: two processes over 127.0.0.1), durable
(persistence_bench on a SQLite file in a temporary directory) and HTTP (http_bench, which needs
wrk). Each line is {"figure", "value", "unit", "bench", "commit", "cores", "quick"}. A figure a
program did not print is an error (exit 1): a figure that silently disappears is a regression
too. --quick runs each program's short mode (for a check that this keeps working, not for
figures).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

NUMBER = r"([0-9]+(?:\.[0-9]+)?)"

# (bench, figure, unit, regular expression whose first group is the value)
FIGURES = [
    ("local", "activations_per_s", "1/s", r"^activation: .* = " + NUMBER + r" activations/s"),
    ("local", "hot_call_p50_us", "us", r"^hot call, 1 blocking caller.*: p50 " + NUMBER + " us"),
    ("local", "hot_call_p99_us", "us", r"^hot call, 1 blocking caller.*, p99 " + NUMBER + " us"),
    ("local", "hot_call_1_caller_per_s", "1/s",
     r"^hot call, 1 blocking caller.*us, " + NUMBER + " calls/s"),
    ("local", "hot_call_64_callers_per_s", "1/s",
     r"^hot call, 64 blocking callers.*: " + NUMBER + " calls/s"),
    ("local", "async_calls_per_s", "1/s", r"^async_call, .*: " + NUMBER + " calls/s"),
    ("local", "casts_per_s", "1/s", r"^cast through the pool.*: " + NUMBER + " casts/s"),
    ("local", "bytes_per_idle_actor", "B", r"^memory: .* = " + NUMBER + " bytes per actor"),
    ("remote", "tcp_ping_pong_p50_us", "us", r"^floor: .*: p50 " + NUMBER + " us"),
    ("remote", "remote_call_p50_us", "us", r"^remote call, 1 blocking caller: p50 " + NUMBER),
    ("remote", "remote_call_p99_us", "us", r"^remote call, 1 blocking caller: .*, p99 " + NUMBER),
    ("remote", "tcp_64_callers_per_s", "1/s",
     r"^wire: raw TCP, 64 blocking callers.*: " + NUMBER + " round trips/s"),
    ("remote", "tcp_64_callers_cpu_us", "us",
     r"^wire: raw TCP, 64 blocking callers.*, " + NUMBER + " us CPU per round trip"),
    ("remote", "remote_calls_64_callers_per_s", "1/s",
     r"^remote calls, 64 blocking callers: " + NUMBER + " calls/s"),
    ("remote", "remote_calls_64_callers_cpu_us", "us",
     r"^remote calls, 64 blocking callers: .*, " + NUMBER + " us CPU per call"),
    ("remote", "tcp_echo_ceiling_per_s", "1/s", r"^ceiling: .*: " + NUMBER + " messages/s"),
    ("remote", "remote_pipelined_per_s", "1/s", r"^pipelined async_call, .*: " + NUMBER + " calls/s"),
    ("remote", "remote_pipelined_cpu_us", "us",
     r"^pipelined async_call, .*, " + NUMBER + " us CPU per call"),
    ("remote", "idle_caller_cpu_percent", "%",
     r"^idle: .*: " + NUMBER + "% and [0-9.]+% of a core"),
    ("remote", "idle_owner_cpu_percent", "%", r"^idle: .*% and " + NUMBER + "% of a core"),
    ("remote", "idle_owner_wakeups_per_s", "1/s",
     r"^idle: .*, [0-9.]+ and " + NUMBER + " wake-ups/s"),
    ("durable", "sqlite_durable_calls_64_callers_per_s", "1/s",
     r"^durable calls \(after_each_message\), 64 blocking callers.*: " + NUMBER + " calls/s"),
    ("durable", "sqlite_durable_cpu_us", "us",
     r"^durable calls \(after_each_message\), 64 blocking callers.*, " + NUMBER +
     " us CPU per call"),
    ("durable", "sqlite_durable_call_p50_us", "us",
     r"^durable call, 1 blocking caller: p50 " + NUMBER + " us"),
    ("durable", "sqlite_activations_per_s", "1/s",
     r"^persistent activation, .*\(load\) " + NUMBER + " activations/s"),
    ("http", "http_calls_64_connections_per_s", "1/s",
     r"^HTTP via wrk, 64 connection\(s\): calls/s " + NUMBER),
    ("http", "http_call_1_connection_p50_ms", "ms",
     r"^HTTP via wrk,  1 connection\(s\): calls/s [0-9.]+ p50_ms " + NUMBER),
]


def run(command, timeout):
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        sys.exit(f"headline: {' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def outputs(build, which, quick):
    def program(name):
        path = os.path.join(build, "bench", name)
        if not os.access(path, os.X_OK):
            sys.exit(f"headline: {path} is missing: build the benchmarks (Release) first")
        return path

    flag = ["--quick"] if quick else []
    if "local" in which:
        yield "local", run([program("single_node_bench"), "all"] + flag, 600)
    if "remote" in which:
        yield "remote", run([program("remote_bench")] + flag, 600)
    if "durable" in which:
        with tempfile.TemporaryDirectory(prefix="mesh-headline-") as directory:
            store = "sqlite:" + os.path.join(directory, "bench.db")
            yield "durable", run([program("persistence_bench"), store, "all"] + flag, 900)
    if "http" in which:
        # seconds per run, rounds
        args = ["1", "1"] if quick else ["5", "1"]
        yield "http", run([program("http_bench")] + args, 600)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="local,remote,durable,http")
    args = parser.parse_args()
    which = set(args.only.split(","))
    unknown = which - {"local", "remote", "durable", "http"}
    if unknown:
        sys.exit(f"headline: --only takes local, remote, durable, http; not {sorted(unknown)}")
    # The commit of the sources the build was made from (its CMakeCache says where they are),
    # so that runs of two builds side by side are labelled by what they measure.
    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        with open(os.path.join(args.build, "CMakeCache.txt")) as cache:
            for line in cache:
                if line.startswith("CMAKE_HOME_DIRECTORY:INTERNAL="):
                    source = line.split("=", 1)[1].strip()
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=source).stdout.strip()
    missing = []
    for bench, text in outputs(args.build, which, args.quick):
        for figure_bench, figure, unit, pattern in FIGURES:
            if figure_bench != bench:
                continue
            found = re.search(pattern, text, re.MULTILINE)
            if not found:
                missing.append(figure)
                continue
            print(json.dumps({"figure": figure, "value": float(found.group(1)), "unit": unit,
                              "bench": bench, "commit": commit or None,
                              "cores": os.cpu_count(), "quick": args.quick}), flush=True)
    if missing:
        sys.exit(f"headline: no figure printed for {', '.join(missing)}")


if __name__ == "__main__":
    main()
