"""test_milter.py -- mortar-milter against real Postfix, clamd and spamd.

The stack's Postfix calls mortar-milter (smtpd_milters, non_smtpd_milters),
which streams every message to the stack's clamd (a test signature database
holding only EICAR, made by the launcher) and hands it to spamd (Debian's
rules, offline: GTUBE).  EICAR and GTUBE are put together here from pieces
at test time; no file in the checkout holds them.

Covered: EICAR as a base64 attachment, inline and inside a zip (rejected,
virus named, nothing delivered); GTUBE per recipient setting (reject,
hold, tag); clean mail with truthful headers and forged stamps removed;
scanning switched off per user (no stamps); block and allow lists; the
multi-recipient rule; outgoing spam held, never relayed; clamd stopped in
the middle of a run (tempfail, then every message delivered after Postfix
retries); malformed and hostile input with the milter's RSS measured;
Redis counters; protocol edge cases through miltertest.
"""

import base64
import io
import os
import re
import shutil
import smtplib
import subprocess
import time
import uuid
import zipfile

import pytest

from conftest import TOP, message

EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
         + "EICAR-STANDARD-ANTIVIRUS-" + "TEST-FILE!$H+H*")
GTUBE = ("XJS*C4JDBQADN1.NSBN3*2IDNEN*"
         + "GTUBE-STANDARD-ANTI-UBE-" + "TEST-EMAIL*C.34X")


# -- helpers ---------------------------------------------------------------

def milter_pid(stack):
    with open(os.path.join(stack.run, "milter", "mortar-milter.pid")) as f:
        return int(f.read().strip())


def milter_mem(stack):
    """(VmRSS, VmHWM) of mortar-milter in kB."""
    vals = {}
    with open("/proc/%d/status" % milter_pid(stack)) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                vals[k] = int(v.split()[0])
    return vals["VmRSS"], vals["VmHWM"]


def milter_log(stack):
    with open(os.path.join(stack.run, "log", "mortar-milter.log"),
              errors="replace") as f:
        return f.read()


def send(stack, sender, rcpts, raw, client=None):
    """Send raw (str or bytes) from outside; returns None on success, or
    the (code, text) of the refusal."""
    s = client or stack.mx()
    try:
        refused = s.sendmail(sender, rcpts, raw)
        if refused:
            return ("rcpt", refused)
        return None
    except smtplib.SMTPDataError as e:
        return (e.smtp_code, e.smtp_error.decode(errors="replace"))
    except smtplib.SMTPRecipientsRefused as e:
        return ("rcpt", e.recipients)
    finally:
        try:
            s.quit()
        except Exception:
            pass


def mime(sender, rcpt, marker, parts, boundary="b-" + "x" * 8, close=True):
    """A multipart/mixed message; parts are (headers, body) strings."""
    out = ("From: <%s>\r\nTo: <%s>\r\nSubject: mime\r\nX-Test-Id: %s\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
           "boundary=\"%s\"\r\n\r\npreamble\r\n" % (sender, rcpt, marker,
                                                      boundary))
    for headers, body in parts:
        out += "--%s\r\n%s\r\n\r\n%s\r\n" % (boundary, headers, body)
    if close:
        out += "--%s--\r\n" % boundary
    return out


def b64(data):
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


def headers_of(raw):
    head = raw.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    return re.sub(r"\r\n[ \t]+", " ", head).split("\r\n")


def header_values(raw, name):
    name = name.lower() + ":"
    return [h.split(":", 1)[1].strip() for h in headers_of(raw)
            if h.lower().startswith(name)]


def held_qid(stack, sender, timeout=15):
    """Queue id of the message from sender that mortar-milter held."""
    deadline = time.time() + timeout
    pat = re.compile(r"([0-9A-F]+): hold: from=<%s>" % re.escape(sender))
    while time.time() < deadline:
        m = pat.search(milter_log(stack))
        if m:
            return m.group(1)
        time.sleep(0.2)
    return None


def postfix_etc(stack):
    return os.path.join(stack.run, "postfix", "etc")


def in_hold_queue(stack, qid):
    r = subprocess.run(["postcat", "-c", postfix_etc(stack), "-h", "-q", qid],
                       capture_output=True, text=True, timeout=30)
    held = os.path.exists(os.path.join(stack.run, "postfix", "spool", "hold",
                                       qid))
    return held, r.stdout


