"""workerlib's own channel on a real page: frames in batches on a MessageChannel port, JavaScript values beside them.

Messages are counted in JavaScript on both ends of the port (the page wraps ``MessagePort.prototype`` on the main
thread and in the workers), so these tests check what really crossed, not only workerlib's own counters.
"""

from __future__ import annotations

from typing import Any

import pytest

from workerlib import protocol

from .conftest import EVERY_PYODIDE, RunPage
from .harness import PageSpec, WorkerSpec

# The channel is what every call rides on: both Pyodide releases the project pins run it.
pytestmark = EVERY_PYODIDE

CHANNEL = PageSpec(
    "channel",
    workers=[
        WorkerSpec("chan", src="worker_channel.py"),
        WorkerSpec("slow", src="worker_slow.py"),
    ],
    shared=["channelkit.py", "worker_channel.py", "slow_services.py"],
)
SIZE = 1 << 20
"""Bytes in the page's large buffers."""


@pytest.fixture(scope="module")
def page(openPage: RunPage) -> dict[str, Any]:
    return openPage(CHANNEL).results


def section(page: dict[str, Any], name: str) -> dict[str, Any]:
    """One section of the page's results; a section that raised fails the test with the page's traceback."""
    if "sectionFailed" in page["connect"]:
        pytest.fail(f"the page could not connect to worker 'chan':\n{page['connect']['traceback']}")
    found: dict[str, Any] = page[name]
    if "sectionFailed" in found:
        pytest.fail(f"the page's {name!r} section raised:\n{found['traceback']}")
    return found


def error(outcome: dict[str, Any]) -> dict[str, Any]:
    assert "error" in outcome, f"expected an error, got {outcome}"
    found: dict[str, Any] = outcome["error"]
    return found


# ---- 1. batching ---------------------------------------------------------------------------------------------------


def test_a_hundred_gathered_calls_leave_in_a_handful_of_messages(page: dict[str, Any]) -> None:
    gathered = section(page, "batching")["gathered"]
    assert gathered["resultsRight"] is True
    main = gathered["main"]
    # Counted in JavaScript, on the main thread's end of the port...
    assert 1 <= main["js"]["sent"] <= 3, main
    assert 1 <= main["js"]["received"] <= 3, main
    # ...and in the worker, on its end.
    assert 1 <= gathered["worker"]["received"] <= 3, gathered
    assert 1 <= gathered["worker"]["sent"] <= 3, gathered
    # workerlib's own counters agree with what JavaScript saw, and every call was one frame each way.
    assert main["channel"]["sentMessages"] == main["js"]["sent"]
    assert main["channel"]["receivedMessages"] == main["js"]["received"]
    assert main["channel"]["sentFrames"] == 100
    assert main["channel"]["receivedFrames"] == 100


def test_calls_awaited_one_after_another_leave_one_message_each(page: dict[str, Any]) -> None:
    sequential = section(page, "batching")["sequential"]
    assert sequential["resultsRight"] is True
    # Batching gathers what one turn of the event loop sends: it never holds a lone request back.
    assert sequential["main"]["js"] == {"sent": 10, "received": 10}
    assert sequential["worker"] == {"sent": 10, "received": 10}
    assert sequential["main"]["channel"] == {
        "sentMessages": 10,
        "receivedMessages": 10,
        "sentFrames": 10,
        "receivedFrames": 10,
    }


# ---- 2. transfer() -------------------------------------------------------------------------------------------------


def test_a_transferred_array_buffer_moves_whole_and_is_detached_on_main(page: dict[str, Any]) -> None:
    moved = section(page, "transfers")["arrayBuffer"]
    assert moved["expected"]["byteLength"] == SIZE
    assert moved["seen"] == moved["expected"]  # same type, length and checksum in the worker
    assert moved["byteLengthAfter"] == 0


