#!/usr/bin/env python3
"""Runs every `$ ` command of docs/http-api.md's sh blocks against the node the page describes
(mesh_node --name node-a --capabilities game --http-token s3cret, ephemeral ports) and checks
that each prints exactly the lines under it.

    doc_examples.py MESH_NODE DOC
"""
import os
import re
import signal
import subprocess
import sys
import time


def examples(text):
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        command, expected = None, []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command:
                    yield command, expected
                command, expected = line[2:], []
            elif command is not None:
                expected.append(line)
        if command:
            yield command, expected


def main():
    binary, doc = sys.argv[1], sys.argv[2]
    node = subprocess.Popen(
        [binary, "--name", "node-a", "--listen", "127.0.0.1:0", "--capabilities", "game",
         "--http", "127.0.0.1:0", "--http-token", "s3cret", "--quiet"],
        stdout=subprocess.PIPE, text=True)
    failures = 0
    try:
        os.set_blocking(node.stdout.fileno(), False)
        line, deadline = "", time.monotonic() + 10
        while not line.endswith("\n"):
            if time.monotonic() > deadline or node.poll() is not None:
                sys.exit("the node did not start")
            line += node.stdout.readline() or ""
            time.sleep(0.01)
        env = dict(os.environ, MESH="http://" + line.split()[3], TOKEN="s3cret")
        with open(doc, encoding="utf-8") as f:
            cases = list(examples(f.read()))
        if len(cases) < 10:
            sys.exit(f"only {len(cases)} examples found in {doc}")
        for command, expected in cases:
            result = subprocess.run(["bash", "-c", command], env=env, capture_output=True,
                                    text=True, timeout=30)
            got = result.stdout.rstrip("\n").split("\n")
            if got != expected:
                failures += 1
                print(f"FAILED: {command}\n  expected: {expected}\n  got:      {got}")
            else:
                print(f"ok: {command[:100]}")
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
