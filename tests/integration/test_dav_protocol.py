"""CalDAV/CardDAV on the wire: what a demanding user (or a picky client)
notices, with the exact requests and the exact XML.

Discovery, MKCALENDAR/PROPPATCH, ETags and conditional requests, ctag and
sync-collection (RFC 6578), calendar-query with time ranges over recurring
events (EXDATE, moved RECURRENCE-ID overrides, TZID across DST, all-day,
DURATION), multiget, free-busy, expand, CardDAV queries with vCard 3 and 4,
the read-only global address book, access between users, hostile paths and
bodies, limits, and an interrupted PUT.

Runs against Mortar's test stack by default; MORTAR_DAV_FLAVOR=radicale
runs the same file against a private Radicale 3.1.8 (davutil.py), the
reference every generic check here was validated on.  Checks of Mortar's
own contract are marked mortar_only; RFC checks Radicale fails are marked
radicale_lacks (they run against every other server).
"""

import datetime
import re
import select
import ssl
import time
import uuid

import pytest

from davutil import (MAX_BODY, RADICALE_LAX, Multistatus, addressbook, calendar, calendar2,  # noqa: F401
                     calendar_query_xml, clark, dav, dav2, dav_server, ical_event,
                     ical_props, ical_todo, mortar_only, multiget_xml, new_uid, norm_href,
                     q, radicale_lacks, read_raw_response, time_range_filter, utc, vcard,
                     xml_doc, XMLNS)


def name_of(href):
    return norm_href(href).rstrip("/").rsplit("/", 1)[-1]


def put_ok(dav, path, data, **kw):
    r = dav.put(q(path), data, **kw)
    assert r.status in (201, 204), r.describe()
    return r


def etag_of(dav, path):
    r = dav.get(q(path))
    assert r.status == 200, r.describe()
    return r.etag


# == discovery ==============================================================

@pytest.mark.parametrize("kind", ["caldav", "carddav"])
@pytest.mark.parametrize("method", ["GET", "PROPFIND"])
@pytest.mark.parametrize("with_auth", [False, True])
def test_well_known_redirects_to_dav_root(dav_server, dav, kind, method, with_auth):
    """RFC 6764: /.well-known/caldav and carddav redirect, for any method and
    before authentication (iOS and DAVx5 start there)."""
    r = dav.request(method, "/.well-known/" + kind, auth=with_auth,
                    body=None if method == "GET" else
                    xml_doc('<D:propfind %s><D:prop><D:current-user-principal/>'
                            '</D:prop></D:propfind>' % XMLNS),
                    depth=None)  # tsdav sends its PROPFIND without Depth
    assert r.status in (301, 302, 303, 307, 308), r.describe()
    loc = r.header("Location")
    assert loc and norm_href(loc) == dav_server.dav_root, loc


def test_options_advertises_dav_classes(dav_server, dav, calendar):
    """Apple's clients look for calendar-access in the DAV header, others
    for MKCALENDAR in the home's Allow before offering "New calendar"."""
    home = dav_server.calendar_home(dav_server.user)
    want = {dav_server.dav_root: {"PROPFIND", "OPTIONS"},
            home: {"PROPFIND", "OPTIONS", "MKCALENDAR"},
            calendar: {"PROPFIND", "OPTIONS", "REPORT", "DELETE", "PROPPATCH"},
            calendar + "e.ics": {"GET", "PUT", "DELETE", "PROPFIND"}}
    put_ok(dav, calendar + "e.ics", ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)))
    for path, methods in want.items():
        r = dav.options(q(path))
        assert r.status in (200, 204), r.describe()
        classes = {c.strip() for c in (r.header("DAV") or "").split(",")}
        assert {"1", "calendar-access", "addressbook"} <= classes, (path, r.header("DAV"))
        allow = {m.strip().upper() for m in (r.header("Allow") or "").split(",")}
        assert methods <= allow, (path, allow)


def test_current_user_principal_everywhere(dav_server, dav, calendar, addressbook):
    """Clients ask for current-user-principal wherever the user points them."""
    put_ok(dav, calendar + "e.ics", ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)))
    user = dav_server.user
    paths = ["/", dav_server.dav_root, dav_server.principal(user),
             dav_server.calendar_home(user), dav_server.addressbook_home(user),
             calendar, addressbook, calendar + "e.ics"]
    if dav_server.mortar:
        paths += [dav_server.default_calendar(user), dav_server.default_addressbook(user),
                  dav_server.directory(user)]
    for path in paths:
        ms = dav.props(q(path), "D:current-user-principal")
        assert len(ms.items) == 1, (path, ms)
        assert ms.items[0].href_of("D:current-user-principal") == dav_server.principal(user), \
            (path, ms)


@mortar_only("Apple's fallback path /principals/ (Radicale has no such collection)")
def test_apple_principals_fallback(dav_server, dav):
    """macOS and iOS try /.well-known, then /, then /principals/."""
    user = dav_server.user
    ms = dav.props(q("/principals/"), "D:current-user-principal")
    assert len(ms.items) == 1, ms
    assert ms.items[0].href_of("D:current-user-principal") == dav_server.principal(user), ms


def test_principal_properties(dav_server, dav):
    user = dav_server.user
    it = dav.one(q(dav_server.principal(user)), "C:calendar-home-set", "CR:addressbook-home-set",
                 "D:principal-URL", "D:resourcetype", "D:current-user-principal")
    assert it.href_of("C:calendar-home-set") == dav_server.calendar_home(user), it
    assert it.href_of("CR:addressbook-home-set") == dav_server.addressbook_home(user), it
    assert it.href_of("D:principal-URL") == dav_server.principal(user), it
    assert it.has_child("D:resourcetype", "D:principal"), it


@mortar_only("calendar-user-address-set is mailto: the address (Radicale gives its path)")
def test_principal_calendar_user_address(dav_server, dav):
    """Apple Calendar and DAVx5 name the account, and match attendees, by
    calendar-user-address-set."""
    user = dav_server.user
    it = dav.one(q(dav_server.principal(user)), "C:calendar-user-address-set", "D:displayname")
    el = it.prop("C:calendar-user-address-set")
    assert el is not None, it
    addrs = [h.text.strip().lower() for h in el.findall(clark("D:href"))]
    assert "mailto:" + user.lower() in addrs, addrs


@mortar_only("each user has a default calendar and address book and the directory")
def test_default_collections(dav_server, dav):
    user = dav_server.user
    cal = dav.one(q(dav_server.default_calendar(user)), "D:resourcetype",
                  "C:supported-calendar-component-set", "D:displayname", "CS:getctag",
                  "D:sync-token")
    assert cal.has_child("D:resourcetype", "C:calendar"), cal
    comps = {c.get("name") for c in cal.prop("C:supported-calendar-component-set")}
    assert "VEVENT" in comps, comps
    assert cal.text("CS:getctag") and cal.text("D:sync-token"), cal
    ab = dav.one(q(dav_server.default_addressbook(user)), "D:resourcetype", "D:displayname")
    assert ab.has_child("D:resourcetype", "CR:addressbook"), ab
    d = dav.one(q(dav_server.directory(user)), "D:resourcetype", "D:displayname")
    assert d.has_child("D:resourcetype", "CR:addressbook"), d
    # The homes list them, and keep calendars and address books apart.
    ms = dav.props(q(dav_server.calendar_home(user)), "D:resourcetype", depth=1)
    assert ms.get(dav_server.default_calendar(user)) is not None, ms
    assert ms.get(dav_server.default_addressbook(user)) is None, ms
    ms = dav.props(q(dav_server.addressbook_home(user)), "D:resourcetype", depth=1)
    assert ms.get(dav_server.default_addressbook(user)) is not None, ms
    assert ms.get(dav_server.directory(user)) is not None, ms


def test_supported_report_set(dav, calendar, addressbook):
    """DAVx5 uses WebDAV-Sync only when supported-report-set lists
    sync-collection; Evolution and Thunderbird check calendar-multiget."""
    it = dav.one(q(calendar), "D:supported-report-set")
    reports = {r.tag for r in it.prop("D:supported-report-set").iter()}
    assert {clark("D:sync-collection"), clark("C:calendar-query"),
            clark("C:calendar-multiget")} <= reports, reports
    it = dav.one(q(addressbook), "D:supported-report-set")
    reports = {r.tag for r in it.prop("D:supported-report-set").iter()}
    assert {clark("D:sync-collection"), clark("CR:addressbook-query"),
            clark("CR:addressbook-multiget")} <= reports, reports


