-- wrk script: GET every agent listed in AGENTS_FILE ("tenant id" per line) in turn, as a platform
-- service, so each is read (and cached) once per pass; stops after two passes.
local lines = {}
local index = 0
local done = 0

function init(args)
  token = os.getenv("SERVICE_TOKEN")
  for line in io.lines(os.getenv("AGENTS_FILE")) do
    local tenant, id = line:match("^(%S+)%s+(%S+)$")
    if tenant then table.insert(lines, { tenant, id }) end
  end
end

function request()
  index = index % #lines + 1
  local entry = lines[index]
  return wrk.format("GET", "/v1/agents/" .. entry[2], {
    ["Authorization"] = "Bearer " .. token,
    ["X-Tenant-ID"] = entry[1],
  })
end

-- Stops after two passes over every agent (the first caches, the second only reads).
function response(status, headers, body)
  done = done + 1
  if done >= 2 * #lines then wrk.thread:stop() end
end
