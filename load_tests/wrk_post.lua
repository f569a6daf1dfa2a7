-- wrk script used by load_tests.ingest_single and load_tests.ingest_batch.
--
-- POSTs the JSON bodies of a file (one body per line, the first script argument) to the URL
-- given on the command line; every thread pre-formats all requests once and then cycles
-- through them from its own offset, so wrk spends no time building requests. Headers come
-- from wrk's -H flags. When done it prints one machine-readable line: "WRKJSON {...}".

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local prepared = {}
local count = 0
local position = 0

function init(args)
  local path = args[1]
  if path == nil then
    error("usage: wrk ... -s wrk_post.lua URL -- BODIES_FILE")
  end
  for line in io.lines(path) do
    if #line > 0 then
      count = count + 1
      prepared[count] = wrk.format("POST", nil, nil, line)
    end
  end
  if count == 0 then
    error("no bodies in " .. path)
  end
  position = ((id or 0) * 7919) % count
end

function request()
  position = position % count + 1
  return prepared[position]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"mean_us": %.1f, "max_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"p999_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
