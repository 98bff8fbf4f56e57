-- POST each line of BENCH_DATA in turn as the body to BENCH_PATH (Content-Type
-- BENCH_CONTENT_TYPE); after the last line it starts again from the first.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local path, headers, index

function init(args)
  lines = read_lines(os.getenv("BENCH_DATA"))
  path = os.getenv("BENCH_PATH")
  headers = request_headers()
  headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")
  index = 0
end

function request()
  index = index % #lines + 1
  sent = sent + 1
  return wrk.format("POST", path, headers, lines[index])
end