def test_home_depth1_lists_new_calendar(dav_server, dav, calendar):
    """What calendar apps list: tsdav drops a calendar whose
    supported-calendar-component-set is missing, so one made without it
    must still report its (default) components."""
    ms = dav.props(q(dav_server.calendar_home(dav_server.user)), "D:resourcetype",
                   "D:displayname", "C:supported-calendar-component-set", "CS:getctag",
                   "D:sync-token", depth=1)
    it = ms.get(calendar)
    assert it is not None, ms
    assert it.has_child("D:resourcetype", "C:calendar"), it
    assert it.has_child("D:resourcetype", "D:collection"), it
    assert it.text("D:displayname"), it
    comps = it.prop("C:supported-calendar-component-set")
    assert comps is not None and "VEVENT" in {c.get("name") for c in comps}, it
    assert it.text("CS:getctag") and it.text("D:sync-token"), it


def test_propfind_allprop_and_empty_body(dav, calendar):
    for body in ("", xml_doc('<D:propfind %s><D:allprop/></D:propfind>' % XMLNS),
                 xml_doc('<D:propfind %s><D:propname/></D:propfind>' % XMLNS)):
        r = dav.request("PROPFIND", q(calendar), body=body or None, depth=0)
        assert r.status == 207, r.describe()
        assert Multistatus(r.body).get(calendar) is not None


# == MKCALENDAR and PROPPATCH ===============================================

def test_mkcalendar_properties(dav_server, dav):
    path = dav_server.calendar_home(dav_server.user) + "mk-%s/" % uuid.uuid4().hex[:8]
    r = dav.mkcalendar(q(path), displayname="Travel ✈ plans", color="#FF8800FF",
                       comps=["VEVENT"], description="Trips & flights")
    try:
        assert r.status == 201, r.describe()
        it = dav.one(q(path), "D:displayname", "A:calendar-color", "C:calendar-description",
                     "C:supported-calendar-component-set", "D:resourcetype")
        assert it.text("D:displayname") == "Travel ✈ plans", it
        assert it.text("C:calendar-description") == "Trips & flights", it
        assert (it.text("A:calendar-color") or "").upper().startswith("#FF8800"), it
        comps = {c.get("name") for c in it.prop("C:supported-calendar-component-set")}
        assert comps == {"VEVENT"}, comps
        assert it.has_child("D:resourcetype", "C:calendar"), it
        # Again on the same path: refused, the first one intact.
        r = dav.mkcalendar(q(path), displayname="Other")
        assert r.status in (403, 405, 409), r.describe()
        assert dav.one(q(path), "D:displayname").text("D:displayname") == "Travel ✈ plans"
    finally:
        dav.delete(q(path))


@radicale_lacks("supported-calendar-component-set is not enforced on PUT")
def test_component_set_enforced(dav_server, dav):
    path = dav_server.calendar_home(dav_server.user) + "ev-%s/" % uuid.uuid4().hex[:8]
    assert dav.mkcalendar(q(path), comps=["VEVENT"]).status == 201
    try:
        r = dav.put(q(path + "todo.ics"), ical_todo(new_uid()))
        assert r.status in (403, 409), r.describe()
        assert clark("C:supported-calendar-component") in r.error_elements(), r.describe()
    finally:
        dav.delete(q(path))


def test_proppatch(dav, calendar):
    r = dav.proppatch(q(calendar), {"D:displayname": "Renamed", "A:calendar-color": "#00AA00FF",
                                    "C:calendar-description": "to go"})
    ms = r.multistatus()
    it = ms[calendar]
    for p in ("D:displayname", "A:calendar-color", "C:calendar-description"):
        assert it.status_of(p) == 200, it
    it = dav.one(q(calendar), "D:displayname", "A:calendar-color", "C:calendar-description")
    assert it.text("D:displayname") == "Renamed"
    assert it.text("A:calendar-color").upper().startswith("#00AA00")
    r = dav.proppatch(q(calendar), remove=["C:calendar-description"])
    assert r.multistatus()[calendar].status_of("C:calendar-description") == 200
    it = dav.one(q(calendar), "C:calendar-description", "D:displayname")
    assert it.text("C:calendar-description") in (None, ""), it
    assert it.text("D:displayname") == "Renamed"


@radicale_lacks("protected properties can be set by PROPPATCH")
def test_proppatch_protected_property(dav, calendar):
    r = dav.proppatch(q(calendar), {"D:getetag": '"x"'})
    ms = r.multistatus()
    assert ms[calendar].status_of("D:getetag") == 403, ms


# == objects, ETags, conditional requests ===================================

def test_put_get_etag(dav, calendar):
    data = ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11), summary="Naïve café ☕")
    r = dav.put(q(calendar + "one.ics"), data, if_none_match="*")
    assert r.status == 201, r.describe()
    put_etag = r.etag
    g = dav.get(q(calendar + "one.ics"))
    assert g.status == 200
    assert g.header("Content-Type", "").startswith("text/calendar"), g.header("Content-Type")
    assert g.etag, "GET without ETag"
    assert ical_props(g.text, "SUMMARY") == ["Naïve café ☕"], g.text
    if put_etag:  # RFC 4791 5.3.4: only when stored unchanged; then it must match
        assert put_etag == g.etag
    it = dav.one(q(calendar + "one.ics"), "D:getetag", "D:getcontenttype")
    assert it.text("D:getetag") == g.etag, it
    assert it.text("D:getcontenttype").startswith("text/calendar"), it
    h = dav.head(q(calendar + "one.ics"))
    assert h.status == 200 and h.etag == g.etag


@mortar_only("objects are stored as received: GET returns the PUT bytes and PUT gives an ETag")
def test_get_returns_bytes_as_put(dav, calendar):
    data = ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11),
                      extra=["X-CUSTOM-PROP;X-PARAM=1:kept as is", "CATEGORIES:A,B"])
    r = dav.put(q(calendar + "raw.ics"), data)
    assert r.status == 201 and r.etag, r.describe()
    g = dav.get(q(calendar + "raw.ics"))
    assert g.body == data.encode(), g.text


def test_if_match_mismatch_keeps_previous(dav, calendar):
    uid = new_uid()
    v1 = ical_event(uid, utc(2026, 1, 5, 10), utc(2026, 1, 5, 11), summary="v1")
    put_ok(dav, calendar + "e.ics", v1)
    e1 = etag_of(dav, calendar + "e.ics")
    v2 = ical_event(uid, utc(2026, 1, 5, 10), utc(2026, 1, 5, 11), summary="v2")
    r = dav.put(q(calendar + "e.ics"), v2, if_match='"not-the-etag"')
    assert r.status == 412, r.describe()
    g = dav.get(q(calendar + "e.ics"))
    assert g.etag == e1 and ical_props(g.text, "SUMMARY") == ["v1"]
    r = dav.put(q(calendar + "e.ics"), v2, if_match=e1)
    assert r.status in (200, 201, 204), r.describe()
    g = dav.get(q(calendar + "e.ics"))
    assert g.etag != e1 and ical_props(g.text, "SUMMARY") == ["v2"]
    # The old ETag no longer matches.
    r = dav.put(q(calendar + "e.ics"), v1, if_match=e1)
    assert r.status == 412, r.describe()
    # If-Match on a missing resource fails too.
    r = dav.put(q(calendar + "missing.ics"), v1, if_match=e1)
    assert r.status == 412, r.describe()


def test_if_none_match_star_on_existing(dav, calendar):
    uid = new_uid()
    put_ok(dav, calendar + "e.ics", ical_event(uid, utc(2026, 1, 5, 10), utc(2026, 1, 5, 11),
                                               summary="first"))
    e1 = etag_of(dav, calendar + "e.ics")
    r = dav.put(q(calendar + "e.ics"), ical_event(uid, utc(2026, 1, 6, 10), utc(2026, 1, 6, 11),
                                                  summary="second"), if_none_match="*")
    assert r.status == 412, r.describe()
    g = dav.get(q(calendar + "e.ics"))
    assert g.etag == e1 and ical_props(g.text, "SUMMARY") == ["first"]


