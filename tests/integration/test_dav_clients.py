"""Real DAV clients against the server: Debian's python3-caldav (the
library behind many scripts and bridges), vdirsyncer (two-way sync with
local folders) and tsdav from npm (the client of many JavaScript calendar
apps, tests/dav/).

Each client starts from the server root and discovers the rest itself.
Same server selection as test_dav_protocol.py (davutil.py): Mortar's test
stack by default, MORTAR_DAV_FLAVOR=radicale for the reference.
"""

import json
import os
import shutil
import subprocess
import uuid
from datetime import timezone

import pytest

from davutil import (addressbook, calendar, dav, dav_server, ical_event,  # noqa: F401
                     ical_props, new_uid, norm_href, q, utc, vcard)

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DAVDIR = os.path.join(TOP, "tests", "dav")
UTC = timezone.utc


def path_of(url):
    return norm_href(str(url))


# == python3-caldav ===========================================================

WEEKLY_UID = "pycaldav-weekly-%s@mortar.test" % uuid.uuid4().hex[:8]


def weekly_event():
    # Mondays 10:00Z from 2026-01-05; none on 2026-02-16; the 2026-03-02
    # instance moved to Thursday 2026-03-05 15:00Z.
    return ical_event(WEEKLY_UID, utc(2026, 1, 5, 10), utc(2026, 1, 5, 11),
                      summary="Weekly sync", rrule="FREQ=WEEKLY",
                      exdates=[utc(2026, 2, 16, 10)],
                      overrides=[{"recurrence_id": utc(2026, 3, 2, 10),
                                  "start": utc(2026, 3, 5, 15), "end": utc(2026, 3, 5, 16),
                                  "summary": "Weekly sync (moved)"}])


def uids(objs):
    out = set()
    for o in objs:
        out.update(ical_props(o.data, "UID"))
    return out


def test_python_caldav(dav_server):
    caldav = pytest.importorskip("caldav")
    user, password = dav_server.users[0]
    client = caldav.DAVClient(url=dav_server.url, username=user, password=password,
                              ssl_verify_cert=False, timeout=60)
    cal = None
    try:
        # Discovery from the server root.
        principal = client.principal()
        assert path_of(principal.url) == dav_server.principal(user)
        home = principal.calendar_home_set
        assert path_of(home.url) == dav_server.calendar_home(user)

        cal_id = "pycaldav-%s" % uuid.uuid4().hex[:8]
        cal = principal.make_calendar(name="python-caldav " + cal_id, cal_id=cal_id)
        assert path_of(cal.url) == dav_server.calendar_home(user) + cal_id + "/"
        assert cal_id in {path_of(c.url).rstrip("/").rsplit("/", 1)[-1]
                          for c in principal.calendars()}
        assert cal.get_display_name() == "python-caldav " + cal_id

        weekly = cal.save_event(weekly_event())
        single_uid = new_uid("pycaldav-single")
        cal.save_event(ical_event(single_uid, utc(2026, 3, 10, 14), utc(2026, 3, 10, 15),
                                  summary="Planning"))

        def found(start, end, **kw):
            return uids(cal.search(start=start, end=end, event=True, **kw))

        # A week in March, long after the first instance.
        assert found(utc(2026, 3, 9), utc(2026, 3, 16)) == {WEEKLY_UID, single_uid}
        # The date_search of older scripts.
        assert uids(cal.date_search(utc(2026, 3, 9), utc(2026, 3, 16), expand=False)) == \
            {WEEKLY_UID, single_uid}
        # The EXDATE week has no instance.
        assert found(utc(2026, 2, 16), utc(2026, 2, 22)) == set()
        # The moved instance: not on its Monday, found at its new time.
        assert found(utc(2026, 3, 2), utc(2026, 3, 3)) == set()
        assert found(utc(2026, 3, 5, 14), utc(2026, 3, 5, 16)) == {WEEKLY_UID}

        # Expanded (by the server, or by the library when the server does not).
        occ = cal.search(start=utc(2026, 3, 1), end=utc(2026, 3, 15), event=True, expand=True)
        starts = sorted(o.icalendar_instance.walk("VEVENT")[0]["DTSTART"].dt
                        .astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
                        for o in occ if WEEKLY_UID in ical_props(o.data, "UID"))
        assert starts == ["20260305T150000Z", "20260309T100000Z"], starts

        # By UID, modified, then deleted.
        ev = cal.event_by_uid(WEEKLY_UID)
        assert "Weekly sync (moved)" in ical_props(ev.data, "SUMMARY")
        for comp in ev.icalendar_instance.walk("VEVENT"):
            if "RECURRENCE-ID" not in comp:
                comp["SUMMARY"] = "Weekly sync v2"
        ev.save()
        assert "Weekly sync v2" in ical_props(cal.event_by_uid(WEEKLY_UID).data, "SUMMARY")
        weekly.delete()
        assert found(utc(2026, 3, 9), utc(2026, 3, 16)) == {single_uid}
        with pytest.raises(caldav.error.NotFoundError):
            cal.event_by_uid(WEEKLY_UID)
    finally:
        if cal is not None:
            cal.delete()
        client.close()


