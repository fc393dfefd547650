#!/usr/bin/python3
"""bench_dav_gen.py -- data, loading, checks and timing of bench/bench_dav.sh.

Sub-commands (bench_dav.sh runs `run`; the others help to look closer):

  gen  --size N --out DIR       write the N events of a calendar (ev000001.ics ...)
  run  --sizes 200,1000 [--mortar-url URL --mortar-user U --mortar-pass-file F]
       [--radicale-only] [--seconds S] [--radicale-port P] [--max-minutes M]
                                the whole benchmark: a private Radicale 3.1.8
                                on 127.0.0.1:P (plain HTTP, its best case),
                                the same calendars in both servers, a check
                                that both list the same hrefs and ETags, then
                                the timings and a table.

The calendars are deterministic (seeded by their size): events spread over
2024-2027, 10% weekly recurring (bounded by COUNT or UNTIL, or unbounded),
a third of these with an EXDATE and a fifth with a moved RECURRENCE-ID
instance, a fifth of all events in Europe/Berlin time with its VTIMEZONE,
some all-day.  Radicale gets them written straight into its storage
folder (with its .Radicale.props); Mortar gets them by PUT over HTTPS.

Timings: each request is first sent once alone.  When it takes under
--slow seconds (0.5) it is timed with wrk (2 threads, 4 connections,
--seconds each) and the table shows wrk's p50; slower requests (Radicale
on big calendars) are timed sequentially, up to 3 times within a budget of
--budget seconds (60), and the table shows their mean, marked "seq".
"""

import argparse
import base64
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import davutil  # noqa: E402  (the DAV client and the Radicale launcher of the tests)

BENCH = os.path.dirname(os.path.abspath(__file__))
UTC = timezone.utc
WEEK = (datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC))
REPORT_TARGET_MS = 50.0
RATIO_TARGET = 20.0

WORDS = ("budget review planning sync standup lunch dentist flight train offsite "
         "interview retro demo workshop call customer board hiring design roadmap "
         "yoga football piano parents birthday concert").split()


# -- data ----------------------------------------------------------------------

def fmt_local(dt):
    return dt.strftime("%Y%m%dT%H%M%S")


def gen_event(rng, size, i):
    """(name, iCalendar text) of event i of a calendar of size events."""
    uid = "bench-%d-%06d@mortar.test" % (size, i)
    name = "ev%06d.ics" % i
    day = date(2024, 1, 1) + timedelta(days=rng.randrange(4 * 365))
    hour, minute = rng.randrange(7, 19), rng.choice((0, 15, 30, 45))
    length = timedelta(minutes=rng.choice((30, 45, 60, 90, 120)))
    start = datetime(day.year, day.month, day.day, hour, minute)
    berlin = rng.random() < 0.2
    recurring = i % 10 == 0
    allday = not recurring and rng.random() < 0.05
    summary = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 4))).capitalize()
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Mortar//bench//EN"]
    if berlin and not allday:
        lines += davutil.VTIMEZONE_BERLIN.split("\n")

    def dtprop(prop, dt):
        if berlin:
            return "%s;TZID=Europe/Berlin:%s" % (prop, fmt_local(dt))
        return "%s:%sZ" % (prop, fmt_local(dt))

    lines += ["BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20260101T000000Z"]
    if allday:
        lines += ["DTSTART;VALUE=DATE:" + day.strftime("%Y%m%d"),
                  "DTEND;VALUE=DATE:" + (day + timedelta(days=1)).strftime("%Y%m%d")]
    else:
        lines += [dtprop("DTSTART", start), dtprop("DTEND", start + length)]
    overrides = []
    if recurring:
        kind = rng.random()
        if kind < 0.6:
            lines.append("RRULE:FREQ=WEEKLY;COUNT=%d" % rng.randrange(4, 53))
        elif kind < 0.8:
            until = start + timedelta(weeks=rng.randrange(4, 80))
            lines.append("RRULE:FREQ=WEEKLY;UNTIL=%sZ" % fmt_local(until))
        else:
            lines.append("RRULE:FREQ=WEEKLY")
        if rng.random() < 0.33:
            lines.append(dtprop("EXDATE", start + timedelta(weeks=2)))
        if rng.random() < 0.2:
            rid = start + timedelta(weeks=3)
            moved = rid + timedelta(days=1, hours=2)
            overrides = ["BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20260101T000000Z",
                         dtprop("RECURRENCE-ID", rid), dtprop("DTSTART", moved),
                         dtprop("DTEND", moved + length), "SUMMARY:%s (moved)" % summary,
                         "END:VEVENT"]
    lines.append("SUMMARY:" + summary)
    if rng.random() < 0.3:
        lines.append("LOCATION:Room %d" % rng.randrange(1, 40))
    if rng.random() < 0.3:
        lines.append("DESCRIPTION:" + " ".join(rng.choice(WORDS) for _ in range(20)))
    lines.append("END:VEVENT")
    lines += overrides
    lines.append("END:VCALENDAR")
    return name, "".join(l + "\r\n" for l in lines)