def test_delete_with_if_match(dav, calendar):
    put_ok(dav, calendar + "d.ics", ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)))
    e1 = etag_of(dav, calendar + "d.ics")
    r = dav.delete(q(calendar + "d.ics"), if_match='"other"')
    assert r.status == 412, r.describe()
    assert dav.get(q(calendar + "d.ics")).status == 200
    r = dav.delete(q(calendar + "d.ics"), if_match=e1)
    assert r.status in (200, 204), r.describe()
    assert dav.get(q(calendar + "d.ics")).status == 404
    assert dav.delete(q(calendar + "d.ics")).status == 404


def test_uid_conflict(dav, calendar):
    """RFC 4791 5.3.2.1: one UID, one resource per calendar."""
    uid = new_uid()
    put_ok(dav, calendar + "a.ics", ical_event(uid, utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)))
    r = dav.put(q(calendar + "b.ics"), ical_event(uid, utc(2026, 1, 6, 10), utc(2026, 1, 6, 11)))
    assert r.status in (403, 409), r.describe()
    assert dav.get(q(calendar + "b.ics")).status == 404


def test_uid_conflict_precondition(dav, calendar):
    uid = new_uid()
    put_ok(dav, calendar + "a.ics", ical_event(uid, utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)))
    r = dav.put(q(calendar + "b.ics"), ical_event(uid, utc(2026, 1, 6, 10), utc(2026, 1, 6, 11)))
    assert clark("C:no-uid-conflict") in r.error_elements(), r.describe()


def test_unicode_resource_names(dav, calendar):
    name = "réunion d'équipe 日本 #1.ics"
    put_ok(dav, calendar + name, ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)))
    ms = dav.props(q(calendar), "D:getetag", depth=1)
    it = ms.get(calendar + name)
    assert it is not None, ms.hrefs()
    # The href the server gave works as it is.
    assert dav.get(it.raw_href if it.raw_href.startswith("/") else q(it.href)).status == 200


# == ctag and sync-collection ===============================================

def ctag(dav, path):
    return dav.one(q(path), "CS:getctag").text("CS:getctag")


def test_getctag_changes_on_put_and_delete(dav, calendar):
    c0 = ctag(dav, calendar)
    assert c0
    put_ok(dav, calendar + "a.ics", ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)))
    c1 = ctag(dav, calendar)
    assert c1 != c0
    assert ctag(dav, calendar) == c1  # stable while nothing changes
    assert dav.delete(q(calendar + "a.ics")).status in (200, 204)
    assert ctag(dav, calendar) != c1


@mortar_only("Radicale's ctag hashes the properties too")
def test_getctag_unchanged_by_proppatch(dav, calendar):
    put_ok(dav, calendar + "a.ics", ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)))
    c1 = ctag(dav, calendar)
    dav.proppatch(q(calendar), {"D:displayname": "Only a name"}).multistatus()
    assert ctag(dav, calendar) == c1


def sync(dav, path, token, props=("D:getetag",)):
    r = dav.sync(q(path), token, props)
    ms = r.multistatus()
    assert ms.sync_token, r.describe("no sync-token")
    return ms


def test_sync_collection_initial_and_delta(dav, calendar):
    e = {}
    uids = {}
    for n in ("e1", "e2", "e3"):
        uids[n] = new_uid()
        put_ok(dav, calendar + n + ".ics",
               ical_event(uids[n], utc(2026, 2, 2, 10), utc(2026, 2, 2, 11), summary=n))
        e[n] = etag_of(dav, calendar + n + ".ics")
    ms = sync(dav, calendar, "")
    members = {name_of(i.href): i for i in ms.items if i.href.rstrip("/") != calendar.rstrip("/")}
    assert set(members) == {"e1.ics", "e2.ics", "e3.ics"}, ms
    for n in ("e1", "e2", "e3"):
        assert members[n + ".ics"].text("D:getetag") == e[n]
    t1 = ms.sync_token
    # RFC 6578 3.2: the token is a URI.  (A bare number also breaks tsdav,
    # whose XML parser turns it into a JavaScript number.)
    assert re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", t1), t1

    ms = sync(dav, calendar, t1)
    assert [i for i in ms.items if i.href.rstrip("/") != calendar.rstrip("/")] == [], ms

    put_ok(dav, calendar + "e4.ics", ical_event(new_uid(), utc(2026, 2, 3, 10), utc(2026, 2, 3, 11)))
    put_ok(dav, calendar + "e2.ics", ical_event(uids["e2"], utc(2026, 2, 2, 12), utc(2026, 2, 2, 13),
                                                summary="e2 moved"))
    assert dav.delete(q(calendar + "e3.ics")).status in (200, 204)

    ms = sync(dav, calendar, t1)
    got = {name_of(i.href): i for i in ms.items if i.href.rstrip("/") != calendar.rstrip("/")}
    assert set(got) == {"e2.ics", "e3.ics", "e4.ics"}, ms
    assert got["e4.ics"].text("D:getetag") == etag_of(dav, calendar + "e4.ics")
    assert got["e2.ics"].text("D:getetag") == etag_of(dav, calendar + "e2.ics") != e["e2"]
    assert got["e3.ics"].status == 404, got["e3.ics"]
    assert not got["e3.ics"].prop("D:getetag")
    t2 = ms.sync_token
    assert t2 != t1

    ms = sync(dav, calendar, t2)
    assert [i for i in ms.items if i.href.rstrip("/") != calendar.rstrip("/")] == [], ms
    # An older token still answers (a client that lost its last reply).
    ms = sync(dav, calendar, t1)
    assert {name_of(i.href) for i in ms.items
            if i.href.rstrip("/") != calendar.rstrip("/")} == {"e2.ics", "e3.ics", "e4.ics"}


@pytest.mark.parametrize("depth", [None, 0])
def test_sync_collection_as_tsdav_sends_it(dav, calendar, depth):
    """tsdav: d: prefixes, sync-level before sync-token, no Depth header."""
    put_ok(dav, calendar + "a.ics", ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)))
    body = ('<?xml version="1.0" encoding="utf-8"?>\n<d:sync-collection '
            'xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:card="urn:ietf:params:xml:ns:carddav" '
            'xmlns:d="DAV:">\n  <d:sync-level>1</d:sync-level>\n  <d:sync-token/>\n  <d:prop>\n'
            '    <d:getetag/>\n  </d:prop>\n</d:sync-collection>')
    r = dav.report(q(calendar), body, depth=depth,
                   headers={"Content-Type": "text/xml;charset=UTF-8"})
    ms = r.multistatus()
    assert ms.sync_token and ms.get(calendar + "a.ics") is not None, ms


def test_sync_collection_with_calendar_data(dav, calendar):
    uid = new_uid()
    put_ok(dav, calendar + "x.ics", ical_event(uid, utc(2026, 2, 2, 10), utc(2026, 2, 2, 11)))
    ms = sync(dav, calendar, "", props=("D:getetag", "C:calendar-data"))
    it = ms[calendar + "x.ics"]
    assert ical_props(it.text("C:calendar-data"), "UID") == [uid]


def test_sync_token_property_is_usable(dav, calendar):
    """DAVx5 reads DAV:sync-token by PROPFIND, then syncs from it."""
    put_ok(dav, calendar + "a.ics", ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)))
    tok = dav.one(q(calendar), "D:sync-token").text("D:sync-token")
    assert tok
    put_ok(dav, calendar + "b.ics", ical_event(new_uid(), utc(2026, 1, 6, 10), utc(2026, 1, 6, 11)))
    ms = sync(dav, calendar, tok)
    assert {name_of(i.href) for i in ms.items
            if i.href.rstrip("/") != calendar.rstrip("/")} == {"b.ics"}, ms
    assert dav.one(q(calendar), "D:sync-token").text("D:sync-token") != tok