# == vdirsyncer ===============================================================

def server_items(dav, path):
    """{UID: (href, data)} of a collection, by PROPFIND Depth 1 and GET."""
    ms = dav.props(q(path), "D:getetag", depth=1)
    out = {}
    for it in ms.items:
        if it.href.rstrip("/") == path.rstrip("/"):
            continue
        g = dav.get(q(it.href))
        assert g.status == 200, g.describe()
        for u in ical_props(g.text, "UID"):
            out[u] = (it.href, g.text)
    return out


def local_items(folder):
    """{UID: (file, data)} of a vdirsyncer filesystem collection."""
    out = {}
    if not os.path.isdir(folder):
        return out
    for name in os.listdir(folder):
        p = os.path.join(folder, name)
        if os.path.isfile(p) and not name.startswith("."):
            with open(p, encoding="utf-8") as f:
                data = f.read()
            for u in ical_props(data, "UID"):
                out[u] = (p, data)
    return out


class Vdirsyncer:
    def __init__(self, tmp_path, dav_server, kind, collection, resolution):
        self.dir = tmp_path
        self.kind = kind  # "caldav" or "carddav"
        self.name = collection
        self.ext = ".ics" if kind == "caldav" else ".vcf"
        self.local_root = str(tmp_path / "local")
        self.local = os.path.join(self.local_root, collection)
        user, password = dav_server.users[0]
        s = json.dumps
        self.conf = str(tmp_path / "config")
        with open(self.conf, "w") as f:
            f.write("[general]\nstatus_path = %s\n\n" % s(str(tmp_path / "status") + "/"))
            f.write("[pair p]\na = \"local\"\nb = \"remote\"\ncollections = [%s]\n"
                    "conflict_resolution = %s\n\n" % (s(collection), s(resolution)))
            f.write("[storage local]\ntype = \"filesystem\"\npath = %s\nfileext = %s\n\n"
                    % (s(self.local_root + "/"), s(self.ext)))
            # The server root: vdirsyncer finds principal and home itself.
            # vdirsyncer 0.19 has no `verify = false`: a self-signed server
            # is pinned by its certificate's fingerprint.
            f.write("[storage remote]\ntype = %s\nurl = %s\nusername = %s\npassword = %s\n"
                    % (s(kind), s(dav_server.url), s(user), s(password)))
            if dav_server.url.startswith("https:"):
                f.write("verify_fingerprint = %s\n" % s(dav_server.fingerprint()))

    def run(self, *args, stdin=""):
        env = dict(os.environ, HOME=str(self.dir), LC_ALL="C.UTF-8", LANG="C.UTF-8")
        r = subprocess.run(["vdirsyncer", "-c", self.conf] + list(args), input=stdin,
                           capture_output=True, text=True, timeout=180, env=env)
        assert r.returncode == 0, "vdirsyncer %s exited %d:\n%s\n%s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr)
        return r

    def discover(self):
        # Asks whether to create the collection on the side that lacks it.
        return self.run("discover", "--no-list", stdin="y\n" * 10)

    def sync(self):
        return self.run("sync")

    def write_local(self, name, data):
        os.makedirs(self.local, exist_ok=True)
        with open(os.path.join(self.local, name), "w", encoding="utf-8", newline="") as f:
            f.write(data)


@pytest.fixture
def vdirsyncer_bin():
    if not shutil.which("vdirsyncer"):
        pytest.fail("vdirsyncer is not installed (scripts/deps.sh installs it)")


def edit(text, old, new):
    assert old in text, (old, text)
    return text.replace(old, new)


