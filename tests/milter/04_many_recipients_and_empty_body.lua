-- 04_many_recipients_and_empty_body.lua -- miltertest: 200 recipients
-- (more than the counter table keeps), a null sender, no headers and an
-- empty body: a verdict, no crash.  GTUBE for a recipient whose domain is
-- unknown to the directory falls back to the config defaults (tag).
local sock = os.getenv("MILTER_SOCKET")
local gtube = os.getenv("GTUBE")
local conn = mt.connect(sock, 20, 0.25)
assert(conn, "cannot connect")
assert(mt.conninfo(conn, "client.test", "127.1.0.12") == nil)
assert(mt.helo(conn, "client.test") == nil)
mt.macro(conn, SMFIC_MAIL, "i", "EDGE04A")
assert(mt.mailfrom(conn, "<>") == nil)
for i = 1, 200 do
    assert(mt.rcptto(conn, "<r" .. i .. "@d" .. i .. ".unknown.test>") == nil)
end
assert(mt.eoh(conn) == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE, "empty message refused")

mt.macro(conn, SMFIC_MAIL, "i", "EDGE04B")
assert(mt.mailfrom(conn, "<x@outside.test>") == nil)
assert(mt.rcptto(conn, "<someone@nowhere.test>") == nil)
assert(mt.header(conn, "Subject", "gtube") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, gtube .. "\r\n") == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE, "tagged spam refused")
assert(mt.eom_check(conn, MT_HDRADD, "X-Spam-Flag"), "GTUBE not tagged")
mt.disconnect(conn)
