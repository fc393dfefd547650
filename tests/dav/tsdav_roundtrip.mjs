// tsdav_roundtrip.mjs -- a CalDAV round trip with tsdav, the DAV client of
// many JavaScript calendar apps, as tests/integration/test_dav_clients.py
// runs it:
//
//   NODE_TLS_REJECT_UNAUTHORIZED=0 node tests/dav/tsdav_roundtrip.mjs URL USER PASS
//
// URL is the server root: tsdav discovers the principal and the calendar
// home itself (/.well-known/caldav, current-user-principal,
// calendar-home-set).  The script makes a calendar of its own, lists it with
// fetchCalendars, creates events, syncs with RFC 6578 sync-collection
// (raw syncCollection, then smartCollectionSync as apps do), checks that a
// new event appears and a deleted one is reported, deletes the calendar, and
// prints one JSON object: {"ok": bool, "steps": {...}, "errors": [...]}.
// Exit status 0 when ok, 1 otherwise.

import { createDAVClient } from 'tsdav';

const [url, username, password] = process.argv.slice(2);
if (!url || !username || password === undefined) {
  console.error('usage: node tsdav_roundtrip.mjs URL USER PASS');
  process.exit(2);
}

const steps = {};
const errors = [];
const check = (cond, what) => {
  if (!cond) errors.push(what);
  return cond;
};

const rand = Math.random().toString(16).slice(2, 10);
const calName = `tsdav ${rand}`;

