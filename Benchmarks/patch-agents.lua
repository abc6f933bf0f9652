-- wrk script: PATCH /v1/agents/{id} as a platform service, each request to one of the agents
-- listed in AGENTS_FILE ("tenant id" per line), round robin, with a description that changes
-- every time, so every PATCH writes a new version (row, snapshot, history entry, NOTIFY).
local agents = {}
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  token = os.getenv("SERVICE_TOKEN")
  for line in io.lines(os.getenv("AGENTS_FILE")) do
    local tenant, id = line:match("^(%S+)%s+(%S+)$")
    if tenant then table.insert(agents, { tenant = tenant, id = id }) end
  end
end

function request()
  counter = counter + 1
  local agent = agents[(counter % #agents) + 1]
  local body = string.format('{"description":"revision %d-%d"}', tid, counter)
  return wrk.format("PATCH", "/v1/agents/" .. agent.id, {
    ["Authorization"] = "Bearer " .. token,
    ["X-Tenant-ID"] = agent.tenant,
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