@pytest.mark.parametrize("token", ["garbage", "http://example.com/ns/sync/1",
                                   "data:,0", "9" * 40])
def test_sync_invalid_token(dav, calendar, token):
    r = dav.sync(q(calendar), token)
    assert r.status == 403, r.describe()
    assert clark("D:valid-sync-token") in r.error_elements(), r.describe()


def test_sync_tokens_never_repeat(dav, calendar):
    uid = new_uid()
    seen = []
    tok = sync(dav, calendar, "").sync_token
    seen.append(tok)
    steps = [
        lambda: put_ok(dav, calendar + "a.ics", ical_event(uid, utc(2026, 1, 5, 10),
                                                           utc(2026, 1, 5, 11), summary="A")),
        lambda: put_ok(dav, calendar + "a.ics", ical_event(uid, utc(2026, 1, 5, 10),
                                                           utc(2026, 1, 5, 11), summary="B")),
        lambda: dav.delete(q(calendar + "a.ics")),
        # Back to the same content as after step 1: a new token all the same.
        lambda: put_ok(dav, calendar + "a.ics", ical_event(uid, utc(2026, 1, 5, 10),
                                                           utc(2026, 1, 5, 11), summary="A")),
        lambda: dav.delete(q(calendar + "a.ics")),
    ]
    for step in steps:
        step()
        ms = sync(dav, calendar, tok)
        tok = ms.sync_token
        assert tok not in seen, (tok, seen)
        seen.append(tok)


def test_sync_token_of_deleted_collection_refused(dav_server, dav):
    """A collection deleted and made again is a new collection: the old
    tokens must not be taken as tokens of the new one."""
    path = dav_server.calendar_home(dav_server.user) + "re-%s/" % uuid.uuid4().hex[:8]
    assert dav.mkcalendar(q(path)).status == 201
    try:
        put_ok(dav, path + "a.ics", ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)))
        old = sync(dav, path, "").sync_token
        assert dav.delete(q(path)).status in (200, 204)
        assert dav.mkcalendar(q(path)).status == 201
        put_ok(dav, path + "b.ics", ical_event(new_uid(), utc(2026, 1, 6, 10), utc(2026, 1, 6, 11)))
        r = dav.sync(q(path), old)
        assert r.status == 403, r.describe()
        assert clark("D:valid-sync-token") in r.error_elements(), r.describe()
    finally:
        dav.delete(q(path))


# == calendar-query, multiget, free-busy, expand ============================

# The data of the query tests: name -> iCalendar.
WEEKLY_OVERRIDE = {"recurrence_id": utc(2026, 3, 2, 10), "start": utc(2026, 3, 5, 15),
                   "end": utc(2026, 3, 5, 16), "summary": "Weekly sync (moved)"}
QUERY_DATA = {
    # Mondays 10:00Z from 2026-01-05, no end; not on 2026-02-16; the
    # 2026-03-02 instance moved to Thursday 2026-03-05 15:00Z.
    "weekly": lambda: ical_event("weekly-" + RUN, utc(2026, 1, 5, 10), utc(2026, 1, 5, 11),
                                 summary="Weekly sync", rrule="FREQ=WEEKLY",
                                 exdates=[utc(2026, 2, 16, 10)], overrides=[WEEKLY_OVERRIDE]),
    "planning": lambda: ical_event("planning-" + RUN, utc(2026, 3, 10, 14), utc(2026, 3, 10, 15, 30),
                                   summary="Quarterly Planning", location="Room 1",
                                   description="Budget, hiring"),
    "allday": lambda: ical_event("allday-" + RUN, utc(2026, 3, 20).date(), utc(2026, 3, 21).date(),
                                 summary="Offsite day"),
    "duration": lambda: ical_event("duration-" + RUN, utc(2026, 4, 1, 8), duration="PT2H",
                                   summary="Two hours"),
    # Tuesdays 09:00-09:30 Berlin time: 08:00Z in winter, 07:00Z from 29 March.
    "berlin": lambda: ical_event("berlin-" + RUN, datetime.datetime(2026, 1, 6, 9),
                                 datetime.datetime(2026, 1, 6, 9, 30),
                                 tzid="Europe/Berlin", summary="Berlin standup",
                                 rrule="FREQ=WEEKLY;COUNT=30"),
    "free": lambda: ical_event("free-" + RUN, utc(2026, 3, 11, 9), utc(2026, 3, 11, 10),
                               summary="Free time", transp="TRANSPARENT"),
    "daily": lambda: ical_event("daily-" + RUN, utc(2026, 5, 1, 12), utc(2026, 5, 1, 13),
                                summary="Three days", rrule="FREQ=DAILY;COUNT=3"),
    "todo": lambda: ical_todo("todo-" + RUN, "Write report", due=utc(2026, 3, 12, 17)),
}
RUN = uuid.uuid4().hex[:8]
EVENTS = {k for k in QUERY_DATA if k != "todo"}


@pytest.fixture(scope="module")
def qcal(dav_server):
    """One calendar holding QUERY_DATA, for the whole module."""
    dav = dav_server.client(0)
    path = dav_server.calendar_home(dav_server.user) + "q-%s/" % RUN
    r = dav.mkcalendar(q(path), displayname="Queries")
    assert r.status == 201, r.describe()
    for name, make in QUERY_DATA.items():
        put_ok(dav, path + name + ".ics", make())
    yield path
    dav.delete(q(path))
    dav.close()


def query_names(dav, path, filter_xml, **kw):
    r = dav.report(q(path), calendar_query_xml(filter_xml, **kw), depth=1)
    ms = r.multistatus()
    return {name_of(i.href)[:-4] for i in ms.items if i.status in (None, 200)}, ms


D = utc
TIME_RANGE_CASES = [
    ("first instance", D(2026, 1, 5), D(2026, 1, 6), {"weekly"}),
    ("a March week", D(2026, 3, 9), D(2026, 3, 16), {"weekly", "planning", "free", "berlin"}),
    ("EXDATE Monday", D(2026, 2, 16), D(2026, 2, 17), set()),
    ("moved-away Monday", D(2026, 3, 2), D(2026, 3, 3), set()),
    ("moved-to Thursday", D(2026, 3, 5, 14), D(2026, 3, 5, 16), {"weekly"}),
    ("unbounded, a year on", D(2027, 6, 7, 10, 30), D(2027, 6, 7, 10, 45), {"weekly"}),
    ("right after the end", D(2026, 3, 10, 15, 30), D(2026, 3, 10, 16), set()),
    ("right before the start", D(2026, 3, 10, 13), D(2026, 3, 10, 14), set()),
    ("the last minute", D(2026, 3, 10, 15, 29), D(2026, 3, 10, 15, 30), {"planning"}),
    ("all-day, midday", D(2026, 3, 20, 12), D(2026, 3, 20, 13), {"allday"}),
    ("day after all-day", D(2026, 3, 21, 12), D(2026, 3, 21, 13), set()),
    ("DURATION inside", D(2026, 4, 1, 9), D(2026, 4, 1, 9, 30), {"duration"}),
    ("DURATION after", D(2026, 4, 1, 10), D(2026, 4, 1, 11), set()),
    ("TZID winter", D(2026, 1, 13, 8), D(2026, 1, 13, 8, 30), {"berlin"}),
    ("TZID summer", D(2026, 4, 7, 7), D(2026, 4, 7, 7, 30), {"berlin"}),
    ("TZID summer, winter hour", D(2026, 4, 7, 8), D(2026, 4, 7, 8, 30), set()),
    ("after COUNT (TZID)", D(2026, 8, 4, 6), D(2026, 8, 4, 9), set()),
    ("COUNT last day", D(2026, 5, 3, 12), D(2026, 5, 3, 13), {"daily"}),
    ("COUNT over", D(2026, 5, 4, 12), D(2026, 5, 4, 13), set()),
]


@pytest.mark.parametrize("label,start,end,expected", TIME_RANGE_CASES,
                         ids=[c[0] for c in TIME_RANGE_CASES])
def test_calendar_query_time_range(dav, qcal, label, start, end, expected):
    got, ms = query_names(dav, qcal, time_range_filter(start, end))
    assert got == expected, (label, got, ms)


