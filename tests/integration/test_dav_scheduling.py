"""CalDAV scheduling (RFC 6638) on a real stack, over HTTPS.

Implicit scheduling by the server (ngx_caldav/caldav_sched.c): an organizer
stores an event with attendees and

  - a local attendee (an account of the stack) finds a METHOD:REQUEST in
    their scheduling inbox and the event in their default calendar; their
    answer (PARTSTAT in their copy) comes back to the organizer as a
    METHOD:REPLY and in the organizer's copy; a deletion by the organizer
    sends a CANCEL and removes the attendee's copy;
  - an attendee outside the deployment gets an iMIP mail (RFC 6047) with a
    text/calendar; method=REQUEST part, sent through the stack's Postfix
    and caught by its smtp-sink;
  - a VFREEBUSY POST to the outbox answers the busy time of a local user.

Mortar's own contract (the layout, the inbox, the sink): skipped when the
DAV tests are pointed at another server.
"""

import email
import email.policy
import os
import time

import pytest

from davutil import (clark, dav, dav2, dav_server, mortar_only, new_uid,  # noqa: F401
                     q, unfold)

pytestmark = mortar_only("server-side scheduling, inbox layout and the stack's smtp-sink")

START = "20270105T100000Z"


def event(uid, organizer, attendees, summary, start=START, partstat=None):
    """A VEVENT organized by organizer; attendees: addresses, the
    organizer's own entry ACCEPTED, the others NEEDS-ACTION (or
    partstat[addr])."""
    partstat = partstat or {}
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Mortar tests//EN",
             "BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20260101T000000Z",
             "DTSTART:" + start, "DURATION:PT1H", "SUMMARY:" + summary,
             "ORGANIZER:mailto:" + organizer]
    for a in attendees:
        ps = partstat.get(a, "ACCEPTED" if a == organizer else "NEEDS-ACTION")
        lines.append("ATTENDEE;PARTSTAT=%s;RSVP=TRUE:mailto:%s" % (ps, a))
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def inbox(dav_server, user):
    return dav_server.calendar_home(user) + "inbox/"


def objects(client, coll):
    """{href: text} of every object of a collection."""
    ms = client.props(q(coll), "D:getetag", depth=1)
    out = {}
    for href in ms.hrefs():
        if href.rstrip("/") == coll.rstrip("/"):
            continue
        r = client.get(q(href))
        assert r.status == 200, r.describe()
        out[href] = unfold(r.text)
    return out


def with_uid(client, coll, uid, *needles):
    """The (href, text) of the objects of coll with UID uid and every
    needle."""
    return [(h, t) for h, t in objects(client, coll).items()
            if "UID:" + uid in t and all(n in t for n in needles)]


def attendee_line(text, addr):
    for line in text.splitlines():
        if line.startswith("ATTENDEE") and line.lower().endswith("mailto:" + addr.lower()):
            return line
    return None


def test_dav_header_advertises_auto_schedule(dav, dav_server):
    r = dav.options(q(dav_server.dav_root))
    assert r.status == 200, r.describe()
    assert "calendar-auto-schedule" in r.header("DAV", ""), r.header("DAV")


def test_invite_reply_cancel_between_local_users(dav, dav2, dav_server):
    alice, bob = dav_server.user, dav_server.user2
    uid = new_uid("sched")
    path = dav_server.default_calendar(alice) + uid + ".ics"
    body = event(uid, alice, [alice, bob], "Planning " + uid)

    r = dav.put(q(path), body)
    assert r.status == 201, r.describe()
    etag = r.etag

    # the organizer's copy is what the client sent, under the same ETag
    r = dav.get(q(path))
    assert r.text == body and r.etag == etag

    # bob: the REQUEST in the inbox, the event in his calendar
    req = with_uid(dav2, inbox(dav_server, bob), uid, "METHOD:REQUEST")
    assert len(req) == 1, objects(dav2, inbox(dav_server, bob))
    copies = with_uid(dav2, dav_server.default_calendar(bob), uid)
    assert len(copies) == 1
    bob_href, bob_text = copies[0]
    assert "METHOD" not in bob_text
    assert "PARTSTAT=NEEDS-ACTION" in attendee_line(bob_text, bob)

    # bob accepts in his copy: alice gets a REPLY and her copy says so
    accepted = bob_text.replace(attendee_line(bob_text, bob),
                                "ATTENDEE;PARTSTAT=ACCEPTED:mailto:" + bob)
    r = dav2.put(q(bob_href), accepted)
    assert r.status == 204, r.describe()
    replies = with_uid(dav, inbox(dav_server, alice), uid, "METHOD:REPLY")
    assert len(replies) == 1
    assert "PARTSTAT=ACCEPTED" in attendee_line(replies[0][1], bob)
    r = dav.get(q(path))
    assert r.status == 200
    assert "PARTSTAT=ACCEPTED" in attendee_line(unfold(r.text), bob)
    assert r.etag != etag  # the server changed alice's copy: a new ETag

    # alice cancels: bob gets a CANCEL and loses his copy
    r = dav.delete(q(path))
    assert r.status == 204, r.describe()
    assert len(with_uid(dav2, inbox(dav_server, bob), uid, "METHOD:CANCEL")) == 1
    assert dav2.get(q(bob_href)).status == 404