def drop_held(stack, qid):
    subprocess.run(["postsuper", "-c", postfix_etc(stack), "-d", qid, "hold"],
                   capture_output=True, timeout=30)


@pytest.fixture
def user(directory):
    """A fresh mailbox; attrs are the user's directory settings."""
    def make(**attrs):
        return directory.user("mf" + uuid.uuid4().hex[:10], **attrs)
    return make


def outside(marker):
    return "%s@outside.test" % marker


# -- antivirus ---------------------------------------------------------------

def test_eicar_base64_attachment_rejected(stack, user, marker):
    rcpt = user()
    raw = mime(outside(marker), rcpt, marker, [
        ("Content-Type: text/plain", "see attachment"),
        ("Content-Type: application/octet-stream; name=\"t.com\"\r\n"
         "Content-Transfer-Encoding: base64\r\n"
         "Content-Disposition: attachment; filename=\"t.com\"",
         b64(EICAR.encode())),
    ])
    r = send(stack, outside(marker), [rcpt], raw)
    assert r is not None and r[0] == 550, r
    assert "virus found" in r[1] and "Eicar" in r[1], r
    time.sleep(1)
    assert stack.count(rcpt, marker) == 0


def test_eicar_inline_rejected(stack, user, marker):
    rcpt = user()
    r = send(stack, outside(marker), [rcpt],
             message(outside(marker), [rcpt], marker, body=EICAR + "\r\n"))
    assert r is not None and r[0] == 550 and "Eicar" in r[1], r
    time.sleep(1)
    assert stack.count(rcpt, marker) == 0


def test_eicar_in_zip_rejected(stack, user, marker):
    rcpt = user()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("readme.txt", "nothing here")
        z.writestr("dir/eicar.com", EICAR)
    raw = mime(outside(marker), rcpt, marker, [
        ("Content-Type: text/plain", "zip attached"),
        ("Content-Type: application/zip; name=\"a.zip\"\r\n"
         "Content-Transfer-Encoding: base64", b64(buf.getvalue())),
    ])
    r = send(stack, outside(marker), [rcpt], raw)
    assert r is not None and r[0] == 550 and "Eicar" in r[1], r
    time.sleep(1)
    assert stack.count(rcpt, marker) == 0


def test_clean_mail_has_truthful_headers(stack, user, marker):
    rcpt = user()
    # A sender's forged stamps must not survive.
    extra = ("X-Spam-Status: No, score=-100.0 forged\r\n"
             "X-Virus-Scanned: forged\r\nX-Spam-Flag: NO\r\n")
    r = send(stack, outside(marker), [rcpt],
             message(outside(marker), [rcpt], marker, extra=extra,
                     body="Quarterly figures attached as text.\r\n"))
    assert r is None, r
    raw = stack.wait_for(rcpt, marker)
    assert raw is not None
    scanned = header_values(raw, "X-Virus-Scanned")
    assert scanned == ["clamd (mortar-milter) on mx.%s" % stack.domain]
    status = header_values(raw, "X-Spam-Status")
    assert len(status) == 1 and status[0].startswith("No, score="), status
    assert "forged" not in raw.decode(errors="replace")
    assert header_values(raw, "X-Spam-Flag") == []
    score = header_values(raw, "X-Spam-Score")
    assert len(score) == 1 and float(score[0]) < 5.0


# -- antispam, per recipient -------------------------------------------------

def test_gtube_rejected_by_setting(stack, user, marker):
    rcpt = user(mortarSpamAction="reject")
    r = send(stack, outside(marker), [rcpt],
             message(outside(marker), [rcpt], marker, body=GTUBE + "\r\n"))
    assert r is not None and r[0] == 550 and "spam" in r[1], r
    time.sleep(1)
    assert stack.count(rcpt, marker) == 0


def test_gtube_held_by_setting(stack, user, marker):
    rcpt = user(mortarSpamAction="quarantine")
    r = send(stack, outside(marker), [rcpt],
             message(outside(marker), [rcpt], marker, body=GTUBE + "\r\n"))
    assert r is None, r
    qid = held_qid(stack, outside(marker))
    assert qid, "no hold logged"
    try:
        held, text = in_hold_queue(stack, qid)
        assert held
        assert "X-Spam-Flag: YES" in text
        time.sleep(1)
        assert stack.count(rcpt, marker) == 0
    finally:
        drop_held(stack, qid)


