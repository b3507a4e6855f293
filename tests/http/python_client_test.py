#!/usr/bin/env python3
"""clients/python/mesh_client.py against a 3-node cluster (run by with_cluster.py)."""
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))
import mesh_client  # noqa: E402
from mesh_client import MeshClient  # noqa: E402

URLS = os.environ["MESH_HTTP_URLS"].split(",")
TOKEN = os.environ.get("MESH_HTTP_TOKEN")


class PythonClientTest(unittest.TestCase):
    def setUp(self):
        self.clients = [MeshClient(url, token=TOKEN) for url in URLS]

    def tearDown(self):
        for client in self.clients:
            client.close()

    def test_call_reaches_the_same_activation_through_every_node(self):
        replies = [client.call("game", "GameActor", "py-player", {"action": "increment_score"})
                   for client in self.clients]
        self.assertEqual([r.value for r in replies], [1, 2, 3])
        self.assertEqual(len({r.pid for r in replies}), 1)
        node, serial = replies[0].pid.rsplit(".", 1)
        self.assertEqual(node, replies[0].node)
        self.assertTrue(serial.isdigit())

    def test_init_arg_and_timeout_are_passed(self):
        reply = self.clients[0].call("game", "GameActor", "py-init", {"action": "get_stats"},
                                     init_arg={"starting_level": 5}, timeout_ms=2000)
        self.assertEqual(reply.value, {"score": 0, "level": 5})

    def test_cast_is_routed_and_runs(self):
        client = self.clients[1]
        for _ in range(3):
            client.call("game", "Counter", "py-counter", {})
        self.assertIsNone(client.cast("game", "Counter", "py-counter", {"action": "reset"}))
        self.assertEqual(client.call("game", "Counter", "py-counter", {}).value, 1)

    def test_where_agrees_on_every_node(self):
        where = self.clients[0].where("game", "GameActor", "py-where")
        self.assertFalse(where.active)
        self.assertIsNone(where.pid)
        reply = self.clients[2].call("game", "GameActor", "py-where", {"action": "level_up"})
        for client in self.clients:
            where = client.where("game", "GameActor", "py-where")
            self.assertTrue(where.active)
            self.assertEqual(where.pid, reply.pid)
            self.assertEqual(where.owner, reply.node)

    def test_ids_with_slash_space_and_utf8(self):
        actor_id = "room/1 é ☃?#%"
        reply = self.clients[0].call("game", "GameActor", actor_id, {"action": "get_state"})
        self.assertEqual(reply.value["id"], actor_id)
        self.assertTrue(self.clients[1].where("game", "GameActor", actor_id).active)

    def test_nodes_and_capabilities(self):
        nodes = self.clients[0].nodes()
        self.assertEqual(sorted(n["name"] for n in nodes), ["a", "b", "c"])
        for node in nodes:
            self.assertEqual(node["capabilities"], ["chat", "game"])
        self.assertEqual(self.clients[1].capabilities()["game"], ["a", "b", "c"])

    def test_typed_errors(self):
        client = self.clients[0]
        cases = [
            (mesh_client.UnknownModule, 404, lambda: client.call("game", "Nope", "x", {})),
            (mesh_client.NoNodes, 503, lambda: client.call("nobody", "GameActor", "x", {})),
            (mesh_client.ActorCrashed, 500,
             lambda: client.call("game", "Crasher", "x", {"action": "crash"})),
            (mesh_client.InvalidRequest, 400,
             lambda: client.call("game", "GameActor", "x", {}, timeout_ms=0)),
        ]
        for kind, status, action in cases:
            with self.assertRaises(kind) as caught:
                action()
            self.assertEqual(caught.exception.status, status)
            self.assertIsInstance(caught.exception, mesh_client.MeshError)
        # The connection survives errors.
        self.assertEqual(client.call("game", "Counter", "py-after-errors", {}).value, 1)

    def test_concurrent_clients_on_every_node_lose_no_increment(self):
        threads, calls, players = 6, 50, 5
        failures = []

        def run(index):
            with MeshClient(URLS[index % len(URLS)], token=TOKEN) as client:
                for i in range(calls):
                    try:
                        client.call("game", "GameActor", f"py-busy-{(index + i) % players}",
                                    {"action": "increment_score"})
                    except Exception as error:  # noqa: BLE001 - collected and asserted below
                        failures.append(error)

        workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        self.assertEqual(failures, [])
        total = sum(self.clients[p % 3].call("game", "GameActor", f"py-busy-{p}",
                                             {"action": "get_stats"}).value["score"]
                    for p in range(players))
        self.assertEqual(total, threads * calls)

    def test_every_error_name_has_its_class(self):
        names = ["invalid_request", "unknown_module", "deadlock", "fenced", "overloaded",
                 "actor_crashed", "activation_failed", "node_unreachable", "no_nodes",
                 "shutting_down", "store_unavailable", "timeout", "unauthorized", "not_found",
                 "method_not_allowed", "payload_too_large"]
        for name in names:
            kind = mesh_client._ERRORS[name]
            self.assertTrue(issubclass(kind, mesh_client.MeshError))
            self.assertEqual(kind.__name__.lower(), name.replace("_", ""))

    @unittest.skipUnless(TOKEN, "the cluster runs without a token")
    def test_missing_and_wrong_token_are_unauthorized(self):
        for token in (None, "wrong-" + (TOKEN or "")):
            with MeshClient(URLS[0], token=token) as client:
                with self.assertRaises(mesh_client.Unauthorized) as caught:
                    client.call("game", "GameActor", "x", {})
                self.assertEqual(caught.exception.status, 401)


if __name__ == "__main__":
    unittest.main(verbosity=2)