def test_a_transferred_typed_array_moves_its_buffer(page: dict[str, Any]) -> None:
    moved = section(page, "transfers")["uint8Array"]
    assert moved["expected"] == {"js": "Uint8Array", "byteLength": SIZE, "crc32": moved["expected"]["crc32"]}
    assert moved["seen"] == moved["expected"]
    assert moved["byteLengthAfter"] == 0
    assert moved["bufferByteLengthAfter"] == 0


def test_transfer_works_deep_inside_the_arguments(page: dict[str, Any]) -> None:
    nested = section(page, "transfers")["nested"]
    assert nested["expected"]["js"] == "Uint16Array"
    assert nested["seen"] == {
        "py": "dict",
        "items": {"outer": {"py": "list", "items": [{"py": "int", "repr": "1"}, nested["expected"]]}},
    }
    assert nested["byteLengthAfter"] == 0


def test_a_result_marked_with_transfer_leaves_the_workers_buffer_detached(page: dict[str, Any]) -> None:
    moved = section(page, "transfers")["returnedMoved"]
    assert moved["got"] == moved["expected"]
    assert moved["got"]["js"] == "ArrayBuffer"
    assert moved["workerByteLengthAfter"] == 0


def test_a_result_without_transfer_is_copied(page: dict[str, Any]) -> None:
    copied = section(page, "transfers")["returnedCopied"]
    assert copied["got"] == copied["expected"]
    assert copied["workerByteLengthAfter"] == SIZE


# ---- 3. JavaScript values cross as themselves ----------------------------------------------------------------------


def test_javascript_values_reach_the_worker_as_the_same_javascript_types(page: dict[str, Any]) -> None:
    clones = section(page, "clones")
    seen = clones["seenInWorker"]
    assert seen == clones["sent"]
    items = seen["items"]
    blob = {"js": "Blob", "constructor": "Blob", "type": "text/plain", "size": 10, "text": "hello blob"}
    assert items["blob"] == blob
    assert items["file"] == {
        "js": "File",
        "constructor": "File",
        "type": "text/csv",
        "size": 9,
        "text": "file body",
        "name": "notes.txt",
    }
    array, plain = items["items"]["items"]
    assert array == {"js": "Uint8Array", "constructor": "Uint8Array", "byteLength": 4, "bytes": [1, 2, 3, 250]}
    assert plain["js"] == "Object"
    assert plain["items"]["label"] == {"py": "str", "repr": "'plain'"}
    assert plain["items"]["data"] == {
        "js": "Int16Array",
        "constructor": "Int16Array",
        "byteLength": 4,
        "bytes": [255, 255, 44, 1],
    }
    assert plain["items"]["list"]["js"] == "Array"
    assert plain["items"]["list"]["items"][0]["js"] == "Float64Array"
    assert items["view"] == {"js": "DataView", "constructor": "DataView", "byteLength": 3, "bytes": [9, 8, 7]}
    assert items["buffer"]["js"] == "ArrayBuffer"
    assert items["buffer"]["byteLength"] == 16
    assert items["python"] == {"py": "tuple", "items": [{"py": "int", "repr": "1"}, {"py": "str", "repr": "'two'"}]}


def test_javascript_values_come_back_as_the_same_javascript_types(page: dict[str, Any]) -> None:
    clones = section(page, "clones")
    assert clones["back"] == clones["sent"]


def test_without_transfer_the_senders_values_are_copied_not_moved(page: dict[str, Any]) -> None:
    clones = section(page, "clones")
    assert clones["senderAfter"] == clones["sent"]  # every buffer still whole on the main thread
    # The worker's copy was changed and sent back; the main thread's own array was not touched.
    assert clones["copyNotShare"] == {"mine": [1, 2, 3], "theirs": [255, 2, 3]}


