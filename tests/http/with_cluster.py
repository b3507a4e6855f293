#!/usr/bin/env python3
"""Starts a 3-node cluster of mesh_node processes with the HTTP gateway on, runs a command
against it, stops the nodes it started (by PID) and exits with the command's status.

    with_cluster.py MESH_NODE [--token T] -- COMMAND...

The command gets MESH_HTTP_URLS ("http://h:p,http://h:p,http://h:p") and, with --token,
MESH_HTTP_TOKEN. Every wait is bounded; ports are ephemeral on 127.0.0.1.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

READY_WITHIN = 10.0
MEMBERS_WITHIN = 10.0
STOP_WITHIN = 10.0
COMMAND_WITHIN = 120.0


def start_node(binary, name, seeds, token, log):
    args = [binary, "--name", name, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
            "--capabilities", "game,chat", "--cookie", "http-test", "--quiet",
            "--heartbeat-ms", "50", "--failure-timeout-ms", "500"]
    for seed in seeds:
        args += ["--seed", seed]
    env = dict(os.environ)
    env.pop("MESH_HTTP_TOKEN", None)
    if token:
        env["MESH_HTTP_TOKEN"] = token  # the node program's default for --http-token
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    deadline = time.monotonic() + READY_WITHIN
    os.set_blocking(process.stdout.fileno(), False)
    line = ""
    while not line.endswith("\n"):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError(f"node {name} did not start")
        chunk = process.stdout.readline()
        line += chunk or ""
        if not chunk:
            time.sleep(0.01)
    words = line.split()
    if len(words) != 4 or words[0] != "ready":
        process.kill()
        raise RuntimeError(f"node {name}: unexpected first line {line!r}")
    return process, words[2], "http://" + words[3]


def wait_for_members(url, token, count):
    deadline = time.monotonic() + MEMBERS_WITHIN
    while time.monotonic() < deadline:
        request = urllib.request.Request(url + "/v1/capabilities")
        if token:
            request.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if len(json.load(response)["capabilities"].get("game", [])) == count:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not see {count} nodes within {MEMBERS_WITHIN} s")


def stop(processes):
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_WITHIN
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main():
    argv = sys.argv[1:]
    if "--" not in argv or not argv:
        sys.exit(__doc__)
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    binary, token = options[0], None
    if "--token" in options:
        token = options[options.index("--token") + 1]
    processes = []
    log = tempfile.NamedTemporaryFile("w+", prefix="mesh_http_cluster_", suffix=".log")
    try:
        first, listen, url = start_node(binary, "a", [], token, log)
        processes.append(first)
        urls = [url]
        for name in ("b", "c"):
            process, _, node_url = start_node(binary, name, [listen], token, log)
            processes.append(process)
            urls.append(node_url)
        for node_url in urls:
            wait_for_members(node_url, token, 3)
        env = dict(os.environ, MESH_HTTP_URLS=",".join(urls))
        env.pop("MESH_HTTP_TOKEN", None)
        if token:
            env["MESH_HTTP_TOKEN"] = token
        result = subprocess.run(command, env=env, timeout=COMMAND_WITHIN)
        status = result.returncode
    finally:
        stop(processes)
    if status != 0:
        log.seek(0)
        sys.stderr.write("--- node logs ---\n" + log.read())
    sys.exit(status)


if __name__ == "__main__":
    main()