def test_gtube_tagged_by_default(stack, user, marker):
    rcpt = user()
    r = send(stack, outside(marker), [rcpt],
             message(outside(marker), [rcpt], marker, body=GTUBE + "\r\n"))
    assert r is None, r
    raw = stack.wait_for(rcpt, marker)
    assert raw is not None
    assert header_values(raw, "X-Spam-Flag") == ["YES"]
    status = header_values(raw, "X-Spam-Status")[0]
    assert status.startswith("Yes, score=") and "GTUBE" in status
    assert float(header_values(raw, "X-Spam-Score")[0]) >= 1000


def test_threshold_per_user(stack, user, marker):
    # Every message scores a little (no Date, no Message-ID...): a user
    # with a threshold of 0.1 gets even this one tagged as spam.
    rcpt = user(mortarSpamThreshold="0.1")
    r = send(stack, outside(marker), [rcpt],
             message(outside(marker), [rcpt], marker, body="plain\r\n"))
    assert r is None, r
    raw = stack.wait_for(rcpt, marker)
    status = header_values(raw, "X-Spam-Status")[0]
    assert status.startswith("Yes,") and "required=0.1" in status, status


def test_scanning_off_means_no_stamps(stack, user, marker):
    rcpt = user(mortarVirusScan="FALSE", mortarSpamScan="FALSE")
    r = send(stack, outside(marker), [rcpt],
             message(outside(marker), [rcpt], marker, body=GTUBE + "\r\n"))
    assert r is None, r
    raw = stack.wait_for(rcpt, marker)
    assert raw is not None
    assert header_values(raw, "X-Virus-Scanned") == []
    assert header_values(raw, "X-Spam-Status") == []


def test_block_list_refuses_that_recipient_only(stack, user, marker):
    blocker = user(mortarSenderBlock="@outside.test")
    other = user()
    r = send(stack, outside(marker), [blocker, other],
             message(outside(marker), [blocker, other], marker))
    assert r is not None and r[0] == "rcpt", r
    assert blocker in r[1] and r[1][blocker][0] == 550, r
    assert other not in r[1]
    assert stack.wait_for(other, marker) is not None
    assert stack.count(blocker, marker) == 0


def test_allow_list_exempts_from_spam(stack, user, marker):
    rcpt = user(mortarSpamAction="reject", mortarSenderAllow=outside(marker))
    r = send(stack, outside(marker), [rcpt],
             message(outside(marker), [rcpt], marker, body=GTUBE + "\r\n"))
    assert r is None, r
    raw = stack.wait_for(rcpt, marker)
    assert raw is not None
    # Nobody wanted a spam verdict: spamd was not asked, nothing claims it.
    assert header_values(raw, "X-Spam-Status") == []
    assert header_values(raw, "X-Spam-Flag") == []
    assert header_values(raw, "X-Virus-Scanned")
    # ...but never from antivirus.
    r = send(stack, outside(marker), [rcpt],
             message(outside(marker), [rcpt], marker + "v", body=EICAR))
    assert r is not None and r[0] == 550


def test_multi_recipient_strictest_wins(stack, user, marker):
    tagger = user(mortarSpamAction="tag")
    rejecter = user(mortarSpamAction="reject")
    r = send(stack, outside(marker), [tagger, rejecter],
             message(outside(marker), [tagger, rejecter], marker,
                     body=GTUBE + "\r\n"))
    assert r is not None and r[0] == 550, r
    time.sleep(1)
    assert stack.count(tagger, marker) == 0
    # Ham for both: delivered to both.
    r = send(stack, outside(marker), [tagger, rejecter],
             message(outside(marker), [tagger, rejecter], marker + "h"))
    assert r is None
    assert stack.wait_for(tagger, marker + "h") is not None
    assert stack.wait_for(rejecter, marker + "h") is not None


# -- outgoing ------------------------------------------------------------------

def test_authenticated_spam_held_not_relayed(stack, marker):
    alice = "alice@" + stack.domain
    to = "%s@remote.test" % marker
    s = stack.submission(alice)
    r = send(stack, alice, [to],
             message(alice, [to], marker, body=GTUBE + "\r\n"), client=s)
    assert r is None, r
    deadline = time.time() + 15
    qid = None
    pat = re.compile(r"([0-9A-F]+): hold: from=<%s> outbound" % re.escape(alice))
    while time.time() < deadline and not qid:
        for m in pat.finditer(milter_log(stack)):
            held, text = in_hold_queue(stack, m.group(1))
            if held and marker in text:
                qid = m.group(1)
        time.sleep(0.3)
    assert qid, "outgoing spam was not held"
    try:
        time.sleep(2)
        assert stack.sink_messages(marker) == []
    finally:
        drop_held(stack, qid)