def test_calendar_query_comp_filters(dav, qcal):
    got, _ = query_names(dav, qcal, '<C:comp-filter name="VTODO"/>')
    assert got == {"todo"}
    got, _ = query_names(dav, qcal, '<C:comp-filter name="VEVENT"/>')
    assert got == EVENTS
    got, _ = query_names(dav, qcal, "")
    assert got == EVENTS | {"todo"}


@pytest.mark.parametrize("filter_xml,expected", [
    # i;ascii-casemap, contains: the default
    ('<C:prop-filter name="SUMMARY"><C:text-match>planning</C:text-match></C:prop-filter>',
     {"planning"}),
    pytest.param('<C:prop-filter name="SUMMARY"><C:text-match collation="i;octet">planning'
                 '</C:text-match></C:prop-filter>', set(),
                 marks=radicale_lacks("i;octet is matched case-insensitively")),
    ('<C:prop-filter name="SUMMARY"><C:text-match collation="i;octet">Planning'
     '</C:text-match></C:prop-filter>', {"planning"}),
    ('<C:prop-filter name="SUMMARY"><C:text-match negate-condition="yes">planning'
     '</C:text-match></C:prop-filter>', EVENTS - {"planning"}),
    ('<C:prop-filter name="LOCATION"><C:is-not-defined/></C:prop-filter>',
     EVENTS - {"planning"}),
    ('<C:prop-filter name="LOCATION"/>', {"planning"}),
    ('<C:prop-filter name="DESCRIPTION"><C:text-match>HIRING</C:text-match></C:prop-filter>',
     {"planning"}),
    # The summary of an override counts: a VEVENT of the resource matches.
    ('<C:prop-filter name="SUMMARY"><C:text-match>(moved)</C:text-match></C:prop-filter>',
     {"weekly"}),
], ids=["contains", "octet-miss", "octet-hit", "negate", "is-not-defined", "defined",
        "description", "override-summary"])
def test_calendar_query_prop_filter(dav, qcal, filter_xml, expected):
    got, ms = query_names(dav, qcal, '<C:comp-filter name="VEVENT">%s</C:comp-filter>'
                          % filter_xml)
    assert got == expected, ms


def test_calendar_query_time_range_and_text(dav, qcal):
    f = ('<C:comp-filter name="VEVENT"><C:time-range start="20260301T000000Z" '
         'end="20260401T000000Z"/><C:prop-filter name="SUMMARY"><C:text-match>sync'
         '</C:text-match></C:prop-filter></C:comp-filter>')
    got, _ = query_names(dav, qcal, f)
    assert got == {"weekly"}


def test_calendar_query_returns_data(dav, qcal):
    got, ms = query_names(dav, qcal, time_range_filter(D(2026, 3, 10), D(2026, 3, 11)),
                          data=True)
    it = ms[qcal + "planning.ics"]
    assert ical_props(it.text("C:calendar-data"), "UID") == ["planning-" + RUN]
    assert it.text("D:getetag") == etag_of(dav, qcal + "planning.ics")


@radicale_lacks("no C:expand (server-side expansion)")
def test_calendar_query_expand(dav, qcal):
    start, end = D(2026, 3, 1), D(2026, 3, 15)
    got, ms = query_names(dav, qcal, time_range_filter(start, end), expand=(start, end))
    assert "weekly" in got
    data = ms[qcal + "weekly.ics"].text("C:calendar-data")
    assert "RRULE" not in data and "EXDATE" not in data, data
    starts = sorted(v for v in ical_props(data, "DTSTART"))
    assert starts == ["20260305T150000Z", "20260309T100000Z"], data
    rids = sorted(ical_props(data, "RECURRENCE-ID"))
    assert rids == ["20260302T100000Z", "20260309T100000Z"], data
    # The moved instance keeps its own summary.
    assert "Weekly sync (moved)" in ical_props(data, "SUMMARY"), data
    # TZID events come back in UTC (RFC 4791 9.6.5).
    bdata = ms[qcal + "berlin.ics"].text("C:calendar-data")
    assert sorted(ical_props(bdata, "DTSTART")) == ["20260303T080000Z", "20260310T080000Z"], bdata


def test_calendar_multiget(dav, qcal):
    hrefs = [qcal + "weekly.ics", qcal + "planning.ics", qcal + "nope.ics"]
    r = dav.report(q(qcal), multiget_xml(hrefs), depth=1)
    ms = r.multistatus()
    w = ms[qcal + "weekly.ics"]
    assert ical_props(w.text("C:calendar-data"), "RECURRENCE-ID") == ["20260302T100000Z"]
    assert w.text("D:getetag") == etag_of(dav, qcal + "weekly.ics")
    assert ms[qcal + "planning.ics"].text("C:calendar-data")
    missing = ms[qcal + "nope.ics"]
    assert missing.status == 404 or missing.status_of("C:calendar-data") == 404, missing


def freebusy_periods(text):
    """(start, end) strings in UTC of every FREEBUSY period of a VFREEBUSY."""
    _dt = datetime
    out = []
    for line in text.replace("\r\n ", "").splitlines():
        head, _, value = line.partition(":")
        if head.split(";")[0].upper() != "FREEBUSY":
            continue
        if "FBTYPE=FREE" in head.upper():
            continue
        for period in value.split(","):
            s, _, e = period.partition("/")
            st = _dt.datetime.strptime(s, "%Y%m%dT%H%M%SZ")
            if e.startswith("P"):
                hours = minutes = 0
                body = e[2:] if e.startswith("PT") else e[1:]
                num = ""
                for ch in body:
                    if ch.isdigit():
                        num += ch
                    elif ch == "H":
                        hours, num = int(num), ""
                    elif ch == "M":
                        minutes, num = int(num), ""
                en = st + _dt.timedelta(hours=hours, minutes=minutes)
            else:
                en = _dt.datetime.strptime(e, "%Y%m%dT%H%M%SZ")
            out.append((st.strftime("%Y%m%dT%H%M%SZ"), en.strftime("%Y%m%dT%H%M%SZ")))
    return sorted(out)


@radicale_lacks("no free-busy-query REPORT")
def test_free_busy_query(dav, qcal):
    body = xml_doc('<C:free-busy-query %s><C:time-range start="20260309T000000Z" '
                   'end="20260312T000000Z"/></C:free-busy-query>' % XMLNS)
    r = dav.report(q(qcal), body, depth=1)
    assert r.status == 200, r.describe()
    assert r.header("Content-Type", "").startswith("text/calendar")
    assert "BEGIN:VFREEBUSY" in r.text, r.text
    periods = freebusy_periods(r.text)
    assert ("20260309T100000Z", "20260309T110000Z") in periods, periods  # weekly
    assert ("20260310T140000Z", "20260310T153000Z") in periods, periods  # planning
    assert ("20260310T080000Z", "20260310T083000Z") in periods, periods  # berlin
    # TRANSPARENT time is free.
    assert not [p for p in periods if p[0] <= "20260311T090000Z" < p[1]], periods


def test_time_range_without_end_is_open(dav, qcal):
    f = '<C:comp-filter name="VEVENT"><C:time-range start="20260401T000000Z"/></C:comp-filter>'
    got, _ = query_names(dav, qcal, f)
    assert got == {"weekly", "duration", "berlin", "daily"}


def test_bad_time_range_is_rejected(dav, qcal):
    f = ('<C:comp-filter name="VEVENT"><C:time-range start="2026-03-01" end="tomorrow"/>'
         '</C:comp-filter>')
    r = dav.report(q(qcal), calendar_query_xml(f), depth=1)
    assert 400 <= r.status < 500, r.describe()


# == CardDAV ================================================================

CARDS = {
    "rob3": lambda: vcard("rob-" + RUN, "Robert Builder", ["rob@example.org"], version="3.0",
                          tel="+33123456789", org="Builders Ltd"),
    "carol4": lambda: vcard("carol-" + RUN, "Carol Jones", ["carol@example.org",
                                                             "cj@home.example.net"],
                            version="4.0"),
    "dave4": lambda: vcard("dave-" + RUN, "Dave Émile", ["dave@example.net"], version="4.0"),
    "erin3": lambda: vcard("erin-" + RUN, "Erin Stone", [], version="3.0", note="no mail"),
}


