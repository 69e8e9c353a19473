"""KurrentDB's official Python client against plgd's KurrentDB listener.

Driven by services/plgd/tests/kurrentdb_clients.rs, which asserts on what this prints: one
JSON object a line on stdout. It reads, then follows two catch-up subscriptions, and waits on
stdin for the Rust side to write the live events.

Environment: KURRENTDB_CONNECTION_STRING (an operator key), KURRENTDB_WRONG_CONNECTION_STRING
(a wrong secret), PLG_STREAM (a stream with events), PLG_MISSING_STREAM (a stream never
written).
"""

import json
import os
import sys

from kurrentdbclient import KurrentDBClient

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


def error_of(read):
    """The client's own error class, or None when the call succeeded."""
    try:
        list(read())
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
            "wrong_credentials": error_of(wrong_secret.read_all),
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
client.close()
wrong_secret.close()
