-- wrk script: POST /leads with a distinct e-mail per request (no Idempotency-Key, so every
-- request creates a lead, the expensive path).
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("PB2B_KEY")
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"full_name":"Bench Lead %d","email":"bench.%d.%d@example.com","company_name":"Bench Inc.","custom_fields":{"n":%d}}',
    counter, id or 0, counter, counter)
  return wrk.format(nil, nil, nil, body)
end
