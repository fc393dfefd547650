"""mortar-policy, Postfix's policy service, against the real stack.

RCPT-time quota with SIZE=, sender rate limits on the submission port,
greylisting of a new triplet and its retry, fail-open when Redis is down,
and the policy protocol itself on the daemon's socket.  Usage and
greylisting state are set in the real Redis with redis-cli, in the layout
of shared/include/mtr_quota.h and milter_filter/mpolicy_grey.h.
"""

import os
import smtplib
import socket
import subprocess
import time
import uuid

import pytest

from conftest import message


def uid(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def redis(stack, *args):
    r = subprocess.run(["redis-cli", "-h", stack.host, "-p", str(stack.port("redis")),
                        "--raw"] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def policy_socket(stack):
    return os.path.join(stack.run, "policy", "run", "policy.sock")


def policy_log(stack):
    with open(os.path.join(stack.run, "log", "mortar-policy.log"),
              errors="replace") as f:
        return f.read()


def ask(stack, *requests, raw=None):
    """Send requests (dicts) on one connection; the replies, in order."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(policy_socket(stack))
    try:
        data = raw if raw is not None else b"".join(
            ("".join("%s=%s\n" % kv for kv in r.items()) + "\n").encode()
            for r in requests)
        s.sendall(data)
        got = b""
        want = len(requests) if raw is None else 1
        while got.count(b"\n\n") < want:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        return [r.decode() for r in got.split(b"\n\n") if r]
    finally:
        s.close()


def rcpt_request(**kv):
    r = {"request": "smtpd_access_policy", "protocol_state": "RCPT",
         "protocol_name": "ESMTP", "client_address": "192.0.2.10",
         "client_name": "mx.outside.test", "helo_name": "mx.outside.test",
         "sender": "someone@outside.test", "queue_id": "", "instance": "1.2.3",
         "size": "0"}
    r.update(kv)
    return r


def quota_key(stack, mail):
    local, domain = mail.lower().split("@")
    return "mortar:quota:{%s}:user:%s" % (domain, local)


def mx_from(stack, ip):
    """An MX connection from a fixed client address (greylisting keys
    on the client's network, so both attempts must come from one)."""
    s = smtplib.SMTP(stack.host, stack.port("smtp"), timeout=30,
                     source_address=(ip, 0))
    s.ehlo("mx.outside.test")
    return s


@pytest.fixture
def domain(stack):
    """A second mail domain for one test, with its own settings; removed
    afterwards.  Greylisting and pools are tried here, never on the
    shared example.test that every other test sends to."""
    dns = []

    def make(**attrs):
        name = uid("pol") + ".test"
        base = "mortarDomainName=%s,ou=domains,%s" % (name, stack.suffix)
        lines = ["dn: " + base, "objectClass: mortarDomain",
                 "mortarDomainName: " + name, "mortarAccountStatus: active"]
        lines += ["%s: %s" % kv for kv in attrs.items()]
        ldif = "\n".join(lines) + "\n\n"
        ldif += "dn: ou=users,%s\nobjectClass: organizationalUnit\nou: users\n" % base
        stack.ldap("ldapadd", ldif=ldif)
        dns.extend([base, "ou=users," + base])
        return name

    def user(domain_name, local, password="Secret-" + uuid.uuid4().hex[:12], **attrs):
        dn = "uid=%s,ou=users,mortarDomainName=%s,ou=domains,%s" % (
            local, domain_name, stack.suffix)
        mail = "%s@%s" % (local, domain_name)
        lines = ["dn: " + dn, "objectClass: inetOrgPerson", "objectClass: mortarUser",
                 "uid: " + local, "cn: " + local, "sn: " + local, "mail: " + mail,
                 "mortarAccountStatus: active", "mortarEnabledService: imap"]
        lines += ["%s: %s" % kv for kv in attrs.items()]
        stack.ldap("ldapadd", ldif="\n".join(lines) + "\n")
        stack.ldap("ldappasswd", "-s", password, dn)
        stack.passwords[mail] = password
        dns.append(dn)
        return mail

    make.user = user
    yield make
    for dn in reversed(dns):
        stack.ldap("ldapdelete", dn, check=False)


# -- quota at RCPT --------------------------------------------------------


def test_quota_99_percent_fits_and_refuses_by_size(stack, directory, marker):
    mail = directory.user(uid("quota"), mortarQuotaBytes=1000000)
    redis(stack, "HSET", quota_key(stack, mail), "bytes", 990000, "messages", 12)

    s = stack.mx()
    try:
        # 99 % full, 20 kB announced: refused while the client is there.
        code, _ = s.mail("sender@outside.test", ["SIZE=20000"])
        assert code == 250
        code, msg = s.rcpt(mail)
        assert code == 552, msg
        assert b"5.2.2" in msg and b"Mailbox full" in msg
        s.rset()

        # A message that fits is accepted and delivered.
        raw = message("sender@outside.test", [mail], marker, body="x" * 2000 + "\r\n")
        code, _ = s.mail("sender@outside.test", ["SIZE=%d" % len(raw)])
        assert code == 250
        code, msg = s.rcpt(mail)
        assert code == 250, msg
        code, msg = s.data(raw.encode())
        assert code == 250, msg
    finally:
        s.quit()

    assert stack.wait_for(mail, marker) is not None
    assert "quota: reject to=<%s> size=20000: mailbox full" % mail in policy_log(stack)


def test_quota_without_size_refuses_only_a_full_mailbox(stack, directory):
    mail = directory.user(uid("quota"), mortarQuotaBytes=50000)
    key = quota_key(stack, mail)
    redis(stack, "HSET", key, "bytes", 49999)
    s = stack.mx()
    try:
        s.mail("sender@outside.test")
        code, msg = s.rcpt(mail)
        assert code == 250, msg  # one byte left: SIZE unknown, let it try
        s.rset()
        redis(stack, "HSET", key, "bytes", 50000)
        s.mail("sender@outside.test")
        code, msg = s.rcpt(mail)
        assert code == 552, msg
    finally:
        s.quit()


def test_quota_message_count_and_domain_pool(stack, domain):
    d = domain(mortarDomainQuotaPool=1000000)
    counted = domain.user(d, "count", mortarQuotaMessages=10)
    pooled = domain.user(d, "pooled")  # no limit of its own: only the pool
    redis(stack, "HSET", quota_key(stack, counted), "messages", 10)
    redis(stack, "HSET", "mortar:quota:{%s}:pool" % d, "bytes", 999000)

    s = stack.mx()
    try:
        s.mail("sender@outside.test", ["SIZE=500"])
        code, msg = s.rcpt(counted)
        assert code == 552 and b"too many messages" in msg, msg
        code, msg = s.rcpt(pooled)
        assert code == 250, msg  # 500 bytes still fit the pool
        s.rset()
        s.mail("sender@outside.test", ["SIZE=5000"])
        code, msg = s.rcpt(pooled)
        assert code == 552 and b"pool" in msg, msg
    finally:
        s.quit()
    assert redis(stack, "HGET", "mortar:policy:{%s}:stats" % d, "quota_rejected") == "2"


# -- rate limits -----------------------------------------------------------


def test_sender_over_recipient_rate_is_deferred(stack, directory):
    mail = directory.user(uid("rate"), mortarRateLimitRecipients=3)
    before = int(redis(stack, "HGET", "mortar:policy:{%s}:stats" % stack.domain,
                       "rate_deferred") or 0)
    s = stack.submission(mail)
    try:
        s.mail(mail)
        for i in range(3):
            code, msg = s.rcpt("r%d-%s@outside.test" % (i, uuid.uuid4().hex[:6]))
            assert code == 250, msg
        code, msg = s.rcpt("r4@outside.test")
        assert code == 450, msg
        assert b"4.7.1" in msg and b"rate limit" in msg
    finally:
        s.quit()

    log = policy_log(stack)
    assert "rate: defer sasl_username=<%s>" % mail in log
    assert "user recipients limit reached (3 in the last hour, limit 3)" in log
    after = int(redis(stack, "HGET", "mortar:policy:{%s}:stats" % stack.domain,
                      "rate_deferred"))
    assert after == before + 1


def test_sender_over_message_rate_is_deferred(stack, directory, marker):
    mail = directory.user(uid("rate"), mortarRateLimitMessages=2)
    bob = "bob@" + stack.domain
    for i in range(2):
        s = stack.submission(mail)
        try:
            # Two recipients, one message: counted once.
            refused = s.sendmail(mail, [bob, "x%d@outside.test" % i],
                                 message(mail, [bob], marker).encode())
            assert refused == {}
        finally:
            s.quit()

    s = stack.submission(mail)
    try:
        s.mail(mail)
        code, msg = s.rcpt(bob)
        assert code == 450 and b"4.7.1" in msg, msg
    finally:
        s.quit()


def test_user_limit_overrides_the_domain(stack, domain):
    d = domain(mortarRateLimitRecipients=1)
    plain = domain.user(d, "plain")
    raised = domain.user(d, "raised", mortarRateLimitRecipients=5)
    reqs = [rcpt_request(sasl_username=u, sender=u, client_address="192.0.2.%d" % n,
                         recipient="r%d@outside.test" % i, instance="i-%d-%d" % (n, i))
            for n, u in ((20, plain), (21, raised)) for i in range(2)]
    replies = ask(stack, *reqs)
    assert replies[0] == "action=DUNNO"
    assert replies[1].startswith("action=450 4.7.1")
    assert replies[2:] == ["action=DUNNO", "action=DUNNO"]


# -- greylisting -----------------------------------------------------------


def test_greylisting_defers_new_triplet_and_accepts_retry(stack, domain, marker):
    d = domain(mortarGreylisting="TRUE")
    rcpt = domain.user(d, "grey")
    sender = "news+%s@outside.test" % uuid.uuid4().hex[:6]
    ip = "127.1.77.%d" % (int(uuid.uuid4().hex[:2], 16) % 250 + 1)

    s = mx_from(stack, ip)
    try:
        s.mail(sender)
        code, msg = s.rcpt(rcpt)
        assert code == 450 and b"Greylisted" in msg, msg
    finally:
        s.quit()

    # postgrey's triplet: the client's /24, the sender without its
    # extension, the recipient.
    key = "mortar:grey:{%s}:t:127.1.77/news@outside.test/%s" % (d, rcpt)
    first = int(redis(stack, "HGET", key, "first"))
    assert abs(first - time.time()) < 30
    assert redis(stack, "HGET", key, "passed") == "0"

    # A retry before the delay is deferred again.
    s = mx_from(stack, ip)
    try:
        s.mail(sender)
        code, msg = s.rcpt(rcpt)
        assert code == 450, msg
    finally:
        s.quit()

    # The delay (300 s) passes: move the first attempt back in time.
    redis(stack, "HSET", key, "first", first - 301)
    s = mx_from(stack, ip)
    try:
        raw = message(sender, [rcpt], marker)
        refused = s.sendmail(sender, [rcpt], raw.encode())
        assert refused == {}
    finally:
        s.quit()
    assert redis(stack, "HGET", key, "passed") == "1"
    got = stack.wait_for(rcpt, marker)
    assert got is not None
    assert b"X-Greylist: delayed 30" in got
    stats = "mortar:policy:{%s}:stats" % d
    assert redis(stack, "HGET", stats, "grey_deferred") == "2"
    assert redis(stack, "HGET", stats, "grey_passed") == "1"


def test_greylisting_is_off_by_default_and_skips_authenticated(stack, domain):
    plain = domain()
    grey = domain(mortarGreylisting="TRUE")
    a = domain.user(plain, "a")
    b = domain.user(grey, "b")
    s = stack.mx()
    try:
        s.mail("someone@outside.test")
        code, msg = s.rcpt(a)
        assert code == 250, msg
    finally:
        s.quit()
    alice = "alice@" + stack.domain
    s = stack.submission(alice)
    try:
        s.mail(alice)
        code, msg = s.rcpt(b)
        assert code == 250, msg
    finally:
        s.quit()


# -- fail open -------------------------------------------------------------


def test_redis_down_answers_dunno(stack, directory):
    full = directory.user(uid("down"), mortarQuotaBytes=1000, mortarRateLimitRecipients=1)
    redis(stack, "HSET", quota_key(stack, full), "bytes", 1000)
    req = rcpt_request(recipient=full, size="100")
    assert ask(stack, req)[0].startswith("action=552 5.2.2")

    pidfile = os.path.join(stack.run, "redis", "data", "redis.pid")
    pid = int(open(pidfile).read())
    subprocess.run(["redis-cli", "-h", stack.host, "-p", str(stack.port("redis")),
                    "shutdown"], capture_output=True, timeout=30)
    try:
        deadline = time.time() + 20
        while os.path.exists("/proc/%d" % pid) and time.time() < deadline:
            time.sleep(0.1)
        assert ask(stack, req) == ["action=DUNNO"]
        # Through Postfix: the full mailbox and the rate-limited sender
        # both get through while Redis is away.
        s = stack.mx()
        try:
            s.mail("sender@outside.test", ["SIZE=100"])
            code, msg = s.rcpt(full)
            assert code == 250, msg
        finally:
            s.quit()
        s = stack.submission(full)
        try:
            s.mail(full)
            for i in range(3):
                code, msg = s.rcpt("d%d@outside.test" % i)
                assert code == 250, msg
        finally:
            s.quit()
        assert "check skipped (fail open)" in policy_log(stack)
    finally:
        stack.launcher("start")
    assert ask(stack, req)[0].startswith("action=552 5.2.2")


# -- the protocol on the daemon's socket -------------------------------------


def test_protocol_states_unknown_attributes_and_pipelining(stack, directory):
    full = directory.user(uid("proto"), mortarQuotaBytes=10)
    redis(stack, "HSET", quota_key(stack, full), "bytes", 10)
    replies = ask(stack,
                  rcpt_request(recipient=full, some_future_attribute="x=y"),
                  rcpt_request(protocol_state="DATA", recipient=full),
                  rcpt_request(protocol_state="MAIL", recipient=""),
                  rcpt_request(recipient="bob@" + stack.domain),
                  rcpt_request(recipient="nobody@elsewhere.test"),
                  {"request": "junk"})
    assert replies == ["action=552 5.2.2 Mailbox full", "action=DUNNO", "action=DUNNO",
                       "action=DUNNO", "action=DUNNO", "action=DUNNO"]


def test_malformed_requests_close_the_connection(stack):
    for raw in (b"no equals sign\n\n", b"x" * 5000 + b"=1\n\n",
                b"recipient=a@b\nrecipient=c@d\n\n", b"a=\x00\n\n"):
        assert ask(stack, raw=raw) == []
    # ... and the service still answers.
    assert ask(stack, rcpt_request()) == ["action=DUNNO"]
