"""Sharing calendars and address books between users of one domain, over
HTTPS against the real stack (ngx_caldav/caldav_share.c, docs/caldav.md
"Sharing").

The protocol is draft-pot-webdav-resource-sharing as sabre/dav 4 speaks
it: the owner POSTs a D:share-resource body (application/davsharing+xml)
to the collection; the sharee finds the collection in their own home under
its real URL in the owner's home, with privileges that say read or
read-write; every request is checked against the owner's shares, so a
removed share is refused from the next request on.

User 1 (alice) shares, user 2 (bob) is the sharee.  Mortar only: Radicale
has no sharing.
"""

import uuid

import pytest

from davutil import (FLAVOR, addressbook, calendar, calendar_query_xml, clark, dav, dav2,  # noqa: F401
                     dav_server, ical_event, multiget_xml, new_uid, q, time_range_filter,
                     utc, vcard, xml_doc, xml_escape)

pytestmark = pytest.mark.skipif(FLAVOR != "mortar",
                                reason="Mortar-only: resource sharing")

SHARE_CT = "application/davsharing+xml"
SHARE_PROPS = ("D:displayname", "D:resourcetype", "D:owner", "D:current-user-privilege-set",
               "D:share-access", "D:invite", "CS:getctag", "D:sync-token")


def share_xml(*sharees):
    """sharees: (href, access) pairs; access read, read-write or no-access."""
    return xml_doc('<D:share-resource xmlns:D="DAV:">%s</D:share-resource>' % "".join(
        "<D:sharee><D:href>%s</D:href><D:prop><D:displayname>x</D:displayname></D:prop>"
        "<D:comment>from the tests</D:comment>"
        "<D:share-access><D:%s/></D:share-access></D:sharee>" % (xml_escape(h), a)
        for h, a in sharees))


def share(client, path, user, access, ctype=SHARE_CT):
    return client.request("POST", q(path), body=share_xml(("mailto:" + user, access)),
                          headers={"Content-Type": ctype})


def share_ok(client, path, user, access):
    r = share(client, path, user, access)
    assert r.status in (200, 204), r.describe()
    return r


def privileges(item):
    el = item.prop("D:current-user-privilege-set")
    assert el is not None, item
    return {p.tag for p in el.iter()}


def share_access(item):
    el = item.prop("D:share-access")
    assert el is not None, item
    return {c.tag for c in el}


def home_listing(client, home):
    return client.props(q(home), *SHARE_PROPS, depth=1)


WRITE = {clark("D:write-content"), clark("D:bind"), clark("D:unbind")}


def test_share_read_then_read_write_then_remove(dav_server, dav, dav2, calendar):
    alice, bob = dav_server.user, dav_server.user2
    bob_home = dav_server.calendar_home(bob)
    event = calendar + "standup.ics"
    data = ical_event(new_uid(), utc(2026, 3, 10, 9), utc(2026, 3, 10, 10), summary="Standup")
    r = dav.put(q(event), data)
    assert r.status == 201, r.describe()

    # Not shared: bob gets nothing, and his home does not list it.
    assert dav2.propfind(q(calendar), "D:displayname").status == 403
    assert dav2.get(q(event)).status == 403
    assert home_listing(dav2, bob_home).get(calendar) is None

    # Read.
    r = share_ok(dav, calendar, bob, "read")
    it = home_listing(dav2, bob_home)[calendar]
    assert it.has_child("D:resourcetype", "C:calendar"), it
    assert it.text("D:displayname").startswith("Test "), it
    assert it.href_of("D:owner") == dav_server.principal(alice), it
    assert share_access(it) == {clark("D:read")}, it
    privs = privileges(it)
    assert clark("D:read") in privs and not privs & (WRITE | {clark("D:write")}), privs

    g = dav2.get(q(event))
    assert g.status == 200 and b"SUMMARY:Standup" in g.body, g.describe()
    ms = dav2.report(q(calendar), calendar_query_xml(
        time_range_filter(utc(2026, 3, 9), utc(2026, 3, 16))), depth=1).multistatus()
    assert ms.get(event) is not None, ms
    ms = dav2.report(q(calendar), multiget_xml([event])).multistatus()
    assert ms[event].prop("C:calendar-data") is not None, ms
    r = dav2.sync(q(calendar), None)
    assert event in {i.href for i in r.multistatus().items}, r.describe()

    r = dav2.put(q(calendar + "bob.ics"), ical_event(new_uid(), utc(2026, 3, 11, 9),
                                                      utc(2026, 3, 11, 10)))
    assert r.status == 403, r.describe()
    assert clark("D:need-privileges") in r.error_elements(), r.describe()
    assert dav2.delete(q(event)).status == 403
    assert dav2.get(q(event)).status == 200

    # Read-write: bob writes, alice sees it and her sync token moves.
    token = dav.sync(q(calendar), None).multistatus().sync_token
    share_ok(dav, calendar, bob, "read-write")
    it = home_listing(dav2, bob_home)[calendar]
    assert share_access(it) == {clark("D:read-write")}, it
    privs = privileges(it)
    assert WRITE <= privs and clark("D:write-properties") not in privs, privs
    bob_event = calendar + "bob.ics"
    r = dav2.put(q(bob_event), ical_event(new_uid(), utc(2026, 3, 11, 9), utc(2026, 3, 11, 10),
                                          summary="From Bob"))
    assert r.status == 201, r.describe()
    g = dav.get(q(bob_event))
    assert g.status == 200 and b"SUMMARY:From Bob" in g.body, g.describe()
    ms = dav.sync(q(calendar), token).multistatus()
    assert ms.get(bob_event) is not None and ms.sync_token != token, ms

    # Still only alice's: properties, the collection itself, its shares.
    r = dav2.proppatch(q(calendar), {"D:displayname": "Bob's now"})
    assert r.status == 403, r.describe()
    assert dav2.delete(q(calendar)).status == 403
    r = share(dav2, calendar, alice, "read")
    assert r.status == 403, r.describe()
    assert dav.one(q(calendar), "D:displayname").text("D:displayname").startswith("Test ")

    # The owner sees who has it.
    it = dav.one(q(calendar), "D:share-access", "D:invite")
    assert share_access(it) == {clark("D:shared-owner")}, it
    hrefs = [h.text for h in it.prop("D:invite").iter(clark("D:href"))]
    assert "mailto:" + bob.lower() in hrefs, hrefs

    # Removed: refused from the next request on, and no longer listed.
    share_ok(dav, calendar, bob, "no-access")
    assert dav2.get(q(event)).status == 403
    assert dav2.put(q(bob_event), ical_event(new_uid(), utc(2026, 3, 12, 9),
                                             utc(2026, 3, 12, 10))).status == 403
    assert home_listing(dav2, bob_home).get(calendar) is None
    it = dav.one(q(calendar), "D:share-access")
    assert share_access(it) == {clark("D:not-shared")}, it