@pytest.fixture(scope="module")
def qbook(dav_server):
    dav = dav_server.client(0)
    path = dav_server.addressbook_home(dav_server.user) + "ab-%s/" % RUN
    r = dav.mkaddressbook(q(path), displayname="Query contacts")
    assert r.status == 201, r.describe()
    for name, make in CARDS.items():
        put_ok(dav, path + name + ".vcf", make())
    yield path
    dav.delete(q(path))
    dav.close()


def card_query(dav, path, filters, test=None, data=False):
    attr = ' test="%s"' % test if test else ""
    body = xml_doc('<CR:addressbook-query %s><D:prop><D:getetag/>%s</D:prop>'
                   '<CR:filter%s>%s</CR:filter></CR:addressbook-query>'
                   % (XMLNS, "<CR:address-data/>" if data else "", attr, filters))
    r = dav.report(q(path), body, depth=1)
    ms = r.multistatus()
    return {name_of(i.href)[:-4] for i in ms.items if i.status in (None, 200)}, ms


def text_filter(prop, text, match="contains", collation=None, negate=False):
    attrs = ' match-type="%s"' % match
    if collation:
        attrs += ' collation="%s"' % collation
    if negate:
        attrs += ' negate-condition="yes"'
    return ('<CR:prop-filter name="%s"><CR:text-match%s>%s</CR:text-match></CR:prop-filter>'
            % (prop, attrs, text))


@pytest.mark.parametrize("filters,test,expected", [
    (text_filter("FN", "builder"), None, {"rob3"}),
    (text_filter("FN", "rob", "starts-with"), None, {"rob3"}),
    (text_filter("FN", "jones", "ends-with"), None, {"carol4"}),
    (text_filter("EMAIL", "example.org"), None, {"rob3", "carol4"}),
    (text_filter("EMAIL", "carol@example.org", "equals"), None, {"carol4"}),
    (text_filter("EMAIL", "cj@home.example.net", "equals"), None, {"carol4"}),  # second EMAIL
    (text_filter("FN", "carol") + text_filter("EMAIL", "dave@"), "anyof", {"carol4", "dave4"}),
    (text_filter("FN", "rob") + text_filter("EMAIL", ".net"), "allof", set()),
    ('<CR:prop-filter name="EMAIL"><CR:is-not-defined/></CR:prop-filter>', None, {"erin3"}),
    (text_filter("FN", "émile", collation="i;unicode-casemap"), None, {"dave4"}),
], ids=["fn-contains", "starts-with", "ends-with", "email-contains", "email-equals",
        "second-email", "anyof", "allof", "is-not-defined", "unicode-casemap"])
def test_addressbook_query(dav, qbook, filters, test, expected):
    got, ms = card_query(dav, qbook, filters, test)
    assert got == expected, ms


def test_addressbook_query_returns_vcard3_and_4(dav, qbook):
    got, ms = card_query(dav, qbook, text_filter("EMAIL", "example"), data=True)
    assert got == {"rob3", "carol4", "dave4"}
    rob = ms[qbook + "rob3.vcf"].text("CR:address-data")
    assert ical_props(rob, "VERSION") == ["3.0"] and ical_props(rob, "FN") == ["Robert Builder"]
    carol = ms[qbook + "carol4.vcf"].text("CR:address-data")
    assert ical_props(carol, "VERSION") == ["4.0"] and ical_props(carol, "FN") == ["Carol Jones"]


def test_addressbook_multiget(dav, qbook):
    hrefs = [qbook + "rob3.vcf", qbook + "dave4.vcf", qbook + "missing.vcf"]
    r = dav.report(q(qbook), multiget_xml(hrefs, card=True), depth=1)
    ms = r.multistatus()
    assert ical_props(ms[qbook + "rob3.vcf"].text("CR:address-data"), "EMAIL") == \
        ["rob@example.org"]
    assert ical_props(ms[qbook + "dave4.vcf"].text("CR:address-data"), "FN") == ["Dave Émile"]
    m = ms[qbook + "missing.vcf"]
    assert m.status == 404 or m.status_of("CR:address-data") == 404, m


def test_vcard_get_and_etag(dav, addressbook):
    data = vcard(str(uuid.uuid4()), "Zoë Ünïcode", ["zoe@example.org"], version="4.0")
    r = dav.put(q(addressbook + "z.vcf"), data, if_none_match="*")
    assert r.status == 201, r.describe()
    g = dav.get(q(addressbook + "z.vcf"))
    assert g.status == 200 and g.header("Content-Type", "").startswith("text/vcard")
    assert ical_props(g.text, "FN") == ["Zoë Ünïcode"]
    assert dav.one(q(addressbook + "z.vcf"), "D:getetag").text("D:getetag") == g.etag


def test_addressbook_sync_collection(dav, addressbook):
    put_ok(dav, addressbook + "a.vcf", vcard(new_uid(), "Anna A", ["a@example.org"]))
    t1 = sync(dav, addressbook, "").sync_token
    put_ok(dav, addressbook + "b.vcf", vcard(new_uid(), "Ben B", ["b@example.org"], version="3.0"))
    assert dav.delete(q(addressbook + "a.vcf")).status in (200, 204)
    ms = sync(dav, addressbook, t1)
    got = {name_of(i.href): i.status for i in ms.items
           if i.href.rstrip("/") != addressbook.rstrip("/")}
    assert got == {"b.vcf": None, "a.vcf": 404} or got == {"b.vcf": 200, "a.vcf": 404}, ms


def test_malformed_vcard_refused(dav, addressbook):
    r = dav.put(q(addressbook + "bad.vcf"), "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:no end\r\n")
    assert 400 <= r.status < 500, r.describe()
    assert dav.get(q(addressbook + "bad.vcf")).status == 404


@mortar_only("precondition element of a bad vCard")
def test_malformed_vcard_precondition(dav, addressbook):
    r = dav.put(q(addressbook + "bad.vcf"), "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:no end\r\n")
    assert r.status in (403, 415), r.describe()
    assert clark("CR:valid-address-data") in r.error_elements(), r.describe()


# == the global address book (Mortar) =======================================

@mortar_only("the domain's global address book")
def test_directory_lists_the_domain(dav_server, dav):
    d = dav_server.directory(dav_server.user)
    got, ms = card_query(dav, d, text_filter("EMAIL", dav_server.user2, "equals"), data=True)
    assert len(got) == 1, ms
    card = ms.items[0].text("CR:address-data")
    assert dav_server.user2.lower() in [e.lower() for e in ical_props(card, "EMAIL")], card
    assert ical_props(card, "FN"), card
    # Depth 1 lists the users, user 2 among them.
    ms = dav.props(q(d), "D:getetag", depth=1)
    assert len(ms.items) >= 3, ms  # the collection, alice, bob at least
    it = [i for i in ms.items if i.href.rstrip("/") != d.rstrip("/")][0]
    assert dav.get(q(it.href)).status == 200


@mortar_only("the domain's global address book is read-only")
def test_directory_is_read_only(dav_server, dav):
    d = dav_server.directory(dav_server.user)
    r = dav.put(q(d + "new.vcf"), vcard(new_uid(), "Intruder", ["x@example.org"]))
    assert r.status == 403, r.describe()
    ms = dav.props(q(d), "D:getetag", depth=1)
    member = [i for i in ms.items if i.href.rstrip("/") != d.rstrip("/")][0]
    r = dav.put(q(member.href), vcard(new_uid(), "Overwrite", ["x@example.org"]))
    assert r.status == 403, r.describe()
    r = dav.delete(q(member.href))
    assert r.status == 403, r.describe()
    assert dav.get(q(member.href)).status == 200
    r = dav.proppatch(q(d), {"D:displayname": "Mine now"})
    assert r.status == 403 or r.multistatus()[d].status_of("D:displayname") == 403, \
        r.describe()
    assert dav.request("DELETE", q(d)).status == 403
    # DAVx5 and Apple mark a collection read-only from its privileges.
    it = dav.one(q(d), "D:current-user-privilege-set")
    privs = {p.tag for p in it.prop("D:current-user-privilege-set").iter()}
    assert clark("D:read") in privs, privs
    assert not privs & {clark("D:write"), clark("D:write-content"), clark("D:bind"),
                        clark("D:all")}, privs
    it = dav.one(q(dav_server.default_calendar(dav_server.user)), "D:current-user-privilege-set")
    privs = {p.tag for p in it.prop("D:current-user-privilege-set").iter()}
    assert privs & {clark("D:write"), clark("D:write-content"), clark("D:all")}, privs