def test_invite_outside_attendee_by_imip(dav, dav_server, stack):
    alice = dav_server.user
    # nginx's workers (www-data) submit with "sendmail -C <run>/postfix/etc";
    # Postfix's postdrop accepts that only when the default main.cf lists
    # the directory (scripts/stack.sh keeps it there)
    confdir = os.path.join(stack.run, "postfix", "etc")
    try:
        with open("/etc/postfix/main.cf") as f:
            listed = any(confdir in line for line in f
                         if line.strip().startswith("alternate_config_directories"))
    except OSError:
        listed = False
    assert listed, ("/etc/postfix/main.cf must list %s in alternate_config_directories "
                    "for nginx to submit iMIP mail" % confdir)
    uid = new_uid("imip")
    outside = "carol@outside.test"
    path = dav_server.default_calendar(alice) + uid + ".ics"
    r = dav.put(q(path), event(uid, alice, [alice, outside], "Offsite " + uid))
    assert r.status == 201, r.describe()

    deadline = time.time() + 60
    found = []
    while time.time() < deadline and not found:
        found = stack.sink_messages(uid)
        if not found:
            time.sleep(0.5)
    assert found, "no iMIP message for %s in %s/sink/mail" % (uid, stack.run)
    raw = found[-1]
    # smtp-sink -d saves the SMTP session: the message starts after DATA's
    # headers; email parses from the first header line it finds
    start = raw.find(b"From: ")
    msg = email.message_from_bytes(raw[start:], policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == outside
    assert msg["From"].addresses[0].addr_spec == alice
    assert "Invitation" in str(msg["Subject"])
    cal = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(cal) == 1, raw[:3000]
    assert cal[0].get_param("method") == "REQUEST"
    text = cal[0].get_content()
    assert "METHOD:REQUEST" in text and "UID:" + uid in text
    dav.delete(q(path))


def test_freebusy_post_to_outbox(dav, dav2, dav_server):
    alice, bob = dav_server.user, dav_server.user2
    uid = new_uid("busy")
    # bob is busy 2027-02-01 09:00-10:00 (an event of his own)
    busy = dav_server.default_calendar(bob) + uid + ".ics"
    r = dav2.put(q(busy), event(uid, bob, [], "Busy", start="20270201T090000Z"))
    assert r.status == 201, r.describe()
    req = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Mortar tests//EN", "METHOD:REQUEST",
        "BEGIN:VFREEBUSY", "UID:" + new_uid("fb"), "DTSTAMP:20260101T000000Z",
        "DTSTART:20270201T000000Z", "DTEND:20270202T000000Z",
        "ORGANIZER:mailto:" + alice, "ATTENDEE:mailto:" + bob,
        "ATTENDEE:mailto:nobody@outside.test", "END:VFREEBUSY", "END:VCALENDAR", ""])
    r = dav.request("POST", q(dav_server.calendar_home(alice) + "outbox/"), body=req,
                    headers={"Content-Type": "text/calendar; charset=utf-8"})
    assert r.status == 200, r.describe()
    root = r.xml()
    assert root.tag == clark("C:schedule-response")
    answers = {}
    for resp in root.findall(clark("C:response")):
        who = resp.find("%s/%s" % (clark("C:recipient"), clark("D:href"))).text
        answers[who] = (resp.findtext(clark("C:request-status")),
                        resp.findtext(clark("C:calendar-data")) or "")
    status, data = answers["mailto:" + bob]
    assert status.startswith("2.0")
    assert "20270201T090000Z/20270201T100000Z" in unfold(data)
    assert answers["mailto:nobody@outside.test"][0].startswith("3.7")
    dav2.delete(q(busy))
