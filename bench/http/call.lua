-- wrk script: POST a hot GameActor call, keep-alive, spread over 64 players.
-- wrk -t2 -c64 -d10s -s call.lua http://HOST:PORT   (MESH_HTTP_TOKEN adds the bearer token)
local counter = 0
local token = os.getenv("MESH_HTTP_TOKEN")
local body = '{"payload":{"action":"increment_score"}}'
local headers = { ["Content-Type"] = "application/json" }
if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end

request = function()
  counter = counter + 1
  local path = "/v1/actors/game/GameActor/player" .. (counter % 64) .. "/call"
  return wrk.format("POST", path, headers, body)
end

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read +
                 summary.errors.write + summary.errors.timeout
  io.write(string.format("calls/s %.0f p50_ms %.3f p99_ms %.3f errors %d\n",
                         summary.requests / (summary.duration / 1e6),
                         latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