def gen_calendar(size):
    rng = random.Random(20261128 + size)
    return [gen_event(rng, size, i) for i in range(1, size + 1)]


# -- loading -------------------------------------------------------------------

def load_radicale(rad, user, password, coll_path, events):
    """Write the events straight into Radicale's storage."""
    c = davutil.DAV(rad.url, user, password, spread_source=False)
    c.propfind("/", "D:current-user-principal")  # Radicale makes the principal
    c.close()
    folder = rad.collection_dir(coll_path)
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    with open(os.path.join(folder, ".Radicale.props"), "w") as f:
        json.dump({"tag": "VCALENDAR", "D:displayname": "bench " + coll_path.strip("/")}, f)
    for name, data in events:
        with open(os.path.join(folder, name), "w", encoding="utf-8", newline="") as f:
            f.write(data)


def load_dav(url, user, password, coll_path, events, threads=4):
    """MKCALENDAR (after deleting an earlier one) and PUT every event."""
    c = davutil.DAV(url, user, password)
    c.delete(davutil.q(coll_path))
    r = c.mkcalendar(davutil.q(coll_path), displayname="bench " + coll_path.strip("/"))
    if r.status != 201:
        sys.exit("bench: MKCALENDAR %s%s: %s" % (url, coll_path, r.describe()))
    c.close()
    errors = []
    lock = threading.Lock()
    it = iter(events)

    def worker():
        d = davutil.DAV(url, user, password)
        while True:
            with lock:
                item = next(it, None)
            if item is None or errors:
                break
            name, data = item
            r = d.put(davutil.q(coll_path + name), data)
            if r.status not in (200, 201, 204):
                errors.append(r.describe())
                break
        d.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.exit("bench: loading %s%s: %s" % (url, coll_path, errors[0]))


def listing(url, user, password, coll_path):
    """{name: etag} of a calendar by PROPFIND Depth 1."""
    c = davutil.DAV(url, user, password, timeout=600)
    ms = c.props(davutil.q(coll_path), "D:getetag", depth=1)
    c.close()
    out = {}
    for it in ms.items:
        if it.href.rstrip("/") == coll_path.rstrip("/"):
            continue
        out[it.href.rstrip("/").rsplit("/", 1)[-1]] = it.text("D:getetag")
    return out


# -- requests ------------------------------------------------------------------

def bodies(workdir):
    x = davutil
    b = {
        "propfind_d1": x.propfind_xml("D:getetag", "D:getcontenttype", "D:resourcetype"),
        "getctag": x.propfind_xml("CS:getctag"),
        "report_week": x.calendar_query_xml(x.time_range_filter(*WEEK)),
    }
    paths = {}
    for k, v in b.items():
        p = os.path.join(workdir, k + ".xml")
        with open(p, "w") as f:
            f.write(v)
        paths[k] = p
    return paths


def sync_body(workdir, server, coll_path, tag):
    """A sync-collection body with the collection's newest token."""
    c = davutil.DAV(server["url"], server["user"], server["password"], timeout=600,
                    spread_source=False)
    r = c.sync(davutil.q(coll_path), "")
    c.close()
    ms = r.multistatus()
    p = os.path.join(workdir, "sync_%s.xml" % tag)
    with open(p, "w") as f:
        f.write(davutil.sync_xml(ms.sync_token))
    return p


