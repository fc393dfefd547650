-- 01_close_without_message.lua -- miltertest: connections that end early.
-- A connection closed right after negotiation (close runs with no
-- connection state), one closed after MAIL FROM, and then a normal
-- message: the milter must still answer.  Run by test_milter.py with
-- MILTER_SOCKET set.
local sock = os.getenv("MILTER_SOCKET")

local conn = mt.connect(sock, 20, 0.25)
assert(conn, "cannot connect to " .. sock)
assert(mt.negotiate(conn, nil, nil, nil) == nil, "negotiate failed")
mt.disconnect(conn)

conn = mt.connect(sock, 20, 0.25)
assert(mt.conninfo(conn, "client.test", "127.1.0.9") == nil)
assert(mt.helo(conn, "client.test") == nil)
assert(mt.mailfrom(conn, "<x@outside.test>") == nil)
mt.disconnect(conn)

conn = mt.connect(sock, 20, 0.25)
assert(mt.conninfo(conn, "client.test", "127.1.0.9") == nil)
assert(mt.helo(conn, "client.test") == nil)
mt.macro(conn, SMFIC_MAIL, "i", "EDGE01")
assert(mt.mailfrom(conn, "<x@outside.test>") == nil)
assert(mt.rcptto(conn, "<alice@example.test>") == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE, "rcpt refused")
assert(mt.header(conn, "Subject", "hello") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, "just text\r\n") == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE or mt.getreply(conn) == SMFIR_ACCEPT,
       "clean message not accepted")
assert(mt.eom_check(conn, MT_HDRADD, "X-Virus-Scanned"), "no X-Virus-Scanned")
mt.disconnect(conn)
