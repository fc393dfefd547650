"""davutil.py -- shared helpers of the CalDAV/CardDAV tests (test_dav_*.py)
and of bench/bench_dav_gen.py.

pytest loads only conftest.py, so the DAV fixtures live here and the test
modules import them by name (`from davutil import dav_server, ...`).

  - DAV: a raw client on http.client/ssl (keep-alive, no certificate
    check: the stack's certificate is self-signed) sending the exact XML a
    test gives, with Multistatus, a parser of 207 bodies on xml.etree;
  - ical_event / ical_todo / vcard: test data, recurring events with
    EXDATE and RECURRENCE-ID overrides, TZID with a VTIMEZONE, vCard 3/4;
  - DAVServer: where the server is and its URL layout.  The tests are
    written against Mortar's layout (/dav/principals/<user>/,
    /dav/calendars/<user>/, /dav/addressbooks/<user>/); the same tests can
    be pointed at Radicale, the reference server, whose layout is
    /<user>/ for all three;
  - Radicale: starts a private Radicale (temporary storage, plain htpasswd,
    TLS with a throw-away self-signed certificate) for validation and for
    bench/bench_dav.sh.

Environment of the tests (all optional):

  MORTAR_DAV_FLAVOR   mortar (default) or radicale: the URL layout, and which
                      checks run (see mortar_only / radicale_lacks)
  MORTAR_DAV_URL      server root, e.g. https://127.0.0.1:28443/ ; unset:
                      mortar -> the test stack of conftest.py's `stack`
                      fixture; radicale -> a private Radicale started here
  MORTAR_DAV_USER, MORTAR_DAV_PASS, MORTAR_DAV_USER2, MORTAR_DAV_PASS2
                      two users (defaults: alice@ and bob@ the stack domain
                      with the stack's run/credentials)
  MORTAR_DAV_PENDING  1: skip every Mortar-flavor DAV test (ngx_caldav not
                      wired into the stack yet).  Unset, they run and fail
                      if the server does not answer.
  MORTAR_DAV_MAX_BODY the server's largest accepted object, bytes
                      (default 10 MiB, CALDAV_ICAL_MAX_SIZE)
  MORTAR_DAV_RADICALE_PORT  port of the private Radicale (default 45232)
  MORTAR_DAV_STRICT   1: with the radicale flavor, run the checks marked
                      radicale_lacks too (they are expected to fail there)
"""

import base64
import hashlib
import http.client
import os
import random
import socket
import ssl
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from urllib.parse import quote, unquote, urlsplit

try:
    import pytest
except ImportError:  # bench/bench_dav_gen.py runs without pytest
    pytest = None

UTC = timezone.utc

NS = {
    "D": "DAV:",
    "C": "urn:ietf:params:xml:ns:caldav",
    "CR": "urn:ietf:params:xml:ns:carddav",
    "CS": "http://calendarserver.org/ns/",
    "A": "http://apple.com/ns/ical/",
}
XMLNS = " ".join('xmlns:%s="%s"' % (k, v) for k, v in NS.items())

FLAVOR = os.environ.get("MORTAR_DAV_FLAVOR", "mortar")
# With MORTAR_DAV_STRICT=1 the checks Radicale is known to fail run on
# Radicale too (to see them fail), instead of being skipped.
RADICALE_LAX = FLAVOR == "radicale" and os.environ.get("MORTAR_DAV_STRICT") != "1"
MAX_BODY = int(os.environ.get("MORTAR_DAV_MAX_BODY", str(10 * 1024 * 1024)))


def clark(name):
    """'D:getetag' -> '{DAV:}getetag' (a Clark name passes unchanged)."""
    if name.startswith("{"):
        return name
    prefix, _, local = name.partition(":")
    return "{%s}%s" % (NS[prefix], local)


def short(cname):
    """'{DAV:}getetag' -> 'D:getetag', for messages."""
    for k, v in NS.items():
        if cname.startswith("{%s}" % v):
            return k + ":" + cname[len(v) + 2:]
    return cname


def q(path):
    """Percent-encode a path for the request line ('/' and '@' kept)."""
    return quote(path, safe="/@:+")