# == access between users ===================================================

def test_cross_user_access_refused(dav_server, dav, dav2, calendar2):
    bob_event = calendar2 + "secret.ics"
    data = ical_event(new_uid(), utc(2026, 3, 10, 9), utc(2026, 3, 10, 10), summary="Bob's secret")
    put_ok(dav2, bob_event, data)
    bob_etag = etag_of(dav2, bob_event)
    homes = [dav_server.calendar_home(dav_server.user2), calendar2]
    if dav_server.mortar:
        homes += [dav_server.default_calendar(dav_server.user2),
                  dav_server.addressbook_home(dav_server.user2),
                  dav_server.default_addressbook(dav_server.user2)]
    for path in homes:
        for depth in (0, 1):
            r = dav.propfind(q(path), "D:displayname", "D:getetag", depth=depth)
            assert r.status in (403, 404), r.describe()
    checks = [
        dav.get(q(bob_event)),
        dav.head(q(bob_event)),
        dav.put(q(bob_event), ical_event(new_uid(), utc(2026, 3, 10, 9), utc(2026, 3, 10, 10),
                                         summary="Alice was here")),
        dav.put(q(calendar2 + "planted.ics"), ical_event(new_uid(), utc(2026, 3, 10, 9),
                                                         utc(2026, 3, 10, 10))),
        dav.delete(q(bob_event)),
        dav.proppatch(q(calendar2), {"D:displayname": "pwned"}),
        dav.sync(q(calendar2), ""),
        dav.report(q(calendar2), calendar_query_xml("", data=True), depth=1),
        dav.request("DELETE", q(calendar2)),
        dav.mkcalendar(q(dav_server.calendar_home(dav_server.user2) + "alice-made/")),
    ]
    for r in checks:
        assert r.status in (403, 404), r.describe()
        assert b"Bob's secret" not in r.body
    # Bob's data is as he left it.
    g = dav2.get(q(bob_event))
    assert g.status == 200 and g.etag == bob_etag
    assert dav2.get(q(calendar2 + "planted.ics")).status == 404
    assert dav2.one(q(calendar2), "D:displayname").text("D:displayname") != "pwned"


def test_multiget_cannot_reach_other_users(dav_server, dav, dav2, calendar, calendar2):
    """A multiget on one's own calendar naming another user's objects."""
    put_ok(dav2, calendar2 + "secret.ics", ical_event(new_uid(), utc(2026, 3, 10, 9),
                                                      utc(2026, 3, 10, 10), summary="Bob's secret"))
    put_ok(dav, calendar + "mine.ics", ical_event(new_uid(), utc(2026, 3, 10, 9),
                                                  utc(2026, 3, 10, 10)))
    r = dav.report(q(calendar), multiget_xml([calendar + "mine.ics", calendar2 + "secret.ics"]),
                   depth=1)
    assert r.status in (207, 400, 403), r.describe()
    assert b"Bob's secret" not in r.body


@pytest.mark.parametrize("method", ["PROPFIND", "GET", "PUT", "REPORT"])
def test_no_auth_is_401(dav_server, dav, calendar, method):
    body = {"PROPFIND": xml_doc('<D:propfind %s><D:prop><D:getetag/></D:prop></D:propfind>'
                                % XMLNS),
            "PUT": ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)),
            "REPORT": calendar_query_xml(""), "GET": None}[method]
    for path in (dav_server.dav_root, dav_server.principal(dav_server.user), calendar,
                 calendar + "x.ics"):
        if method == "PUT" and not path.endswith(".ics"):
            continue
        if method == "GET" and path == "/" and not dav_server.mortar:
            continue  # Radicale's web interface: a redirect to /.web
        r = dav.request(method, q(path), body=body, auth=False, depth=0)
        assert r.status == 401, r.describe()
        assert (r.header("WWW-Authenticate") or "").lower().startswith("basic"), r.describe()


@pytest.mark.parametrize("who", ["wrong password", "unknown user", "empty password",
                                 "other user's password"])
def test_bad_credentials_401(dav_server, dav, who):
    user, pw = dav_server.user, dav_server.users[0][1]
    creds = {"wrong password": (user, pw + "x"),
             "unknown user": ("nobody-%s@example.test" % uuid.uuid4().hex[:6], pw),
             "empty password": (user, ""),
             "other user's password": (user, dav_server.users[1][1])}[who]
    r = dav.propfind(q(dav_server.principal(user)), "D:displayname", auth=creds)
    assert r.status == 401, r.describe()
    assert (r.header("WWW-Authenticate") or "").lower().startswith("basic")


# == hostile input ==========================================================

def hostile_paths(dav_server, calendar, calendar2):
    me, bob = dav_server.user, dav_server.user2
    my_home = dav_server.calendar_home(me)
    bob_cal = calendar2[len(dav_server.calendar_home(bob)):]  # "t-xxx/"
    bob_rel = bob + "/" + bob_cal
    enc_bob = q(bob_rel)
    return {
        "dotdot": q(my_home) + "../" + enc_bob + "secret.ics",
        "dotdot-in-calendar": q(calendar) + "../../" + enc_bob + "secret.ics",
        "pct-dotdot": q(my_home) + "%2e%2e/" + enc_bob + "secret.ics",
        "pct-dotdot-upper": q(my_home) + "%2E%2E/" + enc_bob + "secret.ics",
        "pct-slash": q(my_home) + "..%2F" + enc_bob.replace("/", "%2F") + "secret.ics",
        "pct-slash-all": q(my_home.rstrip("/")) + "%2F..%2F" + enc_bob.replace("/", "%2F")
                         + "secret.ics",
        "backslash": q(my_home) + "..\\" + enc_bob.replace("/", "\\") + "secret.ics",
        "double-slash": q(dav_server.calendar_home(bob)).replace("/" + q(bob), "//" + q(bob))
                        + q(bob_cal) + "secret.ics",
        "overlong-utf8": q(my_home) + "%c0%ae%c0%ae/" + enc_bob + "secret.ics",
        "nul": q(calendar) + "x%00.ics",
        "long-name": q(calendar) + "a" * 1000 + ".ics",
        "long-collection": q(my_home) + "c" * 1000 + "/x.ics",
        "long-multibyte": q(calendar + "é" * 300 + ".ics"),
        "bad-utf8": q(calendar) + "%ff%fe.ics",
    }


