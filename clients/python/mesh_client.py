"""A client for mesh's HTTP/JSON gateway (docs/http-api.md). Python 3.9+, standard library only.

    from mesh_client import MeshClient, Timeout
    client = MeshClient("http://127.0.0.1:8080", token=None)
    reply = client.call("game", "GameActor", "player_123", {"action": "increment_score"})
    print(reply.value, reply.pid, reply.node)

One MeshClient keeps one keep-alive connection: use one per thread. Every error the gateway
answers raises a MeshError subclass named after its code (Timeout, NoNodes, ActorCrashed, ...);
a connection that fails raises ConnectionError (OSError).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

__all__ = [
    "MeshClient", "Reply", "Location", "MeshError", "InvalidRequest", "NoNodes", "UnknownModule",
    "ActivationFailed", "ActorCrashed", "Timeout", "NodeUnreachable", "Deadlock", "Overloaded",
    "ShuttingDown", "Fenced", "StoreUnavailable", "Unauthorized", "NotFound", "MethodNotAllowed",
    "PayloadTooLarge",
]

_UNSET = object()


@dataclass(frozen=True)
class Reply:
    """A successful call: the answering activation ("node.serial"), its node, and the reply."""
    pid: str
    node: str
    value: Any


@dataclass(frozen=True)
class Location:
    """Where an actor lives: its shard, the owner node, and its activation there if any."""
    shard: int
    owner: str
    active: bool
    pid: Optional[str]


class MeshError(Exception):
    """An error the gateway answered: `code` is the error name, `status` the HTTP status."""

    def __init__(self, code: str, message: str, status: int):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.status = status


class InvalidRequest(MeshError): pass      # 400
class UnknownModule(MeshError): pass       # 404
class Deadlock(MeshError): pass            # 409
class Fenced(MeshError): pass              # 409
class Overloaded(MeshError): pass          # 429 (and 503 at the connection limit)
class ActorCrashed(MeshError): pass        # 500
class ActivationFailed(MeshError): pass    # 500
class NodeUnreachable(MeshError): pass     # 502
class NoNodes(MeshError): pass             # 503
class ShuttingDown(MeshError): pass        # 503
class StoreUnavailable(MeshError): pass    # 503
class Timeout(MeshError): pass             # 504
class Unauthorized(MeshError): pass        # 401
class NotFound(MeshError): pass            # 404, no such route
class MethodNotAllowed(MeshError): pass    # 405
class PayloadTooLarge(MeshError): pass     # 413

_ERRORS = {
    "invalid_request": InvalidRequest, "unknown_module": UnknownModule, "deadlock": Deadlock,
    "fenced": Fenced, "overloaded": Overloaded, "actor_crashed": ActorCrashed,
    "activation_failed": ActivationFailed, "node_unreachable": NodeUnreachable,
    "no_nodes": NoNodes, "shutting_down": ShuttingDown, "store_unavailable": StoreUnavailable,
    "timeout": Timeout, "unauthorized": Unauthorized, "not_found": NotFound,
    "method_not_allowed": MethodNotAllowed, "payload_too_large": PayloadTooLarge,
}


def _segment(text: str) -> str:
    # Every reserved character is encoded, '/' included: an id is one path segment.
    return urllib.parse.quote(text, safe="")


class MeshClient:
    """Calls actors through one node's gateway; any node serves any actor. Not thread-safe."""

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 30.0):
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be http(s)://host:port, not {base_url!r}")
        self._scheme = url.scheme
        self._host = url.hostname
        self._port = url.port
        self._token = token
        self._timeout = timeout
        self._connection: Optional[http.client.HTTPConnection] = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> "MeshClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, capability: str, module: str, actor_id: str, payload: Any,
             init_arg: Any = _UNSET, timeout_ms: Optional[int] = None) -> Reply:
        """Sends payload to the actor's handle_call and returns its Reply (or raises)."""
        body = self._request("POST", self._actor_path(capability, module, actor_id) + "/call",
                             self._message(payload, init_arg, timeout_ms))
        return Reply(pid=body["pid"], node=body["node"], value=body["value"])

    def cast(self, capability: str, module: str, actor_id: str, payload: Any,
             init_arg: Any = _UNSET) -> None:
        """Routes payload to the actor's handle_cast; returns once it is routed."""
        self._request("POST", self._actor_path(capability, module, actor_id) + "/cast",
                      self._message(payload, init_arg, None))

    def where(self, capability: str, module: str, actor_id: str) -> Location:
        """Which shard and node own the actor, and whether it is active there now."""
        body = self._request("GET", self._actor_path(capability, module, actor_id))
        return Location(shard=body["shard"], owner=body["owner"], active=body["active"],
                        pid=body["pid"])

    def nodes(self) -> List[Dict[str, Any]]:
        """Members with their capabilities: [{"name": ..., "capabilities": [...]}, ...]."""
        return self._request("GET", "/v1/nodes")["nodes"]

    def capabilities(self) -> Dict[str, List[str]]:
        """Each capability with the nodes that serve it."""
        return self._request("GET", "/v1/capabilities")["capabilities"]

    @staticmethod
    def _actor_path(capability: str, module: str, actor_id: str) -> str:
        return "/v1/actors/" + "/".join(_segment(s) for s in (capability, module, actor_id))

    @staticmethod
    def _message(payload: Any, init_arg: Any, timeout_ms: Optional[int]) -> Dict[str, Any]:
        message: Dict[str, Any] = {"payload": payload}
        if init_arg is not _UNSET:
            message["init_arg"] = init_arg
        if timeout_ms is not None:
            message["timeout_ms"] = int(timeout_ms)
        return message

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = (http.client.HTTPSConnection if self._scheme == "https"
                    else http.client.HTTPConnection)
            self._connection = kind(self._host, self._port, timeout=self._timeout)
        return self._connection

    def _request(self, method: str, path: str, body: Any = None) -> Dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        # A kept-alive connection the server closed while it was idle (its read timeout) fails
        # on first use: that, and only that, is retried once on a fresh connection.
        while True:
            reused = self._connection is not None
            connection = self._connect()
            try:
                connection.request(method, path, body=data, headers=headers)
                response = connection.getresponse()
                text = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if not reused:
                    raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            raise MeshError("invalid_response", text[:200].decode(errors="replace"),
                            response.status) from None
        if response.status >= 400:
            code = parsed.get("error", "unknown") if isinstance(parsed, dict) else "unknown"
            message = parsed.get("message", "") if isinstance(parsed, dict) else ""
            raise _ERRORS.get(code, MeshError)(code, message, response.status)
        return parsed
