-- 03_forged_headers_and_hostile_values.lua -- miltertest: our own headers
-- sent by a client are deleted; a 900-byte header value (larger ones go
-- through Postfix in test_milter.py: miltertest itself crashes on them),
-- binary junk and a body with NUL bytes and 8-bit data still get a verdict, and
-- the milter keeps answering.
local sock = os.getenv("MILTER_SOCKET")
local conn = mt.connect(sock, 20, 0.25)
assert(conn, "cannot connect")
assert(mt.conninfo(conn, "client.test", "127.1.0.11") == nil)
assert(mt.helo(conn, "client.test") == nil)
mt.macro(conn, SMFIC_MAIL, "i", "EDGE03")
assert(mt.mailfrom(conn, "<x@outside.test>") == nil)
assert(mt.rcptto(conn, "<alice@example.test>") == nil)
assert(mt.header(conn, "X-Spam-Status", " No, forged") == nil)
assert(mt.header(conn, "X-Virus-Scanned", " forged") == nil)
assert(mt.header(conn, "x-spam-status", " No, forged again") == nil)
assert(mt.header(conn, "X-Long", " " .. string.rep("v", 900)) == nil)
assert(mt.header(conn, "X-Junk", " \127\128\255\1\2\3") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, "nul\0\0bytes \255\254 and 8-bit\r\n") == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE, "not accepted")
assert(mt.eom_check(conn, MT_HDRDELETE, "X-Spam-Status"), "forgery kept")
assert(mt.eom_check(conn, MT_HDRDELETE, "X-Virus-Scanned"), "forgery kept")
assert(mt.eom_check(conn, MT_HDRADD, "X-Virus-Scanned"))
mt.disconnect(conn)
