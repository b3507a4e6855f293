// clients/js/mesh-client.mjs against a 3-node cluster (run by with_cluster.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as mesh from "../../clients/js/mesh-client.mjs";

const urls = process.env.MESH_HTTP_URLS.split(",");
const token = process.env.MESH_HTTP_TOKEN;
const clients = urls.map((url) => new mesh.MeshClient(url, { token }));

test("call reaches the same activation through every node", async () => {
  const replies = [];
  for (const client of clients) {
    replies.push(await client.call("game", "GameActor", "js-player", { action: "increment_score" }));
  }
  assert.deepEqual(replies.map((r) => r.value), [1, 2, 3]);
  assert.equal(new Set(replies.map((r) => r.pid)).size, 1);
  assert.equal(replies[0].pid.slice(0, replies[0].pid.lastIndexOf(".")), replies[0].node);
});

test("init_arg and timeout are passed", async () => {
  const reply = await clients[0].call("game", "GameActor", "js-init", { action: "get_stats" },
                                      { initArg: { starting_level: 4 }, timeoutMs: 2000 });
  assert.deepEqual(reply.value, { score: 0, level: 4 });
});

test("cast is routed and runs", async () => {
  const client = clients[1];
  for (let i = 0; i < 3; ++i) await client.call("game", "Counter", "js-counter", {});
  assert.equal(await client.cast("game", "Counter", "js-counter", { action: "reset" }), undefined);
  assert.equal((await client.call("game", "Counter", "js-counter", {})).value, 1);
});

test("where agrees on every node", async () => {
  const before = await clients[0].where("game", "GameActor", "js-where");
  assert.equal(before.active, false);
  assert.equal(before.pid, null);
  const reply = await clients[2].call("game", "GameActor", "js-where", { action: "level_up" });
  for (const client of clients) {
    const where = await client.where("game", "GameActor", "js-where");
    assert.deepEqual(where, { shard: before.shard, owner: reply.node, active: true, pid: reply.pid });
  }
});

test("ids with slash, space and UTF-8", async () => {
  const id = "room/2 ü ☃?#%";
  const reply = await clients[0].call("game", "GameActor", id, { action: "get_state" });
  assert.equal(reply.value.id, id);
  assert.equal((await clients[1].where("game", "GameActor", id)).active, true);
});

test("nodes and capabilities", async () => {
  const nodes = await clients[0].nodes();
  assert.deepEqual(nodes.map((n) => n.name).sort(), ["a", "b", "c"]);
  for (const node of nodes) assert.deepEqual(node.capabilities, ["chat", "game"]);
  assert.deepEqual((await clients[1].capabilities()).game, ["a", "b", "c"]);
});

test("typed errors", async () => {
  const client = clients[0];
  const cases = [
    [mesh.UnknownModuleError, 404, () => client.call("game", "Nope", "x", {})],
    [mesh.NoNodesError, 503, () => client.call("nobody", "GameActor", "x", {})],
    [mesh.ActorCrashedError, 500, () => client.call("game", "Crasher", "x", { action: "crash" })],
    [mesh.InvalidRequestError, 400, () => client.call("game", "GameActor", "x", {}, { timeoutMs: 0 })],
  ];
  for (const [Kind, status, action] of cases) {
    await assert.rejects(action(), (error) => {
      assert.ok(error instanceof Kind, `${error.name} is not ${Kind.name}`);
      assert.ok(error instanceof mesh.MeshError);
      assert.equal(error.status, status);
      return true;
    });
  }
});

test("missing and wrong token are unauthorized", { skip: !token }, async () => {
  for (const bad of [undefined, `wrong-${token}`]) {
    const client = new mesh.MeshClient(urls[0], { token: bad });
    await assert.rejects(client.call("game", "GameActor", "x", {}), (error) => {
      assert.ok(error instanceof mesh.UnauthorizedError);
      assert.equal(error.status, 401);
      return true;
    });
  }
});
