#!/usr/bin/env python3
"""The dashboard (GET /) in headless Chromium against a 3-node cluster of mesh_node processes.

    dashboard_test.py MESH_NODE CHROMIUM OUTPUT_DIR

Starts nodes a, b, c with an HTTP token, opens node a's page in Chromium driven over the DevTools
protocol (a minimal WebSocket client below: standard library only), signs in through the form
(a wrong token first), waits for the shard grid, and checks the DOM against the JSON routes:
every node's row, every shard cell's owner as GET /v1/shards/game says. Then it stops node c by
its PID and checks that the page shows c gone and its shards owned by a and b, starts node d
and checks that the page shows it and its shards, and signs out.
Screenshots go to OUTPUT_DIR (dashboard.png with the 3 nodes, dashboard-after.png once c left).
Every wait is bounded; any failure exits non-zero with the node logs.
"""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import with_cluster  # noqa: E402  (start_node, wait_for_members, stop)

TOKEN = "dashboard-test-token"
BROWSER_WITHIN = 30.0     # Chromium up and its page target listed
PROTOCOL_WITHIN = 10.0    # one DevTools command answered
PAGE_WITHIN = 30.0        # a page condition holds (login form, grid drawn, DOM = API)
LEAVE_WITHIN = 30.0       # the page shows a stopped node gone, or a new one
VIEWPORT = (1280, 800)


class Failure(Exception):
    pass