def norm_href(href):
    """The decoded path of an href (absolute URL or path)."""
    return unquote(urlsplit(href).path)


def utc(y, mo, d, h=0, mi=0, s=0):
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def fmt_utc(dt):
    """datetime -> '20260105T100000Z' (aware datetimes are converted)."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y%m%dT%H%M%SZ")


# -- XML bodies ------------------------------------------------------------

def xml_doc(body):
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body


def prop_xml(props):
    return "".join("<%s/>" % p for p in props)


def propfind_xml(*props):
    return xml_doc('<D:propfind %s><D:prop>%s</D:prop></D:propfind>'
                   % (XMLNS, prop_xml(props)))


def sync_xml(token, props=("D:getetag",), level="1"):
    tok = "<D:sync-token>%s</D:sync-token>" % xml_escape(token) if token else "<D:sync-token/>"
    return xml_doc('<D:sync-collection %s>%s<D:sync-level>%s</D:sync-level>'
                   '<D:prop>%s</D:prop></D:sync-collection>'
                   % (XMLNS, tok, level, prop_xml(props)))


def calendar_query_xml(filter_xml, props=("D:getetag",), data=False, expand=None,
                       comp="VEVENT"):
    """A calendar-query; filter_xml goes inside <C:comp-filter name="VCALENDAR">.
    expand=(start, end) asks for C:expand inside C:calendar-data."""
    p = prop_xml(props)
    if expand:
        p += ('<C:calendar-data><C:expand start="%s" end="%s"/></C:calendar-data>'
              % (fmt_utc(expand[0]), fmt_utc(expand[1])))
    elif data:
        p += "<C:calendar-data/>"
    return xml_doc('<C:calendar-query %s><D:prop>%s</D:prop><C:filter>'
                   '<C:comp-filter name="VCALENDAR">%s</C:comp-filter>'
                   '</C:filter></C:calendar-query>' % (XMLNS, p, filter_xml))


def time_range_filter(start, end, comp="VEVENT"):
    return ('<C:comp-filter name="%s"><C:time-range start="%s" end="%s"/>'
            '</C:comp-filter>' % (comp, fmt_utc(start), fmt_utc(end)))


def multiget_xml(hrefs, props=("D:getetag",), card=False):
    root = "CR:addressbook-multiget" if card else "C:calendar-multiget"
    data = "<CR:address-data/>" if card else "<C:calendar-data/>"
    return xml_doc('<%s %s><D:prop>%s%s</D:prop>%s</%s>'
                   % (root, XMLNS, prop_xml(props), data,
                      "".join("<D:href>%s</D:href>" % xml_escape(q(h)) for h in hrefs),
                      root))


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


# -- responses ---------------------------------------------------------------

def parse_status(line):
    """'HTTP/1.1 404 Not Found' -> 404; None for None."""
    if line is None:
        return None
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


class Item:
    """One <D:response> of a multistatus."""

    def __init__(self, el):
        hrefs = el.findall(clark("D:href"))
        self.raw_href = hrefs[0].text.strip() if hrefs and hrefs[0].text else ""
        self.href = norm_href(self.raw_href)
        st = el.find(clark("D:status"))
        self.status = parse_status(st.text) if st is not None else None
        self.props = {}  # clark name -> (status, element)
        for ps in el.findall(clark("D:propstat")):
            status = parse_status(ps.findtext(clark("D:status")))
            prop = ps.find(clark("D:prop"))
            if prop is None:
                continue
            for p in prop:
                self.props[p.tag] = (status, p)
        self.error = el.find(clark("D:error"))

    def prop(self, name):
        """The element of a property found (status 200), else None."""
        st, el = self.props.get(clark(name), (None, None))
        return el if st == 200 else None

    def text(self, name):
        el = self.prop(name)
        if el is None:
            return None
        return (el.text or "").strip()

    def href_of(self, name):
        """The href inside a property (current-user-principal ...)."""
        el = self.prop(name)
        if el is None:
            return None
        h = el.find(clark("D:href"))
        return norm_href(h.text.strip()) if h is not None and h.text else None

    def hrefs_of(self, name):
        el = self.prop(name)
        if el is None:
            return []
        return [norm_href(h.text.strip()) for h in el.findall(clark("D:href")) if h.text]

    def status_of(self, name):
        return self.props.get(clark(name), (None, None))[0]

    def has_child(self, name, child):
        el = self.prop(name)
        return el is not None and el.find(".//" + clark(child)) is not None

    def children(self, name):
        el = self.prop(name)
        return [c.tag for c in el] if el is not None else []

    def __repr__(self):
        return "<Item %s status=%s props=%s>" % (
            self.href, self.status, {short(k): v[0] for k, v in self.props.items()})


class Multistatus:
    def __init__(self, body):
        self.root = ET.fromstring(body)
        if self.root.tag != clark("D:multistatus"):
            raise AssertionError("not a multistatus: %s" % self.root.tag)
        self.items = [Item(r) for r in self.root.findall(clark("D:response"))]
        tok = self.root.find(clark("D:sync-token"))
        self.sync_token = tok.text.strip() if tok is not None and tok.text else None

    def get(self, href):
        """The item of href: a decoded path ('/a/b c#1.ics') or a URL as the
        server sends it; a trailing slash does not count."""
        want = (href if href.startswith("/") else norm_href(href)).rstrip("/")
        for it in self.items:
            if it.href.rstrip("/") == want:
                return it
        return None

    def __getitem__(self, href):
        it = self.get(href)
        if it is None:
            raise KeyError("%s not in multistatus: %s" % (href, [i.href for i in self.items]))
        return it

    def hrefs(self):
        return {i.href for i in self.items}

    def names(self):
        """The last path segments of the members (what a collection holds)."""
        return {i.href.rstrip("/").rsplit("/", 1)[-1] for i in self.items}

    def __len__(self):
        return len(self.items)

    def __repr__(self):
        return "<Multistatus %r token=%s>" % (self.items, self.sync_token)


class Response:
    def __init__(self, method, path, status, reason, headers, body):
        self.method, self.path = method, path
        self.status, self.reason = status, reason
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name, default)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def etag(self):
        return self.headers.get("ETag")

    def xml(self):
        return ET.fromstring(self.body)

    def multistatus(self):
        assert self.status == 207, self.describe("expected 207")
        return Multistatus(self.body)

    def error_elements(self):
        """Clark names of the preconditions in a <D:error> body (empty set
        when the body is not one)."""
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError:
            return set()
        if root.tag != clark("D:error"):
            return set()
        return {c.tag for c in root}

    def describe(self, what=""):
        return "%s %s -> %s %s %s\n%s" % (self.method, self.path, self.status, self.reason,
                                          what, self.text[:2000])

    def __repr__(self):
        return "<Response %s %s %d>" % (self.method, self.path, self.status)


# -- the raw client ----------------------------------------------------------

def client_ip():
    """A fresh loopback source address (as conftest.py's): Dovecot-style
    auth penalties, if the server's authentication has any, hit only the
    address of the test that earned them."""
    n = random.randrange(1, 65534)
    return "127.1.%d.%d" % (n // 256, n % 256 or 1)


def insecure_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _HTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, source_ip, timeout):
        super().__init__(host, port, timeout=timeout, context=insecure_context(),
                         source_address=(source_ip, 0) if source_ip else None)


class DAV:
    """A DAV client on http.client: one keep-alive connection, Basic auth,
    the request line sent as given (q() encodes a path)."""

    def __init__(self, url, user=None, password=None, timeout=60, spread_source=True):
        u = urlsplit(url)
        self.url = url
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.user, self.password = user, password
        self.timeout = timeout
        self.source_ip = client_ip() if spread_source and self.host.startswith("127.") else None
        self._conn = None

    def auth_header(self, user=None, password=None):
        user = self.user if user is None else user
        password = self.password if password is None else password
        tok = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        return "Basic " + tok

    def _connect(self):
        if self.scheme == "https":
            return _HTTPS(self.host, self.port, self.source_ip, self.timeout)
        return http.client.HTTPConnection(
            self.host, self.port, timeout=self.timeout,
            source_address=(self.source_ip, 0) if self.source_ip else None)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method, path, body=None, headers=None, auth=True, depth=None):
        """One request.  auth: True (the client's user), False (none) or a
        (user, password) pair.  body: str or bytes.  Returns a Response."""
        hdrs = {}
        if auth is True and self.user is not None:
            hdrs["Authorization"] = self.auth_header()
        elif isinstance(auth, tuple):
            hdrs["Authorization"] = self.auth_header(*auth)
        if depth is not None:
            hdrs["Depth"] = str(depth)
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None and method in ("PROPFIND", "REPORT", "PROPPATCH", "MKCALENDAR",
                                           "MKCOL"):
            hdrs["Content-Type"] = 'application/xml; charset="utf-8"'
        hdrs.update(headers or {})
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.request(method, path, body=body, headers=hdrs)
                r = self._conn.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                # An idle keep-alive connection the server closed: once more
                # on a new one.
                self.close()
                if attempt:
                    raise
                continue
            if r.getheader("Connection", "").lower() == "close" or r.will_close:
                self.close()
            return Response(method, path, r.status, r.reason, r.headers, data)

    # -- methods -------------------------------------------------------

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def options(self, path, **kw):
        return self.request("OPTIONS", path, **kw)

    def delete(self, path, if_match=None, **kw):
        h = kw.pop("headers", {}) or {}
        if if_match:
            h["If-Match"] = if_match
        return self.request("DELETE", path, headers=h, **kw)

    def put(self, path, data, ctype=None, if_match=None, if_none_match=None, **kw):
        h = kw.pop("headers", {}) or {}
        if ctype is None:
            ctype = ("text/vcard; charset=utf-8" if path.endswith(".vcf")
                     else "text/calendar; charset=utf-8")
        h["Content-Type"] = ctype
        if if_match:
            h["If-Match"] = if_match
        if if_none_match:
            h["If-None-Match"] = if_none_match
        return self.request("PUT", path, body=data, headers=h, **kw)

    def propfind(self, path, *props, depth=0, body=None, **kw):
        if body is None:
            body = propfind_xml(*props)
        return self.request("PROPFIND", path, body=body, depth=depth, **kw)

    def props(self, path, *props, depth=0):
        """PROPFIND that must answer 207: the Multistatus."""
        return self.propfind(path, *props, depth=depth).multistatus()

    def one(self, path, *props):
        """PROPFIND Depth 0: the Item of path."""
        ms = self.props(path, *props, depth=0)
        it = ms.get(path)
        assert it is not None, "%s not in its own PROPFIND: %r" % (path, ms)
        return it

    def report(self, path, body, depth=None, **kw):
        return self.request("REPORT", path, body=body, depth=depth, **kw)

    def sync(self, path, token, props=("D:getetag",)):
        return self.report(path, sync_xml(token, props))

    def proppatch(self, path, set_props=None, remove=()):
        parts = []
        if set_props:
            parts.append("<D:set><D:prop>%s</D:prop></D:set>"
                         % "".join("<%s>%s</%s>" % (k, v, k) for k, v in set_props.items()))
        if remove:
            parts.append("<D:remove><D:prop>%s</D:prop></D:remove>" % prop_xml(remove))
        body = xml_doc('<D:propertyupdate %s>%s</D:propertyupdate>' % (XMLNS, "".join(parts)))
        return self.request("PROPPATCH", path, body=body)

    def mkcalendar(self, path, displayname=None, color=None, comps=None, description=None,
                   extra=""):
        props = ""
        if displayname is not None:
            props += "<D:displayname>%s</D:displayname>" % xml_escape(displayname)
        if description is not None:
            props += ("<C:calendar-description>%s</C:calendar-description>"
                      % xml_escape(description))
        if color is not None:
            props += "<A:calendar-color>%s</A:calendar-color>" % color
        if comps:
            props += ("<C:supported-calendar-component-set>%s"
                      "</C:supported-calendar-component-set>"
                      % "".join('<C:comp name="%s"/>' % c for c in comps))
        props += extra
        body = None
        if props:
            body = xml_doc('<C:mkcalendar %s><D:set><D:prop>%s</D:prop></D:set></C:mkcalendar>'
                           % (XMLNS, props))
        return self.request("MKCALENDAR", path, body=body)

    def mkaddressbook(self, path, displayname=None):
        """Extended MKCOL (RFC 5689) of an address book."""
        dn = ("<D:displayname>%s</D:displayname>" % xml_escape(displayname)
              if displayname else "")
        body = xml_doc('<D:mkcol %s><D:set><D:prop><D:resourcetype><D:collection/>'
                       '<CR:addressbook/></D:resourcetype>%s</D:prop></D:set></D:mkcol>'
                       % (XMLNS, dn))
        return self.request("MKCOL", path, body=body)

    # -- a socket of its own, for broken requests ------------------------

    def raw_socket(self):
        s = socket.create_connection((self.host, self.port), self.timeout,
                                     source_address=(self.source_ip, 0) if self.source_ip
                                     else None)
        if self.scheme == "https":
            s = insecure_context().wrap_socket(s, server_hostname=self.host)
        return s

    def head_lines(self, method, path, headers):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (self.host, self.port),
                 "Authorization: " + self.auth_header()]
        lines += ["%s: %s" % kv for kv in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_raw_response(sock, limit=1 << 20):
    """Status and bytes (headers and body, by Content-Length) of an HTTP
    response read from a raw socket; (None, what came) if the server closed
    the connection before a status line."""
    buf = b""
    sock.settimeout(30)
    try:
        while b"\r\n\r\n" not in buf and len(buf) < limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    except (ConnectionResetError, socket.timeout, ssl.SSLError):
        pass
    if not buf.startswith(b"HTTP/"):
        return None, buf
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length" and v.strip().isdigit():
            length = int(v.strip())
    try:
        while len(body) < min(length, limit):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except (ConnectionResetError, socket.timeout, ssl.SSLError):
        pass
    return int(buf.split(None, 2)[1]), head + b"\r\n\r\n" + body


# -- iCalendar and vCard -----------------------------------------------------

DTSTAMP = "20260101T000000Z"

VTIMEZONE_BERLIN = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""


def fold(line):
    """Fold a content line at 75 octets (RFC 5545 3.1), UTF-8 safe."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    out, cur, limit = [], b"", 75
    for ch in line:
        b = ch.encode("utf-8")
        if len(cur) + len(b) > limit:
            out.append(cur.decode("utf-8"))
            cur, limit = b"", 74
        cur += b
    out.append(cur.decode("utf-8"))
    return "\r\n ".join(out)


def ics_text(value):
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _dt_prop(name, value, tzid=None):
    """DTSTART etc. from a datetime (aware: UTC; naive + tzid: local time)
    or a date (all-day)."""
    if isinstance(value, datetime):
        if tzid:
            return "%s;TZID=%s:%s" % (name, tzid, value.strftime("%Y%m%dT%H%M%S"))
        return "%s:%s" % (name, fmt_utc(value))
    return "%s;VALUE=DATE:%s" % (name, value.strftime("%Y%m%d"))


def _vevent(uid, start, end=None, duration=None, summary="Event", tzid=None, rrule=None,
            exdates=(), recurrence_id=None, location=None, description=None, transp=None,
            status=None, extra=()):
    lines = ["BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:" + DTSTAMP]
    if recurrence_id is not None:
        lines.append(_dt_prop("RECURRENCE-ID", recurrence_id, tzid))
    lines.append(_dt_prop("DTSTART", start, tzid))
    if end is not None:
        lines.append(_dt_prop("DTEND", end, tzid))
    elif duration is not None:
        lines.append("DURATION:" + duration)
    if rrule:
        lines.append("RRULE:" + rrule)
    for x in exdates:
        lines.append(_dt_prop("EXDATE", x, tzid))
    lines.append("SUMMARY:" + ics_text(summary))
    if location:
        lines.append("LOCATION:" + ics_text(location))
    if description:
        lines.append("DESCRIPTION:" + ics_text(description))
    if transp:
        lines.append("TRANSP:" + transp)
    if status:
        lines.append("STATUS:" + status)
    lines += list(extra)
    lines.append("END:VEVENT")
    return lines


def ical_event(uid, start, end=None, duration=None, summary="Event", tzid=None, rrule=None,
               exdates=(), overrides=(), location=None, description=None, transp=None,
               status=None, extra=()):
    """A VCALENDAR with one event: start/end are aware datetimes (UTC),
    naive datetimes with tzid (Europe/Berlin gets its VTIMEZONE), or dates
    (all-day).  overrides: dicts with recurrence_id, start, end and
    optionally summary -- RECURRENCE-ID instances of the same UID."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Mortar//DAV tests//EN",
             "CALSCALE:GREGORIAN"]
    if tzid == "Europe/Berlin":
        lines += VTIMEZONE_BERLIN.split("\n")
    lines += _vevent(uid, start, end, duration, summary, tzid, rrule, exdates,
                     location=location, description=description, transp=transp,
                     status=status, extra=extra)
    for o in overrides:
        lines += _vevent(uid, o["start"], o.get("end"), o.get("duration"),
                         o.get("summary", summary), tzid, recurrence_id=o["recurrence_id"])
    lines.append("END:VCALENDAR")
    return "".join(fold(l) + "\r\n" for l in lines)


def ical_todo(uid, summary="Task", due=None, status="NEEDS-ACTION"):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Mortar//DAV tests//EN",
             "BEGIN:VTODO", "UID:" + uid, "DTSTAMP:" + DTSTAMP, "SUMMARY:" + ics_text(summary),
             "STATUS:" + status]
    if due is not None:
        lines.append(_dt_prop("DUE", due))
    lines += ["END:VTODO", "END:VCALENDAR"]
    return "".join(fold(l) + "\r\n" for l in lines)


def vcard(uid, fn, emails=(), version="4.0", tel=None, org=None, note=None):
    """A vCard 3.0 or 4.0; emails: addresses (the first is preferred)."""
    parts = fn.split(" ", 1)
    family = parts[1] if len(parts) > 1 else ""
    lines = ["BEGIN:VCARD", "VERSION:" + version, "PRODID:-//Mortar//DAV tests//EN"]
    lines.append("UID:" + uid)
    lines += ["FN:" + ics_text(fn), "N:%s;%s;;;" % (ics_text(family), ics_text(parts[0]))]
    for i, e in enumerate(emails):
        if version == "4.0":
            lines.append("EMAIL;TYPE=work%s:%s" % (";PREF=1" if i == 0 else "", e))
        else:
            lines.append("EMAIL;TYPE=INTERNET,WORK%s:%s" % (",PREF" if i == 0 else "", e))
    if tel:
        lines.append(("TEL;VALUE=uri;TYPE=cell:tel:%s" if version == "4.0"
                      else "TEL;TYPE=CELL:%s") % tel)
    if org:
        lines.append("ORG:" + ics_text(org))
    if note:
        lines.append("NOTE:" + ics_text(note))
    lines.append("END:VCARD")
    return "".join(fold(l) + "\r\n" for l in lines)


def unfold(text):
    return text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "")


def ical_props(text, name):
    """Values of every property `name` (e.g. 'SUMMARY', 'RECURRENCE-ID') in
    an iCalendar/vCard text, parameters dropped."""
    out = []
    for line in unfold(text).splitlines():
        head, sep, value = line.partition(":")
        if sep and head.split(";", 1)[0].upper() == name:
            out.append(value)
    return out


def new_uid(prefix="t"):
    return "%s-%s@mortar.test" % (prefix, uuid.uuid4().hex)


# -- where the server is ---------------------------------------------------

class DAVServer:
    """A DAV server under test: its root URL, two users and its layout."""

    def __init__(self, url, users, flavor=FLAVOR, note=""):
        self.url = url.rstrip("/") + "/"
        self.users = users  # [(user, password), (user2, password2)]
        self.flavor = flavor
        self.note = note

    @property
    def mortar(self):
        return self.flavor == "mortar"

    @property
    def user(self):
        return self.users[0][0]

    @property
    def user2(self):
        return self.users[1][0]

    def client(self, i=0, **kw):
        return DAV(self.url, self.users[i][0], self.users[i][1], **kw)

    # The layout.  Paths are decoded; q() encodes them for a request line.
    @property
    def dav_root(self):
        return "/dav/" if self.mortar else "/"

    def principal(self, user):
        return "/dav/principals/%s/" % user if self.mortar else "/%s/" % user

    def calendar_home(self, user):
        return "/dav/calendars/%s/" % user if self.mortar else "/%s/" % user

    def addressbook_home(self, user):
        return "/dav/addressbooks/%s/" % user if self.mortar else "/%s/" % user

    def default_calendar(self, user):
        return self.calendar_home(user) + "default/"

    def default_addressbook(self, user):
        return self.addressbook_home(user) + "default/"

    def directory(self, user):
        return self.addressbook_home(user) + "directory/"

    def abs_url(self, path):
        return self.url.rstrip("/") + q(path)

    def fingerprint(self):
        """SHA-256 of the server's certificate, 'AA:BB:...' (vdirsyncer's
        verify_fingerprint)."""
        u = urlsplit(self.url)
        pem = ssl.get_server_certificate((u.hostname, u.port or 443))
        der = ssl.PEM_cert_to_DER_cert(pem)
        h = hashlib.sha256(der).hexdigest().upper()
        return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


# -- a private Radicale ----------------------------------------------------

PYTHON = "/usr/bin/python3"  # Debian's, with python3-radicale


class Radicale:
    """Radicale 3 on 127.0.0.1:port, storage and config under workdir,
    plain htpasswd with the given users, TLS (self-signed) unless
    tls=False.  start() waits until it answers; stop() ends it."""

    def __init__(self, workdir, port, users, tls=True, max_body=MAX_BODY, log_level="warning"):
        self.dir = os.path.abspath(workdir)
        self.port = port
        self.users = users  # {user: password}
        self.tls = tls
        self.max_body = max_body
        self.log_level = log_level
        self.proc = None
        self.storage = os.path.join(self.dir, "collections")
        self.logfile = os.path.join(self.dir, "radicale.log")

    @property
    def url(self):
        return "%s://127.0.0.1:%d/" % ("https" if self.tls else "http", self.port)

    def collection_dir(self, path):
        """Folder of a collection path ('/alice@example.test/cal/')."""
        return os.path.join(self.storage, "collection-root", path.strip("/"))

    def start(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 1).close()
            raise RuntimeError("127.0.0.1:%d is taken: another server listens there" % self.port)
        except OSError:
            pass
        os.makedirs(self.storage, exist_ok=True)
        htpasswd = os.path.join(self.dir, "users")
        with open(htpasswd, "w") as f:
            for u, p in self.users.items():
                f.write("%s:%s\n" % (u, p))
        ssl_lines = "ssl = False\n"
        if self.tls:
            cert = os.path.join(self.dir, "cert.pem")
            key = os.path.join(self.dir, "key.pem")
            if not os.path.exists(cert):
                subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                "-keyout", key, "-out", cert, "-days", "2", "-subj",
                                "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                               check=True, capture_output=True)
            ssl_lines = "ssl = True\ncertificate = %s\nkey = %s\n" % (cert, key)
        conf = os.path.join(self.dir, "config")
        with open(conf, "w") as f:
            f.write("[server]\nhosts = 127.0.0.1:%d\nmax_connections = 32\n"
                    "max_content_length = %d\ntimeout = 120\n%s\n"
                    "[auth]\ntype = htpasswd\nhtpasswd_filename = %s\n"
                    "htpasswd_encryption = plain\ndelay = 0\n\n"
                    "[rights]\ntype = owner_only\n\n"
                    "[storage]\nfilesystem_folder = %s\n\n"
                    "[web]\ntype = none\n\n"
                    "[logging]\nlevel = %s\n"
                    % (self.port, self.max_body, ssl_lines, htpasswd, self.storage,
                       self.log_level))
        log = open(self.logfile, "ab")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen([PYTHON, "-m", "radicale", "--config", conf],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=env, start_new_session=True)
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("radicale exited %s; log:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("radicale did not listen on %d; log:\n%s"
                           % (self.port, self.log_tail()))

    def log_tail(self, n=4000):
        try:
            with open(self.logfile, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


# -- pytest fixtures (imported by name into test_dav_*.py) -----------------

if pytest is not None:

    def mortar_only(why):
        """A check of Mortar's own contract (layout, directory, limits):
        skipped when the tests are pointed at Radicale."""
        return pytest.mark.skipif(FLAVOR != "mortar", reason="Mortar-only: " + why)

    def radicale_lacks(why):
        """A generic RFC check that Radicale 3.1.8 does not pass: runs on
        every flavor but radicale."""
        return pytest.mark.skipif(RADICALE_LAX, reason="Radicale 3.1.8 lacks it: " + why)

    def _env_users(default_users):
        u1 = os.environ.get("MORTAR_DAV_USER", default_users[0][0])
        p1 = os.environ.get("MORTAR_DAV_PASS", default_users[0][1])
        u2 = os.environ.get("MORTAR_DAV_USER2", default_users[1][0])
        p2 = os.environ.get("MORTAR_DAV_PASS2", default_users[1][1])
        return [(u1, p1), (u2, p2)]

    # Each test module that imports dav_server gets a fixture of its own
    # (pytest registers it per module): the server they share is kept here.
    _SHARED = {}

    @pytest.fixture(scope="session")
    def dav_server(request, tmp_path_factory):
        if FLAVOR == "mortar" and os.environ.get("MORTAR_DAV_PENDING") == "1":
            pytest.skip("MORTAR_DAV_PENDING=1: the DAV module is not wired into the stack yet")
        if "server" in _SHARED:
            yield _SHARED["server"]
            return
        gen = _make_server(request, tmp_path_factory)
        _SHARED["server"] = next(gen)
        try:
            yield _SHARED["server"]
        finally:
            _SHARED.pop("server", None)
            gen.close()

    def _make_server(request, tmp_path_factory):
        url = os.environ.get("MORTAR_DAV_URL")
        if url:
            users = _env_users([("alice@example.test", ""), ("bob@example.test", "")])
            yield DAVServer(url, users, FLAVOR, note="MORTAR_DAV_URL")
            return
        if FLAVOR == "radicale":
            users = _env_users([("alice@example.test", "alice-pw-" + uuid.uuid4().hex[:8]),
                                ("bob@example.test", "bob-pw-" + uuid.uuid4().hex[:8])])
            port = int(os.environ.get("MORTAR_DAV_RADICALE_PORT", "45232"))
            rad = Radicale(str(tmp_path_factory.mktemp("radicale")), port, dict(users))
            rad.start()
            try:
                yield DAVServer(rad.url, users, "radicale", note="private Radicale")
            finally:
                rad.stop()
            return
        stack = request.getfixturevalue("stack")
        alice, bob = "alice@" + stack.domain, "bob@" + stack.domain
        users = _env_users([(alice, stack.passwords[alice]), (bob, stack.passwords[bob])])
        yield DAVServer("https://%s:%d/" % (stack.host, stack.port("https")), users, "mortar",
                        note="test stack %s" % stack.conf)

    @pytest.fixture
    def dav(dav_server):
        c = dav_server.client(0)
        yield c
        c.close()

    @pytest.fixture
    def dav2(dav_server):
        c = dav_server.client(1)
        yield c
        c.close()

    def _fresh(dav, home, make):
        path = home + "t-%s/" % uuid.uuid4().hex[:12]
        r = make(path)
        assert r.status == 201, r.describe("making a test collection")
        return path

    @pytest.fixture
    def calendar(dav_server, dav):
        """A new calendar of user 1 for one test; deleted afterwards."""
        path = _fresh(dav, dav_server.calendar_home(dav_server.user),
                      lambda p: dav.mkcalendar(p, displayname="Test " + p.split("/")[-2]))
        yield path
        dav.delete(q(path))

    @pytest.fixture
    def calendar2(dav_server, dav2):
        """A new calendar of user 2 for one test; deleted afterwards."""
        path = _fresh(dav2, dav_server.calendar_home(dav_server.user2),
                      lambda p: dav2.mkcalendar(p, displayname="Bob " + p.split("/")[-2]))
        yield path
        dav2.delete(q(path))

    @pytest.fixture
    def addressbook(dav_server, dav):
        """A new address book of user 1 for one test; deleted afterwards."""
        path = _fresh(dav, dav_server.addressbook_home(dav_server.user),
                      lambda p: dav.mkaddressbook(p, displayname="Contacts " + p.split("/")[-2]))
        yield path
        dav.delete(q(path))
