-- wrk script: the anchor of the per-row import rate (issue 12). POST /leads with a distinct
-- e-mail and a distinct Idempotency-Key per request, and a body shaped like the one the importer
-- sends for a row of bench/import's 8-column file (the same fields, about the same sizes).
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("PB2B_KEY")
  math.randomseed(os.time() + (id or 0))
  run = string.format("%08x", math.random(0, 0x7fffffff))
end

function request()
  counter = counter + 1
  local n = counter
  local m = n % 5000
  wrk.headers["Idempotency-Key"] = string.format("wrk-%s-%d-%d", run, id or 0, n)
  local body = string.format(
    '{"email":"ada.lovelace.%d.%d@example.com","full_name":"Ada%d Lovelace%d","first_name":"Ada%d","last_name":"Lovelace%d","phone":"+44 20 7946 %04d","job_title":"Chief Engineer","company_name":"Analytical Engines %d, Ltd","company_domain":"engines%d.com","linkedin_url":"https://www.linkedin.com/in/ada-%d"}',
    id or 0, n, n, n, n, n, n % 10000, m, m, n)
  return wrk.format(nil, nil, nil, body)
end