def test_share_address_book(dav_server, dav, dav2, addressbook):
    bob = dav_server.user2
    share_ok(dav, addressbook, bob, "read-write")
    try:
        ms = home_listing(dav2, dav_server.addressbook_home(bob))
        it = ms[addressbook]
        assert it.has_child("D:resourcetype", "CR:addressbook"), it
        # the directory of bob's own domain is still there
        assert ms.get(dav_server.directory(bob)) is not None, ms
        assert home_listing(dav2, dav_server.calendar_home(bob)).get(addressbook) is None
        card = addressbook + "from-bob.vcf"
        r = dav2.put(q(card), vcard(new_uid(), "Shared Contact", ["shared@example.org"]))
        assert r.status == 201, r.describe()
        g = dav.get(q(card))
        assert g.status == 200 and b"Shared Contact" in g.body, g.describe()
    finally:
        share_ok(dav, addressbook, bob, "no-access")
    assert dav2.get(q(addressbook + "from-bob.vcf")).status == 403


def test_share_refused(dav_server, dav, dav2, calendar):
    alice, bob = dav_server.user, dav_server.user2
    domain = alice.split("@", 1)[1]
    cases = [
        ("another domain", dav, calendar, "someone@elsewhere.test", "within a domain"),
        ("unknown user", dav, calendar, "nobody-%s@%s" % (uuid.uuid4().hex[:8], domain),
         "not an active account"),
        ("the owner", dav, calendar, alice, "owns"),
        ("the scheduling inbox", dav, dav_server.calendar_home(alice) + "inbox/", bob,
         "only calendars and address books"),
        ("bob shares alice's calendar", dav2, calendar, bob, None),
    ]
    for name, client, path, user, says in cases:
        r = share(client, path, user, "read")
        assert r.status == 403, (name, r.describe())
        if says:
            assert says in r.text, (name, r.describe())
    # A body that is not a share-resource, or not XML at all.
    r = dav.request("POST", q(calendar), body="<D:share-resource xmlns:D=\"DAV:\">",
                    headers={"Content-Type": SHARE_CT})
    assert r.status == 400, r.describe()
    # Nothing above gave bob anything.
    assert dav2.propfind(q(calendar), "D:displayname").status == 403


def test_share_with_application_xml_and_principal_url(dav_server, dav, dav2, calendar):
    """Clients that send application/xml, and sharees named by principal URL."""
    bob = dav_server.user2
    body = share_xml((dav_server.abs_url(dav_server.principal(bob)), "read"))
    r = dav.request("POST", q(calendar), body=body,
                    headers={"Content-Type": "application/xml; charset=utf-8"})
    assert r.status in (200, 204), r.describe()
    assert dav2.propfind(q(calendar), "D:displayname").status == 207
    share_ok(dav, calendar, bob.upper(), "no-access")
    assert dav2.propfind(q(calendar), "D:displayname").status == 403


def test_deleted_calendar_is_not_listed(dav_server, dav, dav2):
    bob = dav_server.user2
    path = dav_server.calendar_home(dav_server.user) + "gone-%s/" % uuid.uuid4().hex[:8]
    assert dav.mkcalendar(q(path), displayname="Soon gone").status == 201
    share_ok(dav, path, bob, "read")
    assert home_listing(dav2, dav_server.calendar_home(bob)).get(path) is not None
    assert dav.delete(q(path)).status == 204
    assert home_listing(dav2, dav_server.calendar_home(bob)).get(path) is None
    # made again under the same name: a new calendar, not shared
    assert dav.mkcalendar(q(path)).status == 201
    try:
        assert dav2.propfind(q(path), "D:displayname").status == 403
        assert home_listing(dav2, dav_server.calendar_home(bob)).get(path) is None
    finally:
        dav.delete(q(path))


def test_options_allows_post(dav_server, dav):
    r = dav.options(q(dav_server.default_calendar(dav_server.user)))
    assert r.status == 200, r.describe()
    assert "POST" in [m.strip() for m in r.header("Allow", "").split(",")], r.headers
    # clients offer sharing only when the server says it speaks it
    assert "resource-sharing" in r.header("DAV", ""), r.header("DAV")
