-- GET each line of BENCH_DATA in turn as the path (with the query string);
-- after the last line it starts again from the first.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local headers, index

function init(args)
  lines = read_lines(os.getenv("BENCH_DATA"))
  headers = request_headers()
  index = 0
end

function request()
  index = index % #lines + 1
  sent = sent + 1
  return wrk.format("GET", lines[index], headers)
end
