#!/usr/bin/env python3
"""Runs the README's HTTP client examples exactly as written (the code blocks after
`<!-- run: http-python -->` and `<!-- run: http-js -->`) against the cluster with_cluster.py
started, from the repository's root, and checks what they print."""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def block(readme, marker):
    match = re.search(r"<!-- run: " + marker + r" -->\n```\w+\n(.*?)```", readme, re.S)
    if not match:
        sys.exit(f"README.md has no block marked {marker}")
    return match.group(1)


def main():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    env = dict(os.environ, MESH_URL=os.environ["MESH_HTTP_URLS"].split(",")[0])
    runs = {
        "http-python": ["python3", "-c", block(readme, "http-python")],
        "http-js": ["node", "--input-type=module", "-e", block(readme, "http-js")],
    }
    failed = False
    for name, command in runs.items():
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=60)
        out = result.stdout
        ok = (result.returncode == 0 and re.search(r"^Score: 1, PID: \S+\.\d+$", out, re.M)
              and re.search(r"^failed: no_nodes: ", out, re.M) and "active" in out)
        print(f"--- {name}: {'ok' if ok else 'FAILED'}\n{out}{result.stderr}")
        failed |= not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
