-- bench_dav_put.lua -- PUT of a new event on every request, for wrk
-- (bench/bench_dav.sh).  Names and UIDs are unique per run, thread and
-- request: <DAV_COLL>wrk-<run>-<thread>-<n>.ics.
--
-- Environment:
--   DAV_COLL     the calendar's path, with its trailing slash
--   DAV_AUTH     the Authorization header value ("Basic ...")
--   DAV_RUN      a tag unique to this run
-- Prints the same RESULT line as bench_dav.lua.

local coll = os.getenv("DAV_COLL")
local auth = os.getenv("DAV_AUTH")
local run = os.getenv("DAV_RUN") or tostring(os.time())

local threads = {}
local counter = 1

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   counter = 0
end

local template = table.concat({
   "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Mortar//bench//EN",
   "BEGIN:VEVENT", "UID:%s@bench.mortar.test", "DTSTAMP:20260101T000000Z",
   "DTSTART:20260310T090000Z", "DTEND:20260310T093000Z",
   "SUMMARY:wrk put %s", "END:VEVENT", "END:VCALENDAR", ""}, "\r\n")

function request()
   counter = counter + 1
   local name = string.format("wrk-%s-%d-%d", run, tid, counter)
   local body = string.format(template, name, name)
   return wrk.format("PUT", coll .. name .. ".ics",
                     {["Authorization"] = auth,
                      ["Content-Type"] = "text/calendar; charset=utf-8",
                      ["If-None-Match"] = "*"}, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d p50_us=%d p99_us=%d mean_us=%.0f errors=%d status_errors=%d\n",
      summary.requests, latency:percentile(50), latency:percentile(99), latency.mean,
      e.connect + e.read + e.write + e.timeout, e.status))
end
