"""conftest.py -- the real Mortar stack for the integration tests.

The session starts the test stack with scripts/stack.sh (the launcher of
`make run`) from the stack file named by $MORTAR_STACK (conf/stack-test.conf
by default), hands its ports, logins and paths to the tests, and stops it at
the end.  Directory changes go through the real slapd with ldap-utils, mail
through the real Postfix and Dovecot with Python's own SMTP/IMAP/POP3
clients.
"""

import imaplib
import os
import random
import poplib
import smtplib
import socket
import ssl
import subprocess
import time
import uuid

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STACK_SH = os.path.join(TOP, "scripts", "stack.sh")
MORTAR_CONF = os.path.join(TOP, "build", "bin", "mortar-conf")

# Clients connect from another loopback address than the servers listen on.
# Dovecot counts a connection whose remote IP equals its local IP as
# "secured" and would then allow plaintext logins; a real client is never
# local, so the tests must not be either.
# Each connection also takes a fresh source address in 127.1.0.0/16:
# Dovecot's auth penalty (up to 15 s per login from an IP with recent
# failures) would otherwise slow every test after the first wrong password.
def client_ip():
    n = random.randrange(1, 65534)
    return "127.1.%d.%d" % (n // 256, n % 256 or 1)


class RemoteIMAP(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(client_ip(), 0))


class RemoteIMAP_SSL(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(client_ip(), 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


class RemotePOP3(poplib.POP3):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(client_ip(), 0))


def conf_values(*files):
    """Every key of the given key = value files, read by mortar-conf."""
    args = [MORTAR_CONF]
    for f in files:
        args += ["-c", f]
    out = subprocess.run(args + ["dump-sh"], check=True, capture_output=True,
                         text=True).stdout
    values = {}
    for line in out.splitlines():
        k, _, v = line.partition("=")
        values[k] = v[1:-1].replace("'\\''", "'")
    return values


class Stack:
    """One running stack: ports, paths, logins and helpers to drive it."""

    def __init__(self, conf):
        self.conf = conf
        self.cfg = conf_values(conf)
        run_dir = self.cfg["run_dir"]
        self.run = run_dir if os.path.isabs(run_dir) else os.path.join(TOP, run_dir)
        self.host = self.cfg["bind"]
        self.domain = self.cfg["domain"]
        self.suffix = self.cfg["ldap_suffix"]

    def port(self, name):
        return int(self.cfg[name + "_port"])

    def launcher(self, action, check=True):
        r = subprocess.run([STACK_SH, "-c", self.conf, action],
                           capture_output=True, text=True, timeout=180)
        if check and r.returncode != 0:
            raise AssertionError("stack.sh %s exited %d:\n%s\n%s"
                                 % (action, r.returncode, r.stdout, r.stderr))
        return r

    def load(self):
        self.secrets = conf_values(os.path.join(self.run, "secrets.conf"))
        self.passwords = {}
        with open(os.path.join(self.run, "credentials")) as f:
            for line in f:
                addr, pw = line.split()
                self.passwords[addr] = pw
        self.cafile = os.path.join(self.run, "tls", "cert.pem")

    # -- TLS -------------------------------------------------------------

    def tls(self):
        ctx = ssl.create_default_context(cafile=self.cafile)
        ctx.check_hostname = True
        return ctx

    # -- LDAP through ldap-utils, as the directory admin ------------------

    def ldap(self, tool, *args, ldif=None, check=True):
        cmd = [tool, "-x", "-H", "ldap://%s:%d" % (self.host, self.port("ldap")),
               "-D", "cn=admin," + self.suffix, "-y", os.path.join(self.run, ".admin-pw")]
        r = subprocess.run(cmd + list(args), input=ldif, capture_output=True,
                           text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError("%s failed: %s %s" % (tool, r.stdout, r.stderr))
        return r

    def users_dn(self):
        return "ou=users,mortarDomainName=%s,ou=domains,%s" % (self.domain, self.suffix)

    def groups_dn(self):
        return "ou=groups,mortarDomainName=%s,ou=domains,%s" % (self.domain, self.suffix)

    def user_dn(self, uid):
        return "uid=%s,%s" % (uid, self.users_dn())

    # -- mail clients ------------------------------------------------------

    def submission(self, user=None, password=None):
        s = self.smtp("submission")
        s.starttls(context=self.tls())
        s.ehlo("client.test")
        if user:
            s.login(user, password if password is not None else self.passwords[user])
        return s

    def smtp(self, port_name):
        s = smtplib.SMTP(self.host, self.port(port_name), timeout=30,
                         source_address=(client_ip(), 0))
        s.ehlo("client.test")
        return s

    def mx(self):
        s = self.smtp("smtp")
        s.ehlo("outside.test")
        return s

    def imap(self, user, password=None):
        m = RemoteIMAP(self.host, self.port("imap"), timeout=30)
        m.starttls(ssl_context=self.tls())
        m.login(user, password if password is not None else self.passwords[user])
        return m

    def pop3(self, user, password=None):
        p = RemotePOP3(self.host, self.port("pop3"), timeout=30)
        p.stls(context=self.tls())
        p.user(user)
        p.pass_(password if password is not None else self.passwords[user])
        return p

    def wait_for(self, user, marker, timeout=20.0, password=None):
        """The raw bytes of the message in user's INBOX whose headers hold
        marker, waiting for delivery; None if none arrives in time."""
        deadline = time.time() + timeout
        while True:
            m = self.imap(user, password)
            try:
                m.select("INBOX", readonly=True)
                typ, data = m.search(None, "HEADER", "X-Test-Id", marker)
                ids = data[0].split()
                if ids:
                    typ, msg = m.fetch(ids[-1], "(BODY.PEEK[])")
                    return msg[0][1]
            finally:
                m.logout()
            if time.time() > deadline:
                return None
            time.sleep(0.3)

    def count(self, user, marker, password=None):
        m = self.imap(user, password)
        try:
            m.select("INBOX", readonly=True)
            typ, data = m.search(None, "HEADER", "X-Test-Id", marker)
            return len(data[0].split())
        finally:
            m.logout()

    def sink_messages(self, marker):
        """Files smtp-sink wrote (mail to outside domains) holding marker."""
        d = os.path.join(self.run, "sink", "mail")
        found = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
            if marker.encode() in data:
                found.append(data)
        return found

    def queue(self):
        """Postfix's queue listing (mailq) for this stack."""
        r = subprocess.run(["postqueue", "-c", os.path.join(self.run, "postfix", "etc"), "-p"],
                           capture_output=True, text=True, timeout=30)
        return r.stdout


@pytest.fixture(scope="session")
def stack():
    conf = os.environ.get("MORTAR_STACK", os.path.join(TOP, "conf", "stack-test.conf"))
    if not os.path.isabs(conf):
        conf = os.path.join(TOP, conf)
    s = Stack(conf)
    r = s.launcher("start", check=False)
    if r.returncode != 0:
        s.launcher("stop", check=False)  # nothing half-started left behind
        pytest.fail("stack did not start:\n%s\n%s" % (r.stdout, r.stderr))
    s.load()
    yield s
    s.launcher("stop", check=False)


@pytest.fixture
def marker():
    return "t-" + uuid.uuid4().hex


def message(sender, rcpts, marker, subject="test", body="hello\r\n", extra=""):
    return ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\nX-Test-Id: %s\r\n"
            "Message-ID: <%s@client.test>\r\n%s\r\n%s"
            % (sender, ", ".join("<%s>" % r for r in rcpts), subject, marker,
               marker, extra, body))


@pytest.fixture
def directory(stack):
    """Add users and groups for one test; removed afterwards."""

    class Directory:
        def __init__(self):
            self.dns = []

        def user(self, uid, password="Secret-" + uuid.uuid4().hex[:12], status="active",
                 services=("imap", "pop3", "smtp"), **attrs):
            mail = "%s@%s" % (uid, stack.domain)
            lines = ["dn: " + stack.user_dn(uid), "objectClass: inetOrgPerson",
                     "objectClass: mortarUser", "uid: " + uid, "cn: " + uid,
                     "sn: " + uid, "mail: " + mail, "mortarAccountStatus: " + status]
            lines += ["mortarEnabledService: " + s for s in services]
            for k, v in attrs.items():
                for item in (v if isinstance(v, (list, tuple)) else [v]):
                    lines.append("%s: %s" % (k, item))
            stack.ldap("ldapadd", ldif="\n".join(lines) + "\n")
            self.dns.append(stack.user_dn(uid))
            stack.ldap("ldappasswd", "-s", password, stack.user_dn(uid))
            stack.passwords[mail] = password
            return mail

        def group(self, cn, members, **attrs):
            dn = "cn=%s,%s" % (cn, stack.groups_dn())
            lines = ["dn: " + dn, "objectClass: groupOfNames", "objectClass: mortarGroup",
                     "cn: " + cn, "mail: %s@%s" % (cn, stack.domain)]
            lines += ["member: " + stack.user_dn(m.split("@")[0]) for m in members]
            for k, v in attrs.items():
                lines.append("%s: %s" % (k, v))
            stack.ldap("ldapadd", ldif="\n".join(lines) + "\n")
            self.dns.append(dn)
            return "%s@%s" % (cn, stack.domain)

        def modify(self, dn, ldif_body):
            stack.ldap("ldapmodify", ldif="dn: %s\nchangetype: modify\n%s\n" % (dn, ldif_body))

    d = Directory()
    yield d
    for dn in reversed(d.dns):
        stack.ldap("ldapdelete", dn, check=False)
