"""KurrentDB's official Python client against plgd's KurrentDB listener.

Driven by services/plgd/tests/kurrentdb_clients, which asserts on what this prints: one JSON
object a line on stdout. It reads, follows two catch-up subscriptions (waiting on stdin for
the Rust side to write the live events), then appends.

Environment: KURRENTDB_CONNECTION_STRING (an operator key), KURRENTDB_WRONG_CONNECTION_STRING
(a wrong secret), PLG_STREAM (a stream with events), PLG_MISSING_STREAM (a stream never
written), PLG_APPEND_STREAM (a new stream to append to).
"""

import json
import os
import sys
import uuid

from kurrentdbclient import KurrentDBClient, NewEvent, StreamState



def exit_on_error(kind, error, traceback):
    sys.__excepthook__(kind, error, traceback)
    os._exit(1)  # the clients' gRPC threads would keep a failed script alive


sys.excepthook = exit_on_error

client = KurrentDBClient(os.environ["KURRENTDB_CONNECTION_STRING"])
# Kept referenced: a client closes its channel when collected, cancelling its reads.
wrong_secret = KurrentDBClient(os.environ["KURRENTDB_WRONG_CONNECTION_STRING"])
stream = os.environ["PLG_STREAM"]


def emit(message):
    print(json.dumps(message), flush=True)


def summary(event):
    """An event as the Rust side compares it with the event log's."""
    return {
        "id": str(event.id),
        "stream": event.stream_name,
        "revision": event.stream_position,
        "type": event.type,
        "data": json.loads(event.data),
        "position": event.commit_position,
        "is_json": event.content_type == "application/json",
    }


def error_of(call):
    """The client's own error class, or None when the call succeeded."""
    try:
        call()
        return None
    except Exception as error:  # noqa: BLE001 - the class is the answer
        return type(error).__name__


emit(
    {
        "reads": {
            "stream_forwards": [summary(e) for e in client.get_stream(stream)],
            "stream_backwards": [
                summary(e) for e in client.get_stream(stream, backwards=True)
            ],
            "all_forwards": [summary(e) for e in client.read_all()],
            "all_backwards": [summary(e) for e in client.read_all(backwards=True)],
            "missing_stream": error_of(
                lambda: client.get_stream(os.environ["PLG_MISSING_STREAM"])
            ),
            "wrong_credentials": error_of(lambda: list(wrong_secret.read_all())),
        }
    }
)


class Followed:
    """A subscription's events, and how many had arrived when it reported being caught up."""

    def __init__(self, subscription):
        self.stop = subscription.stop
        self.subscription = iter(subscription)
        self.events = []
        self.caught_up_after = None

    def until_caught_up(self):
        for event in self.subscription:
            if event.is_caught_up:
                self.caught_up_after = len(self.events)
                return
            self.events.append(summary(event))

    def until(self, count):
        while len(self.events) < count:
            self.events.append(summary(next(self.subscription)))

    def report(self):
        return {"events": self.events, "caught_up_after": self.caught_up_after}


everything = Followed(client.subscribe_to_all(include_caught_up=True))
one = Followed(client.subscribe_to_stream(stream, include_caught_up=True))
everything.until_caught_up()
one.until_caught_up()
emit({"caught_up": True})

# The Rust side writes, then says how many events each subscription has seen by now.
expected = json.loads(sys.stdin.readline())
everything.until(expected["all"])
one.until(expected["stream"])
emit({"subscriptions": {"all": everything.report(), "stream": one.report()}})
everything.stop()
one.stop()


def json_event(event_type, data):
    return NewEvent(type=event_type, data=json.dumps(data).encode(), id=uuid.uuid4())


# Appends, which plgd allows operator keys here: a new stream with BatchAppend (what this
# client uses for a list of events), the same events again, a conflict, then one event
# through Append (what it uses for a single event).
append_stream = os.environ["PLG_APPEND_STREAM"]
batch = [json_event("ClientAppended", {"client": "python", "n": n}) for n in range(2)]
alone = json_event("ClientAppendedAlone", {"client": "python"})
conflicting = json_event("ClientConflicted", {})


def append(events, current_version):
    """The commit position of the last event, which is what this client answers."""
    return client.append_to_stream(
        append_stream, events=events, current_version=current_version
    )


emit(
    {
        "appends": {
            "sent": [
                {"id": str(e.id), "type": e.type, "data": json.loads(e.data)}
                for e in [*batch, alone]
            ],
            "created": append(batch, StreamState.NO_STREAM),
            "again": append(batch, StreamState.NO_STREAM),
            "conflict": error_of(lambda: append([conflicting], StreamState.NO_STREAM)),
            "alone": append(alone, len(batch) - 1),
            "alone_conflict": error_of(lambda: append(conflicting, 0)),
            "read_back": [summary(e) for e in client.get_stream(append_stream)],
        }
    }
)
client.close()
wrong_secret.close()
