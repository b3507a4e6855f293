// A client for mesh's HTTP/JSON gateway (docs/http-api.md). Node 18+ (global fetch), no
// dependencies; works in browsers too.
//
//   import { MeshClient, TimeoutError } from "./mesh-client.mjs";
//   const client = new MeshClient("http://127.0.0.1:8080", { token: process.env.MESH_HTTP_TOKEN });
//   const reply = await client.call("game", "GameActor", "player_123", { action: "increment_score" });
//   console.log(reply.value, reply.pid, reply.node);
//
// Every error the gateway answers rejects with a MeshError subclass named after its code
// (TimeoutError, NoNodesError, ActorCrashedError, ...); a failed connection rejects with fetch's
// own TypeError.

export class MeshError extends Error {
  constructor(code, message, status) {
    super(message ? `${code}: ${message}` : code);
    this.name = new.target.name;
    this.code = code;        // the error name, e.g. "timeout"
    this.status = status;    // the HTTP status, e.g. 504
    this.detail = message;   // the gateway's message
  }
}
export class InvalidRequestError extends MeshError {}    // 400
export class UnauthorizedError extends MeshError {}      // 401
export class UnknownModuleError extends MeshError {}     // 404
export class NotFoundError extends MeshError {}          // 404, no such route
export class MethodNotAllowedError extends MeshError {}  // 405
export class DeadlockError extends MeshError {}          // 409
export class FencedError extends MeshError {}            // 409
export class PayloadTooLargeError extends MeshError {}   // 413
export class OverloadedError extends MeshError {}        // 429 (503 at the connection limit)
export class ActorCrashedError extends MeshError {}      // 500
export class ActivationFailedError extends MeshError {}  // 500
export class NodeUnreachableError extends MeshError {}   // 502
export class NoNodesError extends MeshError {}           // 503
export class ShuttingDownError extends MeshError {}      // 503
export class StoreUnavailableError extends MeshError {}  // 503
export class TimeoutError extends MeshError {}           // 504

const ERRORS = {
  invalid_request: InvalidRequestError, unauthorized: UnauthorizedError,
  unknown_module: UnknownModuleError, not_found: NotFoundError,
  method_not_allowed: MethodNotAllowedError, deadlock: DeadlockError, fenced: FencedError,
  payload_too_large: PayloadTooLargeError, overloaded: OverloadedError,
  actor_crashed: ActorCrashedError, activation_failed: ActivationFailedError,
  node_unreachable: NodeUnreachableError, no_nodes: NoNodesError,
  shutting_down: ShuttingDownError, store_unavailable: StoreUnavailableError,
  timeout: TimeoutError,
};

// Calls actors through one node's gateway; any node serves any actor. Safe to share: each
// method is one fetch.
export class MeshClient {
  // baseUrl: "http://host:port". options.token: the bearer token; options.fetch: another fetch.
  constructor(baseUrl, { token, fetch: fetchImpl } = {}) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.token = token;
    this.fetch = fetchImpl ?? globalThis.fetch;
  }

  // Sends payload to the actor's handle_call: resolves to { pid, node, value }.
  // options: { initArg, timeoutMs }.
  async call(capability, module, id, payload, { initArg, timeoutMs } = {}) {
    const body = await this.#request("POST", `${actorPath(capability, module, id)}/call`,
                                     message(payload, initArg, timeoutMs));
    return { pid: body.pid, node: body.node, value: body.value };
  }

  // Routes payload to the actor's handle_cast; resolves (to undefined) once it is routed.
  async cast(capability, module, id, payload, { initArg } = {}) {
    await this.#request("POST", `${actorPath(capability, module, id)}/cast`,
                        message(payload, initArg, undefined));
  }

  // Resolves to { shard, owner, active, pid }: where the actor lives and whether it is active.
  async where(capability, module, id) {
    return this.#request("GET", actorPath(capability, module, id));
  }

  // Members with their capabilities: [{ name, capabilities }].
  async nodes() {
    return (await this.#request("GET", "/v1/nodes")).nodes;
  }

  // Each capability with the nodes that serve it: { capability: [node, ...] }.
  async capabilities() {
    return (await this.#request("GET", "/v1/capabilities")).capabilities;
  }

  async #request(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const response = await this.fetch(this.baseUrl + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new MeshError("invalid_response", text.slice(0, 200), response.status);
    }
    if (!response.ok) {
      const code = parsed?.error ?? "unknown";
      const Kind = ERRORS[code] ?? MeshError;
      throw new Kind(code, parsed?.message ?? "", response.status);
    }
    return parsed;
  }
}

// Every reserved character is encoded, '/' included: an id is one path segment.
function actorPath(capability, module, id) {
  return `/v1/actors/${[capability, module, id].map((s) => encodeURIComponent(s)).join("/")}`;
}

function message(payload, initArg, timeoutMs) {
  const out = { payload: payload === undefined ? null : payload };
  if (initArg !== undefined) out.init_arg = initArg;
  if (timeoutMs !== undefined) out.timeout_ms = Math.trunc(timeoutMs);
  return out;
}
