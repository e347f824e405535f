-- wrk script for the mlgraph benchmarks: one fixed request per call, counted per thread.
--   WRK_METHOD   GET or POST (default POST)
--   WRK_BODY     the request body (JSON)
--   WRK_BAD_MARK a substring that marks a 200 answer as failed, e.g. "errors" for GraphQL
-- done() prints one line starting with WRKJSON that bench/_harness.py parses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = os.getenv("WRK_METHOD") or "POST"
  local body = os.getenv("WRK_BODY")
  if body ~= nil and body ~= "" then
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
  end
  bad_mark = os.getenv("WRK_BAD_MARK") or ""
  sent, ok, bad = 0, 0, 0
  prepared = wrk.format()
end

function request()
  sent = sent + 1
  return prepared
end

function response(status, headers, body)
  if status == 200 and (bad_mark == "" or not string.find(body, bad_mark, 1, true)) then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local s, o, b = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent")
    o = o + t:get("ok")
    b = b + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"sent":%d,"ok":%d,"bad":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, s, o, b,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