class Case:
    def __init__(self, label, method, depth=None, body=None, put=False, get=None):
        self.label, self.method, self.depth, self.body = label, method, depth, body
        self.put, self.get = put, get


def auth_value(server):
    return "Basic " + base64.b64encode(("%s:%s" % (server["user"], server["password"]))
                                       .encode()).decode()


def one_request(server, coll_path, case, conn=None, n=0):
    """Time one request on conn (a davutil.DAV); returns (seconds, status)."""
    path = coll_path + (case.get or "")
    body = None
    headers = {}
    if case.put:
        name = "seq-%s-%d" % (uuid.uuid4().hex[:10], n)
        path = coll_path + name + ".ics"
        body = davutil.ical_event(name + "@bench.mortar.test", datetime(2026, 3, 10, 9, tzinfo=UTC),
                                  datetime(2026, 3, 10, 9, 30, tzinfo=UTC), summary="seq put")
        headers = {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"}
    elif case.body:
        with open(case.body, "rb") as f:
            body = f.read()
    t = time.monotonic()
    r = conn.request(case.method, davutil.q(path), body=body, headers=headers, depth=case.depth)
    return time.monotonic() - t, r.status


def measure(server, coll_path, case, args, run_tag, deadline):
    """{'ms': p50-or-mean, 'how': text, 'rps': float or None, 'bad': n}."""
    if time.monotonic() > deadline:
        return {"ms": None, "how": "skipped (time budget)", "rps": None, "bad": 0}
    conn = davutil.DAV(server["url"], server["user"], server["password"],
                       timeout=args.timeout, spread_source=False)
    try:
        # Sent twice alone: the faster one decides (a first request may
        # fill a cache).
        dt, status = one_request(server, coll_path, case, conn, 0)
        if status >= 400:
            return {"ms": None, "how": "HTTP %d" % status, "rps": None, "bad": 1}
        if dt < args.budget / 3:
            dt2, status = one_request(server, coll_path, case, conn, 1)
            if status >= 400:
                return {"ms": None, "how": "HTTP %d" % status, "rps": None, "bad": 1}
            dt = min(dt, dt2)
        if dt >= args.slow:
            times = [dt]
            while (len(times) < 3 and sum(times) + statistics.mean(times) < args.budget
                   and time.monotonic() < deadline):
                d, st = one_request(server, coll_path, case, conn, len(times) + 1)
                if st >= 400:
                    return {"ms": None, "how": "HTTP %d" % st, "rps": None, "bad": 1}
                times.append(d)
            return {"ms": statistics.mean(times) * 1000, "how": "seq n=%d" % len(times),
                    "rps": 1.0 / statistics.mean(times), "bad": 0}
    finally:
        conn.close()
    env = dict(os.environ, DAV_AUTH=auth_value(server), DAV_METHOD=case.method,
               DAV_DEPTH="" if case.depth is None else str(case.depth), DAV_BODY=case.body or "",
               DAV_COLL=coll_path, DAV_RUN=run_tag)
    script = os.path.join(BENCH, "bench_dav_put.lua" if case.put else "bench_dav.lua")
    url = server["url"].rstrip("/") + davutil.q(coll_path + (case.get or ""))
    cmd = ["wrk", "-t%d" % min(2, args.connections), "-c%d" % args.connections,
           "-d%ds" % args.seconds, "--timeout", "%ds" % args.timeout,
           "-s", script, url]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env,
                       timeout=args.seconds + args.timeout + 30)
    m = re.search(r"RESULT requests=(\d+) p50_us=(\d+) p99_us=(\d+) mean_us=(\d+) "
                  r"errors=(\d+) status_errors=(\d+)", r.stdout)
    if not m:
        return {"ms": None, "how": "wrk failed: %s" % (r.stderr or r.stdout)[-200:], "rps": None,
                "bad": 1}
    n, p50, p99, mean, errs, serrs = (int(v) for v in m.groups())
    secs = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    how = "wrk p50 (n=%d, p99 %.1f ms)" % (n, p99 / 1000)
    if errs or serrs:
        how += " %d errors, %d HTTP>=400" % (errs, serrs)
    return {"ms": p50 / 1000 if n else None, "how": how,
            "rps": float(secs.group(1)) if secs else None, "bad": errs + serrs}


