-- wrk script: POST /v1/agents as a platform service, spread over TENANTS tenants (X-Tenant-ID),
-- with a ~600-character prompt like the pgbench yardstick's row. Unique names: thread id + counter.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  token = os.getenv("SERVICE_TOKEN")
  tenants = tonumber(os.getenv("TENANTS") or "400")
  prefix = os.getenv("TENANT_PREFIX") or "bench"
  prompt = string.rep("x", 600)
  math.randomseed(os.time() * 100 + tid)
  run = math.random(1, 1000000000)
end

function request()
  counter = counter + 1
  local tenant = prefix .. "-" .. (tenants == 1 and 1 or math.random(1, tenants))
  local body = string.format('{"name":"bench-%d-%d-%d","system_prompt":"%s","llm_config":{"model":"gpt-4o-mini","temperature":0.3,"max_tokens":512},"memory_config":{"memory_type":"conversation","window_size":10},"tags":["support"]}', run, tid, counter, prompt)
  return wrk.format("POST", "/v1/agents", {
    ["Authorization"] = "Bearer " .. token,
    ["X-Tenant-ID"] = tenant,
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  if status ~= 201 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