# ---- 4. what structured clone cannot copy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "place", "what"),
    [
        ("function", "args[0]", "cannot send a JavaScript function"),
        ("objectHoldingFunction", "args[1]['x']", "f is a JavaScript function"),
        ("classInstance", "args[0][1]", "instance of the class Point"),
        ("domNode", "kwargs['cb']", "HTMLBodyElement"),
    ],
)
def test_an_uncloneable_argument_fails_before_sending_naming_its_place(
    page: dict[str, Any], case: str, place: str, what: str
) -> None:
    unsendable = section(page, "unsendable")
    outcome = unsendable[case]
    found = error(outcome)
    assert found["type"] == "UnsendableError"
    assert outcome["isUnsendable"] is True
    assert found["message"].startswith(f"{place}: cannot send"), found["message"]
    assert what in found["message"]


def test_nothing_is_posted_for_an_uncloneable_argument_and_the_next_call_works(page: dict[str, Any]) -> None:
    unsendable = section(page, "unsendable")
    counts = unsendable["counts"]
    assert counts["after"] == counts["before"]
    assert unsendable["nextCall"] == [2, ["k"]]


def test_an_uncloneable_result_fails_in_the_worker_and_it_keeps_serving(page: dict[str, Any]) -> None:
    unsendable = section(page, "unsendable")
    returned = error(unsendable["returnedFunction"])
    assert (returned["type"], returned["module"]) == ("UnsendableError", "workerlib.errors")
    assert unsendable["returnedFunction"]["isUnsendable"] is True
    assert returned["message"].startswith("return value: cannot send a JavaScript function"), returned["message"]
    assert "Raised in Lab.returnFunction() on worker 'chan'" in "\n".join(returned["notes"])
    nested = error(unsendable["returnedNested"])
    assert nested["type"] == "UnsendableError"
    assert nested["message"].startswith("return value['inside'][0]: cannot send"), nested["message"]
    assert unsendable["workerStillServes"] == 42


# ---- 5. frames and messages the worker cannot handle ---------------------------------------------------------------


def test_a_frame_of_an_unknown_kind_gets_a_protocol_error_reply(page: dict[str, Any]) -> None:
    malformed = section(page, "malformed")
    unknown = malformed["unknownKind"]
    assert unknown["replyKind"] == 2  # REPLY
    assert unknown["ok"] is False
    assert unknown["isProtocolError"] is True
    assert unknown["error"]["type"] == "ProtocolError"
    assert "unknown kind 99" in unknown["error"]["message"]
    assert malformed["afterUnknownKind"] == 3


def test_a_request_frame_with_a_garbage_payload_gets_a_failure_reply(page: dict[str, Any]) -> None:
    malformed = section(page, "malformed")
    garbage = malformed["garbageRequest"]
    assert garbage["ok"] is False
    assert garbage["isProtocolError"] is True, garbage
    assert malformed["afterGarbageRequest"] == 7


def test_junk_posted_on_the_port_does_not_break_the_worker(page: dict[str, Any]) -> None:
    malformed = section(page, "malformed")
    assert malformed["workerReceived"] == malformed["junkPosted"]  # it all reached the worker...
    assert malformed["afterJunk"] == 11  # ...which went on serving
    assert malformed["linkGone"] is None


# ---- 6. the handshake, and one channel per worker ------------------------------------------------------------------


def test_connect_waits_for_a_worker_still_loading(page: dict[str, Any]) -> None:
    slow = section(page, "slow")
    loading = slow["loading"]
    # The worker saw the main thread's mark (set just before connect()) and then stayed busy loading for 2 s more.
    assert slow["connectCalled"] <= loading["gateSeen"]
    assert loading["ready"] - slow["connectCalled"] >= 1900
    assert slow["connected"] >= loading["ready"]
    assert slow["add"] == 5
    assert slow["shout"] == "HI"


def test_concurrent_connects_to_a_loading_worker_share_one_channel(page: dict[str, Any]) -> None:
    slow = section(page, "slow")
    assert slow["sameLink"] is True
    assert slow["workerPorts"] == 1