# -- the run -------------------------------------------------------------------

def fmt_ms(v):
    if v is None:
        return "-"
    return "%.2f" % v if v < 10 else "%.1f" % v if v < 1000 else "%.0f" % v


def run(args):
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is missing (scripts/deps.sh installs it)")
    work = tempfile.mkdtemp(prefix="bench-dav-")
    deadline = time.monotonic() + args.max_minutes * 60
    user = args.mortar_user or "alice@example.test"
    rad_pw = "bench-" + uuid.uuid4().hex[:12]
    rad = davutil.Radicale(os.path.join(work, "radicale"), args.radicale_port, {user: rad_pw},
                           tls=False)
    servers = {"radicale": {"url": rad.url, "user": user, "password": rad_pw,
                            "home": "/%s/" % user}}
    if not args.radicale_only:
        with open(args.mortar_pass_file) as f:
            mpw = f.read().strip()
        servers["mortar"] = {"url": args.mortar_url, "user": user, "password": mpw,
                             "home": "/dav/calendars/%s/" % user}
    order = ["radicale", "mortar"] if "mortar" in servers else ["radicale"]
    print("bench_dav: Radicale 3.1.8 on %s (plain HTTP, multifilesystem)%s"
          % (rad.url, "" if args.radicale_only else "; Mortar on %s" % args.mortar_url))
    print("bench_dav: wrk -c%d -d%ds per request below %.1f s, else sequential (<= 3, "
          "budget %d s); one-week REPORT = calendar-query %s..%s returning ETags\n"
          % (args.connections, args.seconds, args.slow, args.budget,
             davutil.fmt_utc(WEEK[0]), davutil.fmt_utc(WEEK[1])))
    rad.start()
    results = []  # (label, size, {server: result})
    try:
        paths = bodies(work)
        for size in sizes:
            events = gen_calendar(size)
            coll = "bench-%d/" % size
            t = time.monotonic()
            load_radicale(rad, user, rad_pw, servers["radicale"]["home"] + coll, events)
            print("size %d: Radicale loaded in %.1f s" % (size, time.monotonic() - t), flush=True)
            if "mortar" in servers:
                m = servers["mortar"]
                t = time.monotonic()
                load_dav(m["url"], user, m["password"], m["home"] + coll, events)
                print("size %d: Mortar loaded (PUT) in %.1f s" % (size, time.monotonic() - t),
                      flush=True)
            # Same hrefs and ETag counts on both before timing.
            lists = {}
            for name in order:
                s = servers[name]
                t = time.monotonic()
                lists[name] = listing(s["url"], user, s["password"], s["home"] + coll)
                print("size %d: %s lists %d hrefs, %d ETags (first PROPFIND %.1f s)"
                      % (size, name, len(lists[name]), sum(1 for v in lists[name].values() if v),
                         time.monotonic() - t), flush=True)
            want = {n for n, _ in events}
            for name in order:
                if set(lists[name]) != want or not all(lists[name].values()):
                    sys.exit("bench: %s does not list the %d events of %s (%d hrefs, %d missing)"
                             % (name, size, coll, len(lists[name]), len(want - set(lists[name]))))
            cases = [
                ("PROPFIND Depth 1", Case("propfind_d1", "PROPFIND", 1, paths["propfind_d1"])),
                ("REPORT one week", Case("report_week", "REPORT", 1, paths["report_week"])),
                ("getctag Depth 0", Case("getctag", "PROPFIND", 0, paths["getctag"])),
                ("sync-collection, no change", None),
                ("GET one event", Case("get", "GET", get="ev000001.ics")),
                ("PUT new event", Case("put", "PUT", put=True)),
            ]
            for label, case in cases:
                row = {}
                for name in order:
                    s = servers[name]
                    c = case
                    if c is None:
                        c = Case("sync", "REPORT", None,
                                 sync_body(work, s, s["home"] + coll, "%s-%d" % (name, size)))
                    row[name] = measure(s, s["home"] + coll, c, args,
                                        "%s%d" % (uuid.uuid4().hex[:6], size), deadline)
                    print("  %-28s %6d  %-8s %9s ms  %s" % (label, size, name,
                                                          fmt_ms(row[name]["ms"]),
                                                          row[name]["how"]), flush=True)
                results.append((label, size, row))
            if "mortar" in servers and not args.keep:
                m = servers["mortar"]
                c = davutil.DAV(m["url"], user, m["password"], timeout=args.timeout)
                c.delete(davutil.q(m["home"] + coll))
                c.close()
    finally:
        rad.stop()
        shutil.rmtree(work, ignore_errors=True)
    table(results, order, args.connections)