def test_authenticated_clean_mail_relayed(stack, marker):
    alice = "alice@" + stack.domain
    to = "%s@remote.test" % marker
    s = stack.submission(alice)
    r = send(stack, alice, [to], message(alice, [to], marker), client=s)
    assert r is None, r
    deadline = time.time() + 20
    while time.time() < deadline and not stack.sink_messages(marker):
        time.sleep(0.3)
    found = stack.sink_messages(marker)
    assert len(found) == 1
    assert b"X-Virus-Scanned: clamd (mortar-milter)" in found[0]


# -- fail modes ----------------------------------------------------------------

def stop_clamd(stack):
    pf = os.path.join(stack.run, "clamav", "clamd.pid")
    pid = int(open(pf).read())
    os.kill(pid, 15)
    deadline = time.time() + 15
    while os.path.exists("/proc/%d" % pid) and time.time() < deadline:
        time.sleep(0.1)


def test_clamd_down_tempfails_then_everything_delivered(stack, user, marker):
    rcpt = user()
    sent = 0
    # Before: delivered normally.
    for i in range(3):
        assert send(stack, outside(marker), [rcpt],
                    message(outside(marker), [rcpt], marker)) is None
        sent += 1
    stop_clamd(stack)
    try:
        # SMTP clients get 451 4.7.1: the mail stays with the sender.
        r = send(stack, outside(marker), [rcpt],
                 message(outside(marker), [rcpt], marker + "-smtp"))
        assert r is not None and r[0] == 451 and "4.7.1" in r[1], r
        # Mail that Postfix itself holds (the sendmail command) is retried
        # by Postfix: it waits in the maildrop queue.
        for i in range(4):
            raw = message(rcpt, [rcpt], marker)
            p = subprocess.run(["sendmail", "-C", postfix_etc(stack), "-f",
                                rcpt, rcpt], input=raw.encode(),
                               capture_output=True, timeout=30)
            assert p.returncode == 0, p.stderr
            sent += 1
        time.sleep(3)
        assert stack.count(rcpt, marker) == 3
        assert "tempfail" in milter_log(stack)
    finally:
        stack.launcher("start")
    subprocess.run(["postkick", "-c", postfix_etc(stack), "public", "pickup",
                    "W"], capture_output=True, timeout=30)
    deadline = time.time() + 90
    while time.time() < deadline and stack.count(rcpt, marker) < sent:
        time.sleep(1)
    assert stack.count(rcpt, marker) == sent
    time.sleep(2)
    assert stack.count(rcpt, marker) == sent  # and no duplicates


# -- hostile input ---------------------------------------------------------

def test_broken_mime_boundaries_get_verdicts(stack, user, marker):
    rcpt = user()
    # Never closed, and a boundary that never appears: clean, delivered.
    raw = mime(outside(marker), rcpt, marker,
               [("Content-Type: text/plain", "part one")], close=False)
    assert send(stack, outside(marker), [rcpt], raw) is None
    raw2 = ("From: <%s>\r\nTo: <%s>\r\nX-Test-Id: %s-b\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"nowhere\"\r\n\r\n"
            "--elsewhere\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
            % (outside(marker), rcpt, marker))
    assert send(stack, outside(marker), [rcpt], raw2) is None
    assert stack.wait_for(rcpt, marker) is not None
    assert stack.wait_for(rcpt, marker + "-b") is not None
    # A virus behind a broken closing boundary is still found.
    raw3 = mime(outside(marker), rcpt, marker + "-v", [
        ("Content-Type: application/octet-stream\r\n"
         "Content-Transfer-Encoding: base64", b64(EICAR.encode()))],
        close=False)
    r = send(stack, outside(marker), [rcpt], raw3)
    assert r is not None and r[0] == 550 and "Eicar" in r[1], r


def test_nul_and_8bit_bytes(stack, user, marker):
    rcpt = user()
    body = b"caf\xe9 \xff\xfe bytes\r\nnul:\x00\x00 here\r\n"
    raw = message(outside(marker), [rcpt], marker).encode() + body
    assert send(stack, outside(marker), [rcpt], raw) is None
    got = stack.wait_for(rcpt, marker)
    assert got is not None
    assert header_values(got, "X-Virus-Scanned")


