-- wrk script of the SchoolGraph benchmark (bench/load.py runs it).
--   wrk ... -s bench/wrk.lua URL -- BODIES_FILE TOKEN
-- Posts the GraphQL bodies of BODIES_FILE (one JSON document per line) in turn with the bearer
-- TOKEN, and tallies what the responses say: failures (not 200, or a GraphQL error) and the SQL
-- statements and Casbin calls that the server reports in `extensions`, and how many answers
-- the compiled path gave (`extensions.compiled`). `done` prints one line,
-- "BENCH {json}", that bench/load.py reads.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Per-thread state: globals, so that `done` can read them with thread:get().
bodies = {}
position = 0
failed, statements, casbin, parsed, compiled = 0, 0, 0, 0, 0

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end

function request()
  position = position % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[position])
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    failed = failed + 1
  end
  local n = string.match(body, '"sqlStatements":%s*(%d+)')
  if n then
    statements = statements + tonumber(n)
    parsed = parsed + 1
  end
  local c = string.match(body, '"casbinCalls":%s*(%d+)')
  if c then
    casbin = casbin + tonumber(c)
  end
  if string.find(body, '"compiled":%s*true') then
    compiled = compiled + 1
  end
end

function done(summary, latency, requests)
  local totals = { failed = 0, statements = 0, casbin = 0, parsed = 0, compiled = 0 }
  for _, thread in ipairs(threads) do
    for key in pairs(totals) do
      totals[key] = totals[key] + thread:get(key)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.6f, "errors": %d, "p50": %.4f, "p95": %.4f,'
      .. ' "p99": %.4f, "failed": %d, "statements": %d, "casbin": %d, "parsed": %d,'
      .. ' "compiled": %d}\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    totals.failed, totals.statements, totals.casbin, totals.parsed, totals.compiled
  ))
end