def table(results, order, connections):
    print()
    mortar = "mortar" in order
    head = "%-28s %6s %12s %8s" % ("request", "events", "Radicale ms", "how")
    if mortar:
        head += " %10s %8s  %s" % ("Mortar ms", "ratio", "target >= %dx" % RATIO_TARGET)
    print(head)
    print("-" * len(head))
    for label, size, row in results:
        r = row["radicale"]
        how = "seq" if r["how"].startswith("seq") else "wrk" if r["how"].startswith("wrk") \
            else r["how"][:8]
        line = "%-28s %6d %12s %8s" % (label, size, fmt_ms(r["ms"]), how)
        if mortar:
            m = row["mortar"]
            ratio = (r["ms"] / m["ms"]) if r["ms"] and m["ms"] else None
            line += " %10s %8s  %s" % (fmt_ms(m["ms"]), "%.1fx" % ratio if ratio else "-",
                                       "" if ratio is None else
                                       "ok" if ratio >= RATIO_TARGET else "BELOW")
        print(line)
    print("\nRadicale ms: wrk p50 (%d connections) when a request takes < 0.5 s "
          "alone, else the mean of up to 3 sequential requests (\"seq\")."
          % connections)
    if mortar:
        hit = [row["mortar"]["ms"] for label, size, row in results
               if label == "REPORT one week" and size == 20000]
        if hit and hit[0] is not None:
            print("Mortar one-week REPORT on 20,000 events: %.1f ms (target <= %.0f ms): %s"
                  % (hit[0], REPORT_TARGET_MS, "ok" if hit[0] <= REPORT_TARGET_MS else "MISSED"))
        else:
            print("Mortar one-week REPORT on 20,000 events: not measured (add 20000 to --sizes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--size", type=int, required=True)
    g.add_argument("--out", required=True)
    r = sub.add_parser("run")
    r.add_argument("--sizes", default="200,1000,5000,20000")
    r.add_argument("--radicale-only", action="store_true")
    r.add_argument("--radicale-port", type=int, default=45242)
    r.add_argument("--mortar-url")
    r.add_argument("--mortar-user")
    r.add_argument("--mortar-pass-file")
    r.add_argument("--seconds", type=int, default=5, help="wrk duration per case")
    r.add_argument("--connections", type=int, default=4,
                   help="wrk connections (1: one client's latency, no queueing)")
    r.add_argument("--timeout", type=int, default=120, help="seconds one request may take")
    r.add_argument("--slow", type=float, default=0.5,
                   help="a request slower than this alone is timed sequentially")
    r.add_argument("--budget", type=int, default=60, help="seconds per sequential case")
    r.add_argument("--keep", action="store_true",
                   help="keep the bench-<size> calendars on Mortar (deleted by default)")
    r.add_argument("--max-minutes", type=float, default=40,
                   help="cases left when this is over are skipped")
    a = ap.parse_args()
    if a.cmd == "gen":
        os.makedirs(a.out, exist_ok=True)
        for name, data in gen_calendar(a.size):
            with open(os.path.join(a.out, name), "w", newline="") as f:
                f.write(data)
        return
    if not a.radicale_only and not (a.mortar_url and a.mortar_pass_file):
        ap.error("--mortar-url and --mortar-pass-file, or --radicale-only")
    run(a)


if __name__ == "__main__":
    main()
