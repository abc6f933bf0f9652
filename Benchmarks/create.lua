-- wrk script: POST /v1/agents with a unique name per request (thread id + counter).
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  token = os.getenv("TOKEN")
end

function request()
  counter = counter + 1
  local body = string.format('{"name":"bench-%d-%d","llm_config":{"model":"gpt-4o-mini","temperature":0.3},"tools":["search"],"tags":["bench"]}', tid, counter)
  return wrk.format("POST", "/v1/agents", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  if status ~= 201 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