def test_vdirsyncer_calendar(tmp_path, dav_server, dav, calendar, vdirsyncer_bin):
    name = calendar.rstrip("/").rsplit("/", 1)[-1]
    s1 = new_uid("vds-s1")
    r = dav.put(q(calendar + "s1.ics"), ical_event(s1, utc(2026, 3, 2, 9), utc(2026, 3, 2, 10),
                                                    summary="from server"))
    assert r.status == 201, r.describe()
    v = Vdirsyncer(tmp_path, dav_server, "caldav", name, "a wins")
    v.discover()
    v.sync()
    assert set(local_items(v.local)) == {s1}

    # Created locally -> on the server.
    l1 = new_uid("vds-l1")
    v.write_local("l1.ics", ical_event(l1, utc(2026, 3, 3, 9), utc(2026, 3, 3, 10),
                                       summary="from laptop", rrule="FREQ=WEEKLY;COUNT=5"))
    v.sync()
    srv = server_items(dav, calendar)
    assert set(srv) == {s1, l1}
    assert ical_props(srv[l1][1], "SUMMARY") == ["from laptop"]

    # Created on the server -> local.
    s2 = new_uid("vds-s2")
    r = dav.put(q(calendar + "s2.ics"), ical_event(s2, utc(2026, 3, 4, 9), utc(2026, 3, 4, 10),
                                                    summary="second from server"))
    assert r.status == 201, r.describe()
    v.sync()
    loc = local_items(v.local)
    assert set(loc) == {s1, l1, s2}
    assert ical_props(loc[s2][1], "SUMMARY") == ["second from server"]

    # Deleted locally -> gone from the server; deleted on the server -> gone here.
    os.unlink(loc[s1][0])
    assert dav.delete(q(calendar + "s2.ics")).status in (200, 204)
    v.sync()
    assert set(server_items(dav, calendar)) == {l1}
    assert set(local_items(v.local)) == {l1}

    # Both sides change l1: "a wins" (a = the local folder).
    loc = local_items(v.local)
    v.write_local(os.path.basename(loc[l1][0]),
                  edit(loc[l1][1], "SUMMARY:from laptop", "SUMMARY:edited on laptop"))
    href, data = server_items(dav, calendar)[l1]
    etag = dav.get(q(href)).etag
    r = dav.put(q(href), edit(data, "SUMMARY:from laptop", "SUMMARY:edited on server"),
                if_match=etag)
    assert r.status in (200, 201, 204), r.describe()
    v.sync()
    assert ical_props(server_items(dav, calendar)[l1][1], "SUMMARY") == ["edited on laptop"]
    assert ical_props(local_items(v.local)[l1][1], "SUMMARY") == ["edited on laptop"]
    # And a last sync has nothing left to do.
    out = v.sync()
    assert "Copying" not in out.stdout + out.stderr, out.stdout + out.stderr


def test_vdirsyncer_addressbook(tmp_path, dav_server, dav, addressbook, vdirsyncer_bin):
    name = addressbook.rstrip("/").rsplit("/", 1)[-1]
    s1 = str(uuid.uuid4())
    r = dav.put(q(addressbook + "s1.vcf"), vcard(s1, "Sam Server", ["sam@example.org"],
                                                  version="3.0"))
    assert r.status == 201, r.describe()
    v = Vdirsyncer(tmp_path, dav_server, "carddav", name, "b wins")
    v.discover()
    v.sync()
    assert set(local_items(v.local)) == {s1}

    l1 = str(uuid.uuid4())
    v.write_local("l1.vcf", vcard(l1, "Lee Laptop", ["lee@example.org"], version="4.0"))
    v.sync()
    srv = server_items(dav, addressbook)
    assert set(srv) == {s1, l1}
    assert ical_props(srv[l1][1], "FN") == ["Lee Laptop"]

    s2 = str(uuid.uuid4())
    assert dav.put(q(addressbook + "s2.vcf"),
                   vcard(s2, "Sue Server", ["sue@example.org"])).status == 201
    v.sync()
    loc = local_items(v.local)
    assert set(loc) == {s1, l1, s2}

    os.unlink(loc[s1][0])
    assert dav.delete(q(addressbook + "s2.vcf")).status in (200, 204)
    v.sync()
    assert set(server_items(dav, addressbook)) == {l1}
    assert set(local_items(v.local)) == {l1}

    # Both sides change l1: "b wins" (b = the server).
    loc = local_items(v.local)
    v.write_local(os.path.basename(loc[l1][0]), edit(loc[l1][1], "FN:Lee Laptop", "FN:Lee Local"))
    href, data = server_items(dav, addressbook)[l1]
    r = dav.put(q(href), edit(data, "FN:Lee Laptop", "FN:Lee Remote"))
    assert r.status in (200, 201, 204), r.describe()
    v.sync()
    assert ical_props(server_items(dav, addressbook)[l1][1], "FN") == ["Lee Remote"]
    assert ical_props(local_items(v.local)[l1][1], "FN") == ["Lee Remote"]


# == tsdav (npm) ==============================================================

@pytest.fixture(scope="module")
def tsdav_installed():
    if not shutil.which("node"):
        pytest.fail("node is missing (scripts/deps.sh installs nodejs)")
    r = subprocess.run(["sh", os.path.join(DAVDIR, "install.sh")], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, "tests/dav/install.sh failed:\n%s\n%s" % (r.stdout, r.stderr)


def test_tsdav_roundtrip(dav_server, tsdav_installed):
    user, password = dav_server.users[0]
    env = dict(os.environ, NODE_TLS_REJECT_UNAUTHORIZED="0", NODE_NO_WARNINGS="1")
    r = subprocess.run(["node", os.path.join(DAVDIR, "tsdav_roundtrip.mjs"), dav_server.url,
                        user, password], capture_output=True, text=True, timeout=180, env=env,
                       cwd=DAVDIR)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        pytest.fail("tsdav_roundtrip.mjs printed no JSON (exit %d):\n%s\n%s"
                    % (r.returncode, r.stdout, r.stderr))
    assert out["ok"] and r.returncode == 0, json.dumps(out, indent=1) + r.stderr
    login = out["steps"]["login"]
    assert path_of(login["principalUrl"]) == dav_server.principal(user), login
    assert path_of(login["homeUrl"]) == dav_server.calendar_home(user), login