HOSTILE = ["dotdot", "dotdot-in-calendar", "pct-dotdot", "pct-dotdot-upper", "pct-slash",
           "pct-slash-all", "backslash", "double-slash", "overlong-utf8", "nul", "long-name",
           "long-collection", "long-multibyte", "bad-utf8"]


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_hrefs(dav_server, dav, dav2, calendar, calendar2, case):
    put_ok(dav2, calendar2 + "secret.ics", ical_event(new_uid(), utc(2026, 3, 10, 9),
                                                      utc(2026, 3, 10, 10), summary="Bob's secret"))
    before = dav2.props(q(calendar2), "D:getetag", depth=1)
    path = hostile_paths(dav_server, calendar, calendar2)[case]
    event = ical_event(new_uid(), utc(2026, 3, 10, 9), utc(2026, 3, 10, 10), summary="planted")
    for method, body in (("GET", None), ("PROPFIND", None), ("PUT", event), ("DELETE", None),
                         ("REPORT", calendar_query_xml("", data=True))):
        headers = {"Content-Type": "text/calendar"} if method == "PUT" else None
        r = dav.request(method, path, body=body, headers=headers, depth=1)
        assert r.status < 500, r.describe(case)
        assert b"Bob's secret" not in r.body, r.describe(case)
        targets_bob = "bob" in path.lower() or dav_server.user2.split("@")[0] in path
        if targets_bob:
            assert r.status >= 400, r.describe(case)
    after = dav2.props(q(calendar2), "D:getetag", depth=1)
    assert {(i.href, i.text("D:getetag")) for i in after.items} == \
        {(i.href, i.text("D:getetag")) for i in before.items}


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol9;</D:displayname></D:prop></D:propfind>
"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>&xxe;</D:displayname>
</D:prop></D:set></D:propertyupdate>
"""

HARMLESS_DOCTYPE = """<?xml version="1.0"?>
<!DOCTYPE D:propfind [<!ENTITY p "displayname">]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>
"""


@radicale_lacks("500 on XML with entity declarations")
def test_billion_laughs_400(dav, calendar):
    t = time.time()
    r = dav.request("PROPFIND", q(calendar), body=BILLION_LAUGHS, depth=0)
    assert r.status == 400, r.describe()
    assert time.time() - t < 5
    r = dav.report(q(calendar), BILLION_LAUGHS.replace("D:propfind", "D:sync-collection"))
    assert r.status == 400, r.describe()


@radicale_lacks("500 on XML with entity declarations")
def test_xxe_refused(dav, calendar):
    r = dav.request("PROPPATCH", q(calendar), body=XXE)
    assert 400 <= r.status < 500, r.describe()
    assert b"root:" not in r.body
    dn = dav.one(q(calendar), "D:displayname").text("D:displayname") or ""
    assert "root:" not in dn


@mortar_only("any DOCTYPE is refused, even a harmless one")
def test_any_doctype_400(dav, calendar):
    r = dav.request("PROPFIND", q(calendar), body=HARMLESS_DOCTYPE, depth=0)
    assert r.status == 400, r.describe()


@pytest.mark.parametrize("body", [
    "<D:propfind xmlns:D='DAV:'><D:prop><D:getetag></D:prop></D:propfind>",  # not well-formed
    "not xml at all",
    pytest.param("<a>" * 10000 + "</a>" * 10000,
                 marks=mortar_only("nesting capped, unknown root refused (Radicale: allprop)")),
    "<?xml version='1.0' encoding='utf-8'?><D:propfind xmlns:D='DAV:'><D:prop>\xff</D:prop>",
], ids=["unclosed", "text", "deep", "truncated"])
def test_malformed_xml_4xx(dav, calendar, body):
    r = dav.request("PROPFIND", q(calendar), body=body.encode("latin-1", "replace"), depth=0)
    assert 400 <= r.status < 500, r.describe()


BAD_ICS = {
    "garbage": "this is not iCalendar\r\n",
    "unterminated": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n",
    "no-component": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\nEND:VCALENDAR\r\n",
    "bad-date": ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\nBEGIN:VEVENT\r\n"
                 "UID:bad-date\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:2026-13-45\r\n"
                 "END:VEVENT\r\nEND:VCALENDAR\r\n"),
    "two-uids": ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\n"
                 "BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260101T000000Z\r\n"
                 "DTSTART:20260105T100000Z\r\nEND:VEVENT\r\n"
                 "BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260101T000000Z\r\n"
                 "DTSTART:20260106T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"),
}
# Radicale 3.1.8 stores a VCALENDAR without any component (RFC 4791 4.1
# wants exactly one kind of them).
RADICALE_ACCEPTS = {"no-component"}


@pytest.mark.parametrize("case", sorted(BAD_ICS))
def test_malformed_icalendar_refused(dav_server, dav, calendar, case):
    if RADICALE_LAX and case in RADICALE_ACCEPTS:
        pytest.skip("Radicale 3.1.8 accepts it")
    put_ok(dav, calendar + "e.ics", ical_event(new_uid(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 11),
                                               summary="old"))
    e1 = etag_of(dav, calendar + "e.ics")
    r = dav.put(q(calendar + "new.ics"), BAD_ICS[case])
    assert 400 <= r.status < 500, r.describe(case)
    assert dav.get(q(calendar + "new.ics")).status == 404
    r = dav.put(q(calendar + "e.ics"), BAD_ICS[case])
    assert 400 <= r.status < 500, r.describe(case)
    g = dav.get(q(calendar + "e.ics"))
    assert g.etag == e1 and ical_props(g.text, "SUMMARY") == ["old"]


@mortar_only("status and precondition element of a bad iCalendar object (RFC 4791 5.3.2.1)")
@pytest.mark.parametrize("case", sorted(BAD_ICS))
def test_malformed_icalendar_precondition(dav, calendar, case):
    r = dav.put(q(calendar + "new.ics"), BAD_ICS[case])
    assert r.status in (403, 415), r.describe(case)
    assert r.error_elements() & {clark("C:valid-calendar-data"),
                                 clark("C:valid-calendar-object-resource")}, r.describe(case)


def send_big(dav, path, size, ctype="text/calendar"):
    """PUT size bytes; the server may answer (413) before reading them all:
    stop sending as soon as it does.  (status, raw response)."""
    s = dav.raw_socket()
    try:
        s.sendall(dav.head_lines("PUT", path, {"Content-Type": ctype,
                                               "Content-Length": str(size)}))
        head = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\nBEGIN:VEVENT\r\n"
                "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
                "DESCRIPTION:" % new_uid()).encode()
        chunk = b"x" * 65536
        try:
            s.sendall(head)
            sent = len(head)
            while sent < size:
                if select.select([s], [], [], 0)[0]:
                    break  # the server answered already
                n = min(len(chunk), size - sent)
                s.sendall(chunk[:n])
                sent += n
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        return read_raw_response(s)
    finally:
        s.close()


def test_body_over_limit_413(dav, calendar):
    """413, or RFC 4791's own answer: 403 with C:max-resource-size."""
    t = time.time()
    status, raw = send_big(dav, q(calendar + "huge.ics"), MAX_BODY + (1 << 20))
    assert status == 413 or (status == 403 and b"max-resource-size" in raw), raw[:500]
    assert time.time() - t < 60
    assert dav.get(q(calendar + "huge.ics")).status == 404


def test_interrupted_put_keeps_previous_version(dav, calendar):
    uid = new_uid()
    put_ok(dav, calendar + "e.ics", ical_event(uid, utc(2026, 1, 5, 10), utc(2026, 1, 5, 11),
                                               summary="the original"))
    e1 = etag_of(dav, calendar + "e.ics")
    c1 = ctag(dav, calendar)
    s = dav.raw_socket()
    try:
        s.sendall(dav.head_lines("PUT", q(calendar + "e.ics"),
                                 {"Content-Type": "text/calendar", "Content-Length": "100000"}))
        part = ical_event(uid, utc(2026, 1, 5, 10), utc(2026, 1, 5, 11), summary="truncated " +
                          "y" * 4000)
        s.sendall(part.encode()[:5000])
        time.sleep(0.3)
    finally:
        s.close()
    time.sleep(1.0)
    g = dav.get(q(calendar + "e.ics"))
    assert g.status == 200 and g.etag == e1, g.describe()
    assert ical_props(g.text, "SUMMARY") == ["the original"]
    assert ctag(dav, calendar) == c1
    # The same for a new name: nothing appears.
    s = dav.raw_socket()
    try:
        s.sendall(dav.head_lines("PUT", q(calendar + "partial.ics"),
                                 {"Content-Type": "text/calendar", "Content-Length": "100000"}))
        s.sendall(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    finally:
        s.close()
    time.sleep(1.0)
    assert dav.get(q(calendar + "partial.ics")).status == 404


@radicale_lacks("207 with nothing to an unknown REPORT")
def test_unknown_report_refused(dav, calendar):
    body = xml_doc('<X:made-up-report xmlns:X="urn:x"/>')
    r = dav.report(q(calendar), body, depth=0)
    assert r.status in (400, 403, 501), r.describe()


def test_depth_infinity_propfind_not_5xx(dav_server, dav):
    r = dav.propfind(q(dav_server.calendar_home(dav_server.user)), "D:getetag", depth="infinity")
    assert r.status in (207, 403), r.describe()
    if r.status == 403:
        assert clark("D:propfind-finite-depth") in r.error_elements(), r.describe()
