-- bench_dav.lua -- one fixed DAV request, for wrk (bench/bench_dav.sh).
--
-- Environment:
--   DAV_METHOD   PROPFIND, REPORT, GET ...
--   DAV_BODY     file holding the request body (optional)
--   DAV_DEPTH    Depth header (optional)
--   DAV_AUTH     the Authorization header value ("Basic ...")
-- The URL given to wrk is the target.  done() prints one line
--   RESULT requests=N p50_us=N p99_us=N mean_us=N errors=N status_errors=N
-- that bench_dav_gen.py reads; wrk counts status >= 400 in status_errors.

wrk.method = os.getenv("DAV_METHOD") or "GET"
wrk.headers["Authorization"] = os.getenv("DAV_AUTH")
local depth = os.getenv("DAV_DEPTH")
if depth and depth ~= "" then
   wrk.headers["Depth"] = depth
end
local bodyfile = os.getenv("DAV_BODY")
if bodyfile and bodyfile ~= "" then
   local f = assert(io.open(bodyfile, "rb"))
   wrk.body = f:read("*a")
   f:close()
   wrk.headers["Content-Type"] = "application/xml; charset=utf-8"
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d p50_us=%d p99_us=%d mean_us=%.0f errors=%d status_errors=%d\n",
      summary.requests, latency:percentile(50), latency:percentile(99), latency.mean,
      e.connect + e.read + e.write + e.timeout, e.status))
end