# ---- a minimal WebSocket client (RFC 6455), enough for the DevTools protocol -------------------
class WebSocket:
    def __init__(self, url, timeout):
        assert url.startswith("ws://"), url
        host_port, _, path = url[len("ws://"):].partition("/")
        host, _, port = host_port.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise Failure(f"WebSocket handshake refused: {head[:200]!r}")

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise Failure("the browser closed the DevTools connection")
        self.buffer += chunk

    def _take(self, n):
        while len(self.buffer) < n:
            self._fill()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def send(self, text):
        payload = text.encode()
        header = bytes([0x81])  # FIN, text
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)  # a client masks every frame
        repeated = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")
        self.sock.sendall(header + mask + masked)

    # One whole message (continuation frames joined); pings answered.
    def receive(self, deadline):
        message = b""
        while True:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                first, second = self._take(2)
            except socket.timeout:
                raise Failure("no DevTools message in time")
            opcode, n = first & 0x0F, second & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._take(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._take(8))[0]
            mask = self._take(4) if second & 0x80 else None
            payload = self._take(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise Failure("the browser closed the DevTools connection")
            if opcode == 0x9:
                continue  # Chromium does not ping; nothing to answer for a one-shot test
            message += payload
            if first & 0x80:
                return message.decode()

    def close(self):
        self.sock.close()


class DevTools:
    """Commands to one page target; events are read and dropped."""

    def __init__(self, ws_url):
        self.ws = WebSocket(ws_url, PROTOCOL_WITHIN)
        self.next_id = 0

    def command(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + PROTOCOL_WITHIN
        while True:
            message = json.loads(self.ws.receive(deadline))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise Failure(f"{method}: {message['error']}")
                return message["result"]

    # The value of a JavaScript expression in the page; raises on an exception in it.
    def evaluate(self, expression):
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True,
                              awaitPromise=True)
        if "exceptionDetails" in result:
            raise Failure(f"{expression[:60]}...: {result['exceptionDetails'].get('text')} "
                          f"{result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    # Polls `expression` until `accept(value)`: the page navigates and redraws meanwhile, so an
    # evaluation that fails (no execution context during a navigation) only means "not yet".
    def wait_for(self, what, expression, accept=bool, within=PAGE_WITHIN):
        deadline = time.monotonic() + within
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
                if accept(last):
                    return last
            except Failure as e:
                last = str(e)
            time.sleep(0.1)
        why = getattr(accept, "why", None)  # an acceptor may say what it found wrong
        raise Failure(f"{what}: not within {within} s "
                      f"({why[0] if why else 'last: ' + str(last)[:300]})")

    def screenshot(self, path):
        data = self.command("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as out:
            out.write(base64.b64decode(data))
        print(f"screenshot: {path}")

    def close(self):
        self.ws.close()


def start_browser(chromium, profile):
    """Starts Chromium and returns it with its page's DevTools URL. A browser that lists no page
    in time (seen once on a loaded 2-core machine) is stopped and started once more, on a fresh
    profile; what it printed is in the failure if both attempts fail."""
    log_tail = ""
    for attempt in range(2):
        attempt_profile = os.path.join(profile, f"attempt-{attempt}")
        os.makedirs(attempt_profile, exist_ok=True)
        log_path = os.path.join(profile, f"chromium-{attempt}.log")
        result = try_start_browser(chromium, attempt_profile, log_path)
        if result:
            return result
        with open(log_path, errors="replace") as log:
            log_tail = "".join(log.readlines()[-15:])
    raise Failure(f"Chromium did not list a page within {BROWSER_WITHIN} s, twice; "
                  f"its last lines:\n{log_tail}")


def try_start_browser(chromium, profile, log_path):
    args = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}",
            f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "--hide-scrollbars", "about:blank"]
    # Its own process group: the browser's helper processes are stopped with it, by its id.
    with open(log_path, "w") as log:
        browser = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + BROWSER_WITHIN
    port_file = os.path.join(profile, "DevToolsActivePort")
    while time.monotonic() < deadline:
        if browser.poll() is not None:
            with open(log_path, errors="replace") as log:
                raise Failure(f"{chromium} exited with {browser.returncode}: "
                              + "".join(log.readlines()[-15:]))
        try:
            with open(port_file) as f:
                port = int(f.readline())
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                return browser, pages[0]["webSocketDebuggerUrl"]
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    stop_browser(browser)
    return None


def stop_browser(browser):
    if browser.poll() is None:
        os.killpg(browser.pid, signal.SIGTERM)
        try:
            browser.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait()


def get_json(url, path):
    request = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def call(url, actor_id):
    request = urllib.request.Request(
        f"{url}/v1/actors/game/GameActor/{actor_id}/call",
        data=json.dumps({"payload": {"action": "increment_score"}}).encode(),
        headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        json.load(response)


class Traffic:
    """Calls to many actors through one node, in a thread, until stopped: every node handles
    some (each owns some of the actors), so each has calls/s to show."""

    def __init__(self, url):
        self.url, self.stopped, self.errors = url, threading.Event(), []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        i = 0
        while not self.stopped.wait(0.005):
            try:
                call(self.url, f"dash-traffic-{i % 300}")
            except OSError as e:
                self.errors.append(e)
            i += 1

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=10)


# What the page shows, read through the DOM hooks its source documents.
READ_PAGE = """(() => {
  const grid = document.getElementById('shard-grid');
  return {
    capability: grid ? (grid.dataset.capability || null) : null,
    viewEpoch: grid && grid.dataset.viewEpoch ? Number(grid.dataset.viewEpoch) : null,
    epochText: (document.getElementById('view-epoch') || {}).textContent || null,
    status: (document.getElementById('status') || {dataset: {}}).dataset.state || null,
    rows: [...document.querySelectorAll('tr[data-node]')].map(r => r.dataset.node),
    rowText: [...document.querySelectorAll('tr[data-node]')].map(r => r.textContent),
    cells: grid ? [...grid.querySelectorAll('[data-shard]')].map(
        c => [Number(c.dataset.shard), c.dataset.owner || null, c.style.backgroundColor]) : [],
    legend: [...document.querySelectorAll('[data-legend]')].map(l => l.dataset.legend),
  };
})()"""


def matches_api(url, names):
    """An acceptor: the page's grid is the shard map GET /v1/shards/game gives now, its rows are
    exactly `names`, each cell has its owner's colour (one colour per owner, as the legend)."""

    def accept(page):
        accept.why[0] = check(page)
        return accept.why[0] is None

    def check(page):
        if not isinstance(page, dict):
            return f"no page: {page}"
        if page["capability"] != "game" or page["status"] != "ok":
            return f"grid of {page['capability']!r}, status {page['status']!r}"
        try:
            api = get_json(url, "/v1/shards/game")
        except OSError as e:  # a node leaving may briefly fail a request; the wait is bounded
            return f"GET /v1/shards/game: {e}"
        if page["rows"] != names or sorted(api["nodes"]) != sorted(names):
            return f"rows {page['rows']}, owners {api['nodes']}, expected {names}"
        if [c[0] for c in page["cells"]] != list(range(api["shard_count"])):
            return f"{len(page['cells'])} cells for {api['shard_count']} shards"
        expected = [api["nodes"][i] for i in api["owners"]]
        wrong = [i for i, c in enumerate(page["cells"]) if c[1] != expected[i]]
        if wrong:
            i = wrong[0]
            return f"{len(wrong)} cells disagree, e.g. shard {i}: {page['cells'][i][1]} != {expected[i]}"
        colour_of = {}
        for shard, owner, colour in page["cells"]:
            if not colour or colour_of.setdefault(owner, colour) != colour:
                return f"shard {shard} of {owner} has colour {colour!r}"
        if len(set(colour_of.values())) != len(colour_of):
            return f"two owners share a colour: {colour_of}"
        missing = [n for n, text in zip(names, page["rowText"]) if n not in text]
        return f"rows without their name: {missing}" if missing else None

    accept.why = [None]
    return accept


def run(binary, chromium, output_dir, processes, log):
    first, listen, url_a = with_cluster.start_node(binary, "a", [], TOKEN, log)
    processes.append(first)
    urls = {"a": url_a}
    for name in ("b", "c"):
        process, _, url = with_cluster.start_node(binary, name, [listen], TOKEN, log)
        processes.append(process)
        urls[name] = url
    for url in urls.values():
        with_cluster.wait_for_members(url, TOKEN, 3)
    for i in range(60):  # some activations on every node, for the counts and the screenshot
        call(urls["abc"[i % 3]], f"dash-{i}")

    profile = tempfile.mkdtemp(prefix="mesh_dashboard_chromium_")
    browser = None
    try:
        browser, ws_url = start_browser(chromium, profile)
        page = DevTools(ws_url)
        try:
            check_page(page, urls, processes, output_dir,
                       join=lambda name: join(binary, name, listen, processes, log))
        finally:
            page.close()
    finally:
        if browser:
            stop_browser(browser)
        shutil.rmtree(profile, ignore_errors=True)


def join(binary, name, seed, processes, log):
    process, _, url = with_cluster.start_node(binary, name, [seed], TOKEN, log)
    processes.append(process)
    return url


def is_rate(text):
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def check_page(page, urls, processes, output_dir, join):
    url = urls["a"]
    # The whole page in the screenshots, whatever size the headless window's frame takes.
    page.command("Emulation.setDeviceMetricsOverride", width=VIEWPORT[0], height=VIEWPORT[1],
                 deviceScaleFactor=1, mobile=False)
    # Without the cookie, / is the login form; a wrong token is refused with the form again.
    page.command("Page.navigate", url=url + "/")
    page.wait_for("the login form", "!!document.querySelector('form input[name=token]')")
    page.evaluate("document.querySelector('input[name=token]').value = 'not-the-token';"
                  "document.querySelector('form').submit(); true")
    page.wait_for("the refusal", "(document.querySelector('.refused') || {}).textContent || ''",
                  lambda text: "Wrong token" in text)
    page.evaluate(f"document.querySelector('input[name=token]').value = {json.dumps(TOKEN)};"
                  "document.querySelector('form').submit(); true")
    page.wait_for("the dashboard after signing in",
                  "document.querySelectorAll('#shard-grid [data-shard]').length", lambda n: n > 0)
    # Signed in by the cookie alone: scripts cannot read it, and the token is in no URL.
    if "mesh_session" in page.evaluate("document.cookie"):
        raise Failure("the session cookie is readable from JavaScript (not HttpOnly)")
    address = page.evaluate("location.href")
    if TOKEN in address or address != url + "/":
        raise Failure(f"unexpected address after signing in: {address}")

    # The chooser shows every capability; pick "game" as a user would.
    options = page.evaluate("[...document.getElementById('capability').options].map(o => o.value)")
    if options != ["chat", "game"]:
        raise Failure(f"capability chooser offers {options}")
    page.evaluate("const s = document.getElementById('capability'); s.value = 'game';"
                  "s.dispatchEvent(new Event('change')); true")
    before = page.wait_for("the grid of game equal to GET /v1/shards/game on a, b and c",
                           READ_PAGE, matches_api(url, ["a", "b", "c"]))
    if len(before["cells"]) != 4096 or sorted(before["legend"]) != ["a", "b", "c"]:
        raise Failure(f"{len(before['cells'])} cells, legend {before['legend']}")
    print(f"grid: 4096 shards of game, owners as /v1/shards says; epoch {before['epochText']}")
    # calls/s is the change of calls_total between two polls: with calls going on, every node
    # shows some (when the status reports calls_total; older nodes leave it out).
    traffic = Traffic(url)
    try:
        if "calls_total" in get_json(url, "/v1/status"):
            rates = page.wait_for(
                "calls/s above zero in every row",
                "[...document.querySelectorAll('tr[data-node]')].map(r => r.cells[5].textContent)",
                lambda rates: len(rates) == 3 and all(is_rate(r) and float(r.replace(",", "")) > 0 for r in rates))
            print(f"calls/s: {rates}")
        page.screenshot(os.path.join(output_dir, "dashboard.png"))
    finally:
        traffic.stop()
    if traffic.errors:
        raise Failure(f"{len(traffic.errors)} calls failed, e.g. {traffic.errors[0]}")

    # Node c leaves: its row goes and its shards turn to a's and b's.
    leaving = processes[2]
    os.kill(leaving.pid, signal.SIGTERM)
    try:
        leaving.wait(timeout=with_cluster.STOP_WITHIN)
    except subprocess.TimeoutExpired:
        raise Failure("node c did not stop")
    after = page.wait_for("the page without node c", READ_PAGE, matches_api(url, ["a", "b"]),
                          within=LEAVE_WITHIN)
    if any(owner == "c" for _, owner, _ in after["cells"]) or "c" in after["legend"]:
        raise Failure("a shard is still drawn as c's")
    if int(after["epochText"]) <= int(before["epochText"]):
        raise Failure(f"the view epoch did not move: {before['epochText']} -> {after['epochText']}")
    moved = sum(1 for b, a in zip(before["cells"], after["cells"]) if b[1] != a[1])
    print(f"after c left: {moved} shards moved, epoch {after['epochText']}")
    page.screenshot(os.path.join(output_dir, "dashboard-after.png"))

    # Node d joins: its row comes and shards turn to it.
    join("d")
    joined = page.wait_for("the page with node d", READ_PAGE, matches_api(url, ["a", "b", "d"]),
                           within=LEAVE_WITHIN)
    print(f"after d joined: {sum(1 for c in joined['cells'] if c[1] == 'd')} shards are d's, "
          f"epoch {joined['epochText']}")

    # Signing out drops the cookie: the next page is the login form again.
    page.evaluate("document.querySelector('form.signout').submit(); true")
    page.wait_for("the login form after signing out",
                  "!!document.querySelector('form input[name=token]') && "
                  "!document.getElementById('shard-grid')")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, chromium, output_dir = sys.argv[1:]
    if shutil.which(chromium) is None:
        sys.exit(f"{chromium} not found: scripts/install-deps.sh installs Debian's chromium")
    os.makedirs(output_dir, exist_ok=True)
    processes = []
    log = tempfile.NamedTemporaryFile("w+", prefix="mesh_dashboard_cluster_", suffix=".log")
    status = 1
    try:
        run(binary, chromium, output_dir, processes, log)
        status = 0
    except (Failure, RuntimeError, OSError, urllib.error.URLError) as e:
        print(f"FAILED: {e}", file=sys.stderr)
    finally:
        with_cluster.stop(processes)
    if status != 0:
        log.seek(0)
        sys.stderr.write("--- node logs ---\n" + log.read())
    sys.exit(status)


if __name__ == "__main__":
    main()