def test_ten_thousand_headers(stack, user, marker):
    rcpt = user()
    extra = "".join("X-Filler-%d: value %d\r\n" % (i, i) for i in range(10000))
    rss0, _ = milter_mem(stack)
    r = send(stack, outside(marker), [rcpt],
             message(outside(marker), [rcpt], marker, extra=extra))
    assert r is None, r
    raw = stack.wait_for(rcpt, marker, timeout=60)
    assert raw is not None
    assert header_values(raw, "X-Virus-Scanned")
    rss1, _ = milter_mem(stack)
    assert rss1 - rss0 < 16 * 1024, (rss0, rss1)


def test_enormous_header(stack, user, marker):
    # 90 KB in one folded header (Postfix allows 100 KB): libmilter's
    # default 64 KB packet limit would drop the connection here.
    rcpt = user()
    value = "\r\n\t".join(["v" * 70] * 1300)
    r = send(stack, outside(marker), [rcpt],
             message(outside(marker), [rcpt], marker,
                     extra="X-Enormous: %s\r\n" % value))
    assert r is None, r
    raw = stack.wait_for(rcpt, marker, timeout=60)
    assert raw is not None
    assert header_values(raw, "X-Virus-Scanned")


def test_memory_flat_up_to_50_mb(stack, user, marker):
    rcpt = user()
    line = ("0123456789" * 7 + "\r\n").encode()
    hwm = []
    for size in (1024, 1024 * 1024, 50 * 1000 * 1000):
        m = "%s-%d" % (marker, size)
        body = line * (size // len(line))
        raw = message(outside(m), [rcpt], m).encode() + body
        r = send(stack, outside(m), [rcpt], raw)
        assert r is None, (size, r)
        hwm.append(milter_mem(stack)[1])
    # 64 KB of buffer per connection, whatever the size: the peak after a
    # 50 MB message is the peak after 1 KB, give or take a few MB.
    assert hwm[2] - hwm[0] < 8 * 1024, hwm
    big = stack.wait_for(rcpt, "%s-%d" % (marker, 50 * 1000 * 1000),
                         timeout=120)
    assert big is not None
    assert header_values(big, "X-Virus-Scanned")
    # Over spam_max_size: spamd never saw it, and the header says so.
    assert header_values(big, "X-Spam-Status") == []
    assert "antispam (message too large)" in header_values(
        big, "X-Mortar-Not-Scanned")[0]
    # Still alive.
    assert os.path.exists("/proc/%d" % milter_pid(stack))


# -- counters --------------------------------------------------------------

def test_redis_counters_per_domain_and_day(stack, user, marker):
    rcpt = user()
    day = time.strftime("%Y%m%d", time.gmtime())
    key = "mortar:milter:{%s}:%s" % (stack.domain, day)

    def counters():
        out = subprocess.run(["redis-cli", "-h", stack.host, "-p",
                              str(stack.port("redis")), "HGETALL", key],
                             capture_output=True, text=True).stdout.split()
        return {out[i]: int(out[i + 1]) for i in range(0, len(out) - 1, 2)}

    before = counters()
    send(stack, outside(marker), [rcpt],
         message(outside(marker), [rcpt], marker, body=EICAR))
    send(stack, outside(marker), [rcpt],
         message(outside(marker), [rcpt], marker, body=GTUBE))
    after = counters()
    assert after.get("scanned", 0) - before.get("scanned", 0) == 2
    assert after.get("virus", 0) - before.get("virus", 0) == 1
    assert after.get("spam", 0) - before.get("spam", 0) == 1


# -- protocol edge cases (miltertest) ---------------------------------------

MILTERTEST = shutil.which("miltertest")


@pytest.mark.skipif(MILTERTEST is None, reason="miltertest not installed")
@pytest.mark.parametrize("script", sorted(
    f for f in os.listdir(os.path.join(TOP, "tests", "milter"))
    if f.endswith(".lua")) if os.path.isdir(os.path.join(TOP, "tests", "milter")) else [])
def test_miltertest(stack, script):
    sock = os.path.join(stack.run, "milter", "milter.sock")
    env = dict(os.environ, MILTER_SOCKET="unix:" + sock,
               EICAR=EICAR, GTUBE=GTUBE)
    r = subprocess.run([MILTERTEST, "-s",
                        os.path.join(TOP, "tests", "milter", script)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.exists("/proc/%d" % milter_pid(stack))
