-- Shared by the scenario scripts: reads the data file (one request body or path per line),
-- counts the answers by status and prints one JSON line for bench/rig.py to parse.

statuses = {}
sent = 0
lines = {}
line_count = 0

local threads = {}

function read_lines(path)
  local result = {}
  for line in io.lines(path) do
    if line ~= "" then
      result[#result + 1] = line
    end
  end
  assert(#result > 0, "no lines in " .. path)
  line_count = #result
  return result
end

function request_headers()
  local headers = {}
  local token = os.getenv("BENCH_TOKEN") or ""
  if token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  local user = os.getenv("BENCH_ACTING_USER") or ""
  if user ~= "" then
    headers["X-Acting-User"] = user
  end
  return headers
end

function setup(thread)
  threads[#threads + 1] = thread
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged, total_sent, total_lines = {}, 0, 0
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      merged[code] = (merged[code] or 0) + count
    end
    total_sent = total_sent + thread:get("sent")
    total_lines = total_lines + thread:get("line_count")
  end
  local parts = {}
  for code, count in pairs(merged) do
    parts[#parts + 1] = string.format('"%d": %d', code, count)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "statuses": {%s}, "errors": {"connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d}, "sent": %d, "lines": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), table.concat(parts, ", "), errors.connect, errors.read,
    errors.write, errors.status, errors.timeout, total_sent, total_lines))
end
