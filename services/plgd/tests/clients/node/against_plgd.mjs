// KurrentDB's official Node client against plgd's KurrentDB listener, driven by
// services/plgd/tests/kurrentdb_clients, which asserts on what this prints: one JSON object
// a line on stdout. It reads, follows two catch-up subscriptions (waiting on stdin for the
// Rust side to write the live events), then appends.
//
// Environment: KURRENTDB_CONNECTION_STRING (an operator key), KURRENTDB_WRONG_CONNECTION_STRING
// (a wrong secret), PLG_STREAM (a stream with events), PLG_MISSING_STREAM (a stream never
// written), PLG_APPEND_STREAM (a new stream to append to), KURRENTDB_NODE_MODULES (the
// directory whose node_modules holds the client).
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(`${process.env.KURRENTDB_NODE_MODULES}/`);
const { KurrentDBClient, FORWARDS, BACKWARDS, START, END, NO_STREAM, jsonEvent } = require(
  "@kurrent/kurrentdb-client",
);

const client = KurrentDBClient.connectionString(process.env.KURRENTDB_CONNECTION_STRING);
const stream = process.env.PLG_STREAM;
const print = (message) => console.log(JSON.stringify(message));

// An event as the Rust side compares it with the event log's.
const summary = ({ event }) => ({
  id: event.id,
  stream: event.streamId,
  revision: Number(event.revision),
  type: event.type,
  data: event.data,
  position: event.position === undefined ? null : Number(event.position.commit),
  is_json: event.isJson,
});

const collect = async (read) => {
  const events = [];
  for await (const resolved of read) events.push(summary(resolved));
  return events;
};

// The client's own error class, or null when the call succeeded.
const errorOf = async (call) => {
  try {
    await call;
    return null;
  } catch (error) {
    return error.constructor.name;
  }
};

print({
  reads: {
    stream_forwards: await collect(client.readStream(stream, { direction: FORWARDS, fromRevision: START })),
    stream_backwards: await collect(client.readStream(stream, { direction: BACKWARDS, fromRevision: END })),
    all_forwards: await collect(client.readAll({ direction: FORWARDS, fromPosition: START })),
    all_backwards: await collect(client.readAll({ direction: BACKWARDS, fromPosition: END })),
    missing_stream: await errorOf(collect(client.readStream(process.env.PLG_MISSING_STREAM))),
    wrong_credentials: await errorOf(
      collect(KurrentDBClient.connectionString(process.env.KURRENTDB_WRONG_CONNECTION_STRING).readAll()),
    ),
  },
});

// A subscription's events, and how many had arrived when it reported being caught up.
const follow = (subscription) => {
  const followed = { events: [], caught_up_after: null };
  let waiting = null;
  let caughtUp;
  const caughtUpNow = new Promise((resolve) => (caughtUp = resolve));
  subscription.on("data", (resolved) => {
    followed.events.push(summary(resolved));
    if (waiting && followed.events.length >= waiting.count) waiting.resolve();
  });
  subscription.on("caughtUp", () => {
    // Events pushed before the caught-up message may still sit in the stream's buffer.
    followed.caught_up_after = followed.events.length + subscription.readableLength;
    caughtUp();
  });
  subscription.on("error", (error) => {
    print({ error: `${error.constructor.name}: ${error.message}` });
    process.exit(1);
  });
  return {
    subscription,
    followed,
    caughtUp: caughtUpNow,
    until: (count) =>
      followed.events.length >= count
        ? Promise.resolve()
        : new Promise((resolve) => (waiting = { count, resolve })),
  };
};

const all = follow(client.subscribeToAll({ fromPosition: START }));
const one = follow(client.subscribeToStream(stream, { fromRevision: START }));
await Promise.all([all.caughtUp, one.caughtUp]);
print({ caught_up: true });

// The Rust side writes, then says how many events each subscription has seen by now.
const lines = createInterface({ input: process.stdin });
const { value: line } = await lines[Symbol.asyncIterator]().next();
const expected = JSON.parse(line);
await Promise.all([all.until(expected.all), one.until(expected.stream)]);
print({ subscriptions: { all: all.followed, stream: one.followed } });
await Promise.all([all.subscription.unsubscribe(), one.subscription.unsubscribe()]);

// Appends, which plgd allows operator keys here: a new stream with BatchAppend (what this
// client uses when the server lists it), the same events again, a conflict, then one event
// through Append (what it uses for a call with credentials of its own).
const appendStream = process.env.PLG_APPEND_STREAM;
const { username, password } = new URL(process.env.KURRENTDB_CONNECTION_STRING);
const credentials = { username: decodeURIComponent(username), password: decodeURIComponent(password) };
const batch = [0, 1].map((n) =>
  jsonEvent({ id: randomUUID(), type: "ClientAppended", data: { client: "node", n } }),
);
const alone = jsonEvent({ id: randomUUID(), type: "ClientAppendedAlone", data: { client: "node" } });
const conflicting = jsonEvent({ type: "ClientConflicted", data: {} });
// The commit position of the last event appended, as the Python client answers.
const position = (result) => Number(result.position.commit);
const created = await client.appendToStream(appendStream, batch, { streamState: NO_STREAM });
print({
  appends: {
    sent: [...batch, alone].map(({ id, type, data }) => ({ id, type, data })),
    created: position(created),
    again: position(await client.appendToStream(appendStream, batch, { streamState: NO_STREAM })),
    conflict: await errorOf(client.appendToStream(appendStream, conflicting, { streamState: NO_STREAM })),
    alone: position(
      await client.appendToStream(appendStream, alone, {
        streamState: created.nextExpectedRevision,
        credentials,
      }),
    ),
    alone_conflict: await errorOf(
      client.appendToStream(appendStream, conflicting, { streamState: 0n, credentials }),
    ),
    read_back: await collect(client.readStream(appendStream)),
  },
});
process.exit(0);