const event = (uid, day, summary) =>
  [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Mortar//tsdav roundtrip//EN',
    'BEGIN:VEVENT',
    `UID:${uid}`,
    'DTSTAMP:20260101T000000Z',
    `DTSTART:202603${day}T100000Z`,
    `DTEND:202603${day}T110000Z`,
    `SUMMARY:${summary}`,
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');

// The last path segment of an href or URL ("x.ics").
const leaf = (href) => decodeURIComponent(new URL(href, url).pathname.replace(/\/$/, '').split('/').pop());

let client;
let calendar;
try {
  client = await createDAVClient({
    serverUrl: url,
    credentials: { username, password },
    authMethod: 'Basic',
    defaultAccountType: 'caldav',
  });
  // The client keeps its account to itself: discover it again, as an app
  // showing the account would.
  const account = await client.createAccount({
    account: { serverUrl: url, accountType: 'caldav', credentials: { username, password } },
  });
  steps.login = { rootUrl: account.rootUrl, principalUrl: account.principalUrl, homeUrl: account.homeUrl };
  if (!check(account.homeUrl, 'no calendar home discovered')) throw new Error('no home');

  // MKCALENDAR under the discovered home.
  const calUrl = new URL(`tsdav-${rand}/`, account.homeUrl).href;
  const made = await client.makeCalendar({
    url: calUrl,
    props: { displayname: calName },
  });
  steps.makeCalendar = made.map((r) => r.status);
  check(made.every((r) => r.ok), `makeCalendar failed: ${JSON.stringify(made.map((r) => [r.status, r.raw]))}`);

  const calendars = await client.fetchCalendars();
  calendar = calendars.find((c) => c.displayName === calName);
  steps.fetchCalendars = { count: calendars.length, found: !!calendar, reports: calendar?.reports,
                           ctag: calendar?.ctag, syncToken: calendar?.syncToken };
  if (!check(calendar, `fetchCalendars did not list "${calName}": ${JSON.stringify(calendars.map((c) => c.displayName))}`)) {
    throw new Error('no calendar');
  }
  check(calendar.reports?.includes('syncCollection'),
        `supported-report-set lacks sync-collection: ${JSON.stringify(calendar.reports)}`);
  check(calendar.syncToken, 'no DAV:sync-token on the calendar');
  check(calendar.ctag, 'no CS:getctag on the calendar');

  for (const [name, day] of [['old.ics', '02'], ['keep.ics', '03']]) {
    const r = await client.createCalendarObject({
      calendar,
      filename: name,
      iCalString: event(`${name}-${rand}@mortar.test`, day, name),
    });
    check(r.ok, `createCalendarObject ${name}: ${r.status}`);
  }

  // The client's local copy, as an app keeps it.
  const local = await client.fetchCalendarObjects({ calendar });
  steps.fetchCalendarObjects = local.map((o) => leaf(o.url)).sort();
  check(JSON.stringify(steps.fetchCalendarObjects) === JSON.stringify(['keep.ics', 'old.ics']),
        `fetchCalendarObjects: ${JSON.stringify(steps.fetchCalendarObjects)}`);

  // Initial sync: everything, and a token.
  const first = await client.syncCollection({
    url: calendar.url,
    props: { 'd:getetag': {} },
    syncLevel: 1,
    syncToken: '',
  });
  const token1 = first[0]?.raw?.multistatus?.syncToken;
  const firstNames = first.filter((r) => r.href && r.href.endsWith('.ics')).map((r) => leaf(r.href)).sort();
  steps.initialSync = { token: token1, items: firstNames };
  check(token1, 'initial sync-collection gave no token');
  check(JSON.stringify(firstNames) === JSON.stringify(['keep.ics', 'old.ics']),
        `initial sync-collection: ${JSON.stringify(firstNames)}`);
  check(/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(String(token1)), `sync token is not a URI (RFC 6578 3.2): ${token1}`);

  // Changes: one new event, one deleted.
  const created = await client.createCalendarObject({
    calendar,
    filename: 'new.ics',
    iCalString: event(`new-${rand}@mortar.test`, '04', 'new'),
  });
  check(created.ok, `createCalendarObject new.ics: ${created.status}`);
  const old = local.find((o) => leaf(o.url) === 'old.ics');
  const deleted = await client.deleteCalendarObject({ calendarObject: old });
  check(deleted.ok, `deleteCalendarObject old.ics: ${deleted.status}`);

  const delta = await client.syncCollection({
    url: calendar.url,
    props: { 'd:getetag': {} },
    syncLevel: 1,
    syncToken: token1,
  });
  const token2 = delta[0]?.raw?.multistatus?.syncToken;
  const changes = Object.fromEntries(
    delta.filter((r) => r.href && r.href.endsWith('.ics')).map((r) => [leaf(r.href), r.status]));
  steps.deltaSync = { token: token2, changes };
  check(token2 && String(token2) !== String(token1), `no new token after changes: ${token1} -> ${token2}`);
  // A member with a propstat has no status of its own: tsdav then gives the
  // multistatus' 207.
  check([200, 207].includes(changes['new.ics']), `new.ics not reported as changed: ${JSON.stringify(changes)}`);
  check(changes['old.ics'] === 404, `old.ics not reported as deleted: ${JSON.stringify(changes)}`);
  check(!('keep.ics' in changes), `unchanged keep.ics reported: ${JSON.stringify(changes)}`);

  // The same through smartCollectionSync, the way apps sync.
  const smart = await client.smartCollectionSync({
    collection: { ...calendar, objects: local, syncToken: token1, objectMultiGet: client.calendarMultiGet },
    method: 'webdav',
    detailedResult: true,
  });
  const res = {
    created: smart.objects.created.map((o) => leaf(o.url)).sort(),
    updated: smart.objects.updated.map((o) => leaf(o.url)).sort(),
    deleted: smart.objects.deleted.map((o) => leaf(o.url)).sort(),
    syncToken: smart.syncToken,
  };
  steps.smartCollectionSync = res;
  check(JSON.stringify(res.created) === '["new.ics"]', `smart sync created: ${JSON.stringify(res.created)}`);
  check(JSON.stringify(res.deleted) === '["old.ics"]', `smart sync deleted: ${JSON.stringify(res.deleted)}`);
  check(res.updated.length === 0, `smart sync updated: ${JSON.stringify(res.updated)}`);
  const newObj = smart.objects.created[0];
  check(newObj && String(newObj.data).includes(`UID:new-${rand}@mortar.test`),
        'smart sync did not fetch the new event data');

  // Nothing more to sync from the newest token.
  const none = await client.syncCollection({
    url: calendar.url,
    props: { 'd:getetag': {} },
    syncLevel: 1,
    syncToken: token2,
  });
  const left = none.filter((r) => r.href && r.href.endsWith('.ics')).map((r) => leaf(r.href));
  steps.noChangeSync = left;
  check(left.length === 0, `changes reported after the last token: ${JSON.stringify(left)}`);
} catch (e) {
  errors.push(`exception: ${e && e.stack ? e.stack : e}`);
} finally {
  if (client && calendar) {
    try {
      const r = await client.deleteObject({ url: calendar.url });
      steps.cleanup = r.status;
    } catch (e) {
      errors.push(`cleanup: ${e}`);
    }
  }
}

process.stdout.write(JSON.stringify({ ok: errors.length === 0, steps, errors }, null, 1) + '\n');
process.exit(errors.length === 0 ? 0 : 1);