def test_services_of_one_worker_share_one_channel(page: dict[str, Any]) -> None:
    sharing = section(page, "sharing")
    assert sharing["bothWork"] == [2, "pong b"]
    assert sharing["sameWorker"] is True
    # Two services of one worker, connected one after the other: one link, one channel, one port.
    assert sharing["sameLink"] is True, (
        "a second connect() to worker 'chan' opened a new channel; PyScript's worker object awaited twice: "
        f"{sharing['workerObjects']} (connect() reuses a link only when `link.worker is worker`)"
    )
    assert sharing["sameChannel"] is True
    assert sharing["samePort"] is True
    assert sharing["workerPorts"] == 1  # the worker was handed one port for all the page's clients of it


def test_two_workers_get_two_channels(page: dict[str, Any]) -> None:
    other = section(page, "slow")["otherWorker"]
    assert other["linkDiffers"] is True
    assert other["portDiffers"] is True


# ---- 7. long lists go ahead in parts -------------------------------------------------------------------------------
# 5,000 records: parts of protocol.PART_ITEMS items, each a message of its own, then the payload in one more.
PARTS = -(-5000 // max(protocol.PART_ITEMS, -(-5000 // protocol.MAX_PARTS)))


def test_a_long_list_argument_goes_ahead_in_parts_and_comes_back_in_parts(page: dict[str, Any]) -> None:
    echoed = section(page, "parts")["echo"]
    assert echoed["equal"] is True
    assert PARTS > 1
    assert echoed["frames"] == {
        "sentMessages": PARTS + 1,
        "sentFrames": PARTS + 1,
        "receivedMessages": PARTS + 1,
        "receivedFrames": PARTS + 1,
    }


def test_a_long_list_result_goes_ahead_in_parts(page: dict[str, Any]) -> None:
    made = section(page, "parts")["result"]
    assert made["equal"] is True
    assert made["frames"] == {
        "sentMessages": 1,
        "sentFrames": 1,
        "receivedMessages": PARTS + 1,
        "receivedFrames": PARTS + 1,
    }


def test_a_long_list_with_a_shared_item_goes_whole_and_keeps_it_shared(page: dict[str, Any]) -> None:
    shared = section(page, "parts")["shared"]
    assert shared["sameThere"] is True
    assert shared["sameBack"] is True
    assert shared["equal"] is True
    assert shared["frames"] == {"sentMessages": 1, "sentFrames": 1, "receivedMessages": 1, "receivedFrames": 1}


def test_a_refused_part_fails_its_call_naming_it_and_the_worker_serves_the_next(page: dict[str, Any]) -> None:
    refused = section(page, "parts")["refusedPart"]
    assert refused["ok"] is False
    assert refused["error"]["type"] == "DecodeError", refused
    assert "a part of a list sent in parts was refused" in refused["error"]["message"]
    assert "not a list" in refused["error"]["message"]
    assert refused["workerParts"] == 0  # the request took the parts with it
    assert refused["after"] == 3


def test_records_go_in_parts_as_trees(page: dict[str, Any]) -> None:
    assert section(page, "parts")["treeLayout"] is True


def test_a_part_in_the_tree_layout_that_memoizes_is_refused_and_the_worker_serves_the_next(
    page: dict[str, Any],
) -> None:
    refused = section(page, "parts")["memoizingTree"]
    assert refused["ok"] is False
    assert refused["error"]["type"] == "DecodeError", refused
    assert "a part of a list sent in parts was refused" in refused["error"]["message"]
    assert "sent as a tree, yet it memoizes values" in refused["error"]["message"]
    assert refused["workerParts"] == 0
    assert refused["after"] == 3


def test_a_reply_referring_to_parts_that_never_came_is_refused_on_main(page: dict[str, Any]) -> None:
    joined = section(page, "parts")["joinedWithoutParts"]
    assert "error" in joined, joined
    assert joined["error"]["type"] == "DecodeError"
    assert "no parts came before it" in joined["error"]["message"]
    assert joined["after"] == 7
