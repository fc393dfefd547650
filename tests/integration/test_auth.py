"""Logins against the directory: passwords, TLS, injection, master user."""

import imaplib
import poplib
import smtplib
import socket
import ssl

import pytest

from conftest import RemoteIMAP, RemoteIMAP_SSL, RemotePOP3


def test_wrong_password_refused_everywhere(stack):
    bob = "bob@" + stack.domain
    with pytest.raises(imaplib.IMAP4.error):
        stack.imap(bob, "not-the-password")
    with pytest.raises(poplib.error_proto):
        stack.pop3(bob, "not-the-password")
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        stack.submission(bob, "not-the-password")
    assert e.value.smtp_code == 535


def test_auth_before_starttls_refused_on_submission(stack):
    s = stack.smtp("submission")
    assert not s.has_extn("auth"), "AUTH offered before STARTTLS"
    code, reply = s.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB4")
    assert code == 530
    assert b"STARTTLS" in reply
    # Mail without AUTH and without TLS is refused on submission too.
    code, reply = s.docmd("MAIL", "FROM:<alice@%s>" % stack.domain)
    assert code == 530
    s.close()


def test_mx_port_offers_no_auth(stack):
    s = stack.mx()
    s.starttls(context=stack.tls())
    s.ehlo("outside.test")
    assert not s.has_extn("auth")
    s.quit()


def test_imap_login_before_starttls_refused(stack):
    m = RemoteIMAP(stack.host, stack.port("imap"), timeout=30)
    assert "LOGINDISABLED" in m.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        m.login("alice@" + stack.domain, stack.passwords["alice@" + stack.domain])
    m.logout()


def test_pop3_plaintext_login_refused(stack):
    p = RemotePOP3(stack.host, stack.port("pop3"), timeout=30)
    with pytest.raises(poplib.error_proto):
        p.user("alice@" + stack.domain)
        p.pass_(stack.passwords["alice@" + stack.domain])
    p.quit()


def test_imaps_implicit_tls_verifies_generated_certificate(stack):
    m = RemoteIMAP_SSL(stack.host, stack.port("imaps"), ssl_context=stack.tls(),
                          timeout=30)
    cert = m.sock.getpeercert()
    assert any(v == "localhost" for k, v in cert["subjectAltName"])
    m.login("alice@" + stack.domain, stack.passwords["alice@" + stack.domain])
    typ, _ = m.select("INBOX")
    assert typ == "OK"
    m.logout()


def test_starttls_verifies_generated_certificate(stack):
    m = stack.imap("alice@" + stack.domain)  # STARTTLS with verification
    assert isinstance(m.sock, ssl.SSLSocket)
    m.logout()


def test_tls_fails_against_an_unrelated_ca(stack):
    ctx = ssl.create_default_context()  # system CAs do not know our cert
    with pytest.raises(ssl.SSLCertVerificationError):
        RemoteIMAP_SSL(stack.host, stack.port("imaps"), ssl_context=ctx, timeout=30)


@pytest.mark.parametrize("login", [
    "*)(uid=*",
    "*",
    "*)(mail=*",
    "alice@example.test)(|(mail=*",
    "*)(objectClass=*))(&(mail=x",
    "alice@example.test\\2a",
])
def test_ldap_filter_syntax_in_login_gets_nobody_in(stack, login):
    alice = "alice@" + stack.domain
    alice_pw = stack.passwords[alice]
    # Control: the same password does work for the real login, so a refusal
    # below is the filter escaping at work, not a broken directory.
    stack.imap(alice, alice_pw).logout()
    with pytest.raises(imaplib.IMAP4.error):
        stack.imap(login, alice_pw)
    s = stack.submission()
    with pytest.raises(smtplib.SMTPAuthenticationError):
        s.user, s.password = login, alice_pw
        s.auth("PLAIN", s.auth_plain)
    s.close()


def test_master_user_logs_in_as_any_user(stack):
    m = stack.imap("bob@%s*mortar" % stack.domain, stack.secrets["master_pw"])
    typ, data = m.namespace()
    assert typ == "OK"
    m.logout()
    # ... but not with a wrong master password, nor for a missing user.
    with pytest.raises(imaplib.IMAP4.error):
        stack.imap("bob@%s*mortar" % stack.domain, "wrong")
    with pytest.raises(imaplib.IMAP4.error):
        stack.imap("ghost@%s*mortar" % stack.domain, stack.secrets["master_pw"])


def test_passwords_are_stored_hashed_by_slapd(stack):
    r = stack.ldap("ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b", stack.user_dn("alice"), "-s", "base",
                   "userPassword")
    import base64
    line = [l for l in r.stdout.splitlines() if l.startswith("userPassword")][0]
    value = base64.b64decode(line.split(":: ")[1]) if ":: " in line else line.split(": ")[1].encode()
    assert value.startswith(b"{SSHA512}")
    assert stack.passwords["alice@" + stack.domain].encode() not in value


def test_health_endpoint_over_http_and_https(stack):
    import http.client
    import json
    for conn in (http.client.HTTPConnection(stack.host, stack.port("http"), timeout=10),
                 http.client.HTTPSConnection(stack.host, stack.port("https"), timeout=10,
                                             context=stack.tls())):
        conn.request("GET", "/health")
        r = conn.getresponse()
        assert r.status == 200
        assert r.getheader("Content-Type").startswith("application/json")
        assert json.loads(r.read())["status"] == "ok"
        conn.request("POST", "/health", body=b"x")
        r = conn.getresponse()
        assert r.status == 405
        assert r.getheader("Content-Type").startswith("application/problem+json")
        assert r.getheader("Allow") == "GET, HEAD"
        assert json.loads(r.read())["status"] == 405
        conn.close()
