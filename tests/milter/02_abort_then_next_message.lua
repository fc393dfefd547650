-- 02_abort_then_next_message.lua -- miltertest: abort in the middle of a
-- body, then two more messages on the same connection (virus, then clean):
-- per-message state is reset, the virus is still rejected and named, the
-- clean one is not stamped with the previous verdict.
local sock = os.getenv("MILTER_SOCKET")
local eicar = os.getenv("EICAR")
local conn = mt.connect(sock, 20, 0.25)
assert(conn, "cannot connect")
assert(mt.conninfo(conn, "client.test", "127.1.0.10") == nil)
assert(mt.helo(conn, "client.test") == nil)

mt.macro(conn, SMFIC_MAIL, "i", "EDGE02A")
assert(mt.mailfrom(conn, "<x@outside.test>") == nil)
assert(mt.rcptto(conn, "<alice@example.test>") == nil)
assert(mt.header(conn, "Subject", "aborted") == nil)
assert(mt.eoh(conn) == nil)
for i = 1, 10 do
    assert(mt.bodystring(conn, string.rep("A", 10000)) == nil)
end
assert(mt.abort(conn) == nil)

mt.macro(conn, SMFIC_MAIL, "i", "EDGE02B")
assert(mt.mailfrom(conn, "<x@outside.test>") == nil)
assert(mt.rcptto(conn, "<alice@example.test>") == nil)
assert(mt.header(conn, "Subject", "virus") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, eicar .. "\r\n") == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_REPLYCODE, "virus not rejected")

mt.macro(conn, SMFIC_MAIL, "i", "EDGE02C")
assert(mt.mailfrom(conn, "<x@outside.test>") == nil)
assert(mt.rcptto(conn, "<alice@example.test>") == nil)
assert(mt.header(conn, "From", "<x@outside.test>") == nil)
assert(mt.header(conn, "To", "<alice@example.test>") == nil)
assert(mt.header(conn, "Subject", "clean") == nil)
assert(mt.header(conn, "Date", "Sat, 28 Nov 2026 18:00:00 +0000") == nil)
assert(mt.header(conn, "Message-ID", "<edge02c@outside.test>") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, "clean text\r\n") == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE, "clean message not accepted")
assert(mt.eom_check(conn, MT_HDRADD, "X-Virus-Scanned"))
assert(not mt.eom_check(conn, MT_HDRADD, "X-Spam-Flag"), "stale spam flag")
mt.disconnect(conn)
