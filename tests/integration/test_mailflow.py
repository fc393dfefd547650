"""Mail flows end to end through the real Postfix, Dovecot and slapd.

Submission with AUTH after STARTTLS, delivery over LMTP, reading over IMAP
and POP3; aliases, group lists and forwards from the directory; refusals at
RCPT for unknown and disabled recipients.
"""

import email
import email.header
import email.policy
import smtplib
import uuid

import pytest

from conftest import message


def uid(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def test_submission_to_imap_and_pop3_keeps_headers_and_8bit_body(stack, marker):
    alice = "alice@" + stack.domain
    bob = "bob@" + stack.domain
    subject = "=?UTF-8?B?%s?=" % __import__("base64").b64encode(
        "Grüße aus Köln, ½ € — テスト".encode()).decode()
    body = "Zeile mit Umlauten: äöü ß\r\nΕλληνικά and 日本語\r\n.leading dot\r\n"
    raw = message(alice, [bob], marker, subject=subject, body=body,
                  extra="MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n").encode()
    s = stack.submission(alice)
    refused = s.sendmail(alice, [bob], raw, mail_options=["BODY=8BITMIME"])
    s.quit()
    assert refused == {}

    got = stack.wait_for(bob, marker)
    assert got is not None, "message never reached bob's INBOX"
    msg = email.message_from_bytes(got, policy=email.policy.default)
    assert str(msg["Subject"]) == "Grüße aus Köln, ½ € — テスト"
    assert msg["From"].addresses[0].addr_spec == alice
    assert msg["Message-ID"] == "<%s@client.test>" % marker
    # The 8-bit body arrives byte for byte (CRLF as IMAP sends it).
    assert got.endswith(body.encode())
    assert b"Received: from client.test" in got

    p = stack.pop3(bob)
    try:
        count, _ = p.stat()
        found = None
        for i in range(count, 0, -1):
            _, lines, _ = p.retr(i)
            data = b"\r\n".join(lines) + b"\r\n"
            if marker.encode() in data:
                found = data
                break
    finally:
        p.quit()
    assert found is not None, "message not visible over POP3"
    assert found.endswith(body.encode())
    assert ("Subject: " + subject).encode() in found


def test_raw_utf8_subject_as_8bit_mail(stack, marker):
    alice = "alice@" + stack.domain
    bob = "bob@" + stack.domain
    raw = message(alice, [bob], marker, subject="Réunion à 10h — 会議",
                  extra="MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n",
                  body="ça marche\r\n").encode("utf-8")
    s = stack.submission(alice)
    # Not offered: Dovecot 2.3's LMTP lacks it, and Postfix would bounce an
    # SMTPUTF8 message at delivery (see main.cf).  Raw UTF-8 headers still
    # travel as 8-bit mail.
    assert not s.has_extn("smtputf8")
    s.sendmail(alice, [bob], raw, mail_options=["BODY=8BITMIME"])
    s.quit()
    got = stack.wait_for(bob, marker)
    assert got is not None
    assert "Subject: Réunion à 10h — 会議".encode() in got
    assert got.endswith("ça marche\r\n".encode())


def test_alias_delivers_to_owner(stack, marker):
    # The seed gives postmaster the alias abuse@.
    s = stack.mx()
    s.sendmail("someone@outside.test", ["abuse@" + stack.domain],
               message("someone@outside.test", ["abuse@" + stack.domain], marker))
    s.quit()
    assert stack.wait_for("postmaster@" + stack.domain, marker) is not None


def test_extra_alias_from_directory(stack, directory, marker):
    u = directory.user(uid("al"), mortarMailAlias="nick-%s@%s" % (marker[-6:], stack.domain))
    s = stack.mx()
    rcpt = "nick-%s@%s" % (marker[-6:], stack.domain)
    s.sendmail("someone@outside.test", [rcpt], message("someone@outside.test", [rcpt], marker))
    s.quit()
    assert stack.wait_for(u, marker) is not None


def test_group_list_reaches_every_member(stack, directory, marker):
    a = directory.user(uid("ga"))
    b = directory.user(uid("gb"))
    grp = directory.group(uid("list"), [a, b])
    s = stack.mx()
    s.sendmail("someone@outside.test", [grp], message("someone@outside.test", [grp], marker))
    s.quit()
    assert stack.wait_for(a, marker) is not None
    assert stack.wait_for(b, marker) is not None


def test_forward_without_copy(stack, directory, marker):
    target = directory.user(uid("fto"))
    fwd = directory.user(uid("fwd"), mortarForwardAddress=target)
    s = stack.mx()
    s.sendmail("someone@outside.test", [fwd], message("someone@outside.test", [fwd], marker))
    s.quit()
    assert stack.wait_for(target, marker) is not None
    assert stack.count(fwd, marker) == 0, "forward without copy kept a copy"


def test_forward_with_kept_copy_lands_in_both(stack, directory, marker):
    target = directory.user(uid("kto"))
    fwd = directory.user(uid("kcp"), mortarForwardAddress=target,
                         mortarForwardKeepCopy="TRUE")
    s = stack.mx()
    s.sendmail("someone@outside.test", [fwd], message("someone@outside.test", [fwd], marker))
    s.quit()
    assert stack.wait_for(target, marker) is not None
    assert stack.wait_for(fwd, marker) is not None
    assert stack.count(target, marker) == 1
    assert stack.count(fwd, marker) == 1


def test_forward_to_outside_goes_to_sink_never_the_network(stack, directory, marker):
    fwd = directory.user(uid("ext"), mortarForwardAddress="friend@elsewhere.example")
    s = stack.mx()
    s.sendmail("someone@outside.test", [fwd], message("someone@outside.test", [fwd], marker))
    s.quit()
    import time
    deadline = time.time() + 20
    while time.time() < deadline and not stack.sink_messages(marker):
        time.sleep(0.3)
    msgs = stack.sink_messages(marker)
    assert len(msgs) == 1
    assert b"friend@elsewhere.example" in msgs[0]


def test_unknown_recipient_refused_at_rcpt(stack, marker):
    s = stack.mx()
    s.mail("someone@outside.test")
    code, reply = s.rcpt("nobody-%s@%s" % (marker, stack.domain))
    s.quit()
    assert code == 550
    assert b"5.1.1" in reply
    # Refused while connected: nothing queued, so no bounce later.
    assert marker not in stack.queue()


def test_unauthenticated_relay_refused(stack):
    s = stack.mx()
    s.mail("someone@outside.test")
    code, reply = s.rcpt("victim@elsewhere.example")
    s.quit()
    assert code == 554
    assert b"Relay access denied" in reply


def test_authenticated_user_relays_to_outside_via_sink(stack, marker):
    alice = "alice@" + stack.domain
    s = stack.submission(alice)
    s.sendmail(alice, ["friend@elsewhere.example"],
               message(alice, ["friend@elsewhere.example"], marker))
    s.quit()
    import time
    deadline = time.time() + 20
    while time.time() < deadline and not stack.sink_messages(marker):
        time.sleep(0.3)
    assert len(stack.sink_messages(marker)) == 1


def test_sender_must_match_login(stack):
    alice = "alice@" + stack.domain
    s = stack.submission(alice)
    s.mail("bob@" + stack.domain)
    code, reply = s.rcpt("alice@" + stack.domain)
    s.quit()
    assert code == 553
    assert b"not owned by user" in reply


def test_disabled_account_cannot_log_in_and_receives_nothing(stack, directory, marker):
    u = directory.user(uid("dis"))
    # It works while active ...
    stack.imap(u).logout()
    directory.modify(stack.user_dn(u.split("@")[0]),
                     "replace: mortarAccountStatus\nmortarAccountStatus: disabled")
    import imaplib
    with pytest.raises(imaplib.IMAP4.error):
        stack.imap(u)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        stack.submission(u)
    s = stack.mx()
    s.mail("someone@outside.test")
    code, reply = s.rcpt(u)
    s.quit()
    assert code == 550
    assert b"5.2.1" in reply and b"disabled" in reply


def test_service_not_enabled_refuses_that_protocol_only(stack, directory):
    u = directory.user(uid("nopop"), services=("imap",))
    stack.imap(u).logout()
    import poplib
    with pytest.raises(poplib.error_proto):
        stack.pop3(u)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        stack.submission(u)
