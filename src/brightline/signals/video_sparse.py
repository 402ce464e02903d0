"""Sparse decoding for vPDQ sampling: decode only the packets the sampled frames depend on.

vPDQ numbers frames in decoder output order and hashes every n-th one. Decoding the rest is
wasted work when the stream allows skipping it, which this module decides from a demux-only
pass over the packets (no decoding):

* each packet must make exactly one frame, with a timestamp, none flagged corrupt or to be
  discarded, and the timestamps evenly spaced at the stream's average rate (constant frame
  rate); a frame's number is then the rank of its timestamp, known before decoding;
* a keyframe is a clean restart point when every packet before it (decode order) shows
  earlier and every packet after it shows later, so no frame reaches across it (closed GOP);
* for each sampled frame the packets from the last restart point up to its own are sent to
  the decoder, the rest never are (a whole GOP without a sampled frame is skipped, as is the
  tail of a GOP after its last sampled frame); before a skipped run the decoder is drained
  and reset, as after a seek;
* sent packets of frames that are not sampled are decoded with ``skip_frame=NONREF``: the
  decoder drops them when no other frame refers to them.

Anything unexpected while decoding (a sampled frame missing or out of order, a packet that
differs from the index) raises SparseMismatchError and the caller decodes every frame instead.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Final, Literal

import av
import av.container
import av.error
import numpy as np
import numpy.typing as npt
from av.video.stream import VideoStream

# Decoders whose packets are one frame each and which honour skip_frame; others always
# decode every frame.
SPARSE_CODECS: Final = frozenset({"h264", "hevc", "vp8", "vp9", "libdav1d"})
# With a frame budget the index stops this many packets past it: B-frame reordering moves a
# frame at most a few packets (x264 allows 16), and the prefix is checked for that.
_REORDER_MARGIN: Final = 32
# Timestamps are rounded to the stream's time base (1 ms in Matroska), so a constant-rate
# stream's steps may differ from the exact frame duration by up to one tick.
_STEP_TOLERANCE_TICKS: Final = 1.0


class SparseMismatchError(Exception):
    """The decoder did not behave as the packet index predicted; decode every frame instead."""


@dataclass(frozen=True)
class SparsePlan:
    """Which packets (in decode order) to send, and which to decode in full."""

    frame_count: int  # frames a full decode outputs
    pts: npt.NDArray[np.int64]  # each packet's timestamp, decode order
    sorted_pts: npt.NDArray[np.int64]  # timestamps in output order: a frame's number is its index
    send: npt.NDArray[np.bool_]
    full: npt.NDArray[np.bool_]  # a sampled frame's packet: never skipped by the decoder
    sampled: npt.NDArray[np.int64]  # the frame numbers to hash, ascending

    @property
    def packets_sent(self) -> int:
        """Packets handed to the decoder (the rest are only demuxed)."""
        return int(self.send.sum())


def index_packets(
    container: av.container.InputContainer, stream: VideoStream, limit: int | None = None
) -> npt.NDArray[np.int64] | None:
    """(pts, is_keyframe) of the stream's packets in decode order, or None if sparse decoding can't use them.

    With a frame budget (``limit``) the index stops shortly past it, so a budgeted hash of a
    long file does not read the whole file first.
    """
    rows = array("q")
    stop = None if limit is None else 2 * (limit + 2 * _REORDER_MARGIN)
    try:
        for packet in container.demux(stream):
            if stop is not None and len(rows) >= stop:
                break
            if packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            if packet.pts is None or packet.is_corrupt or packet.is_discard:
                return None
            rows.append(packet.pts)
            rows.append(1 if packet.is_keyframe else 0)
    except av.error.FFmpegError:
        return None  # the full decode reports the damage
    return np.frombuffer(rows, dtype=np.int64).reshape(-1, 2)


def plan_sparse(
    index: npt.NDArray[np.int64], time_base: Fraction, fps: float, interval: int, limit: int | None
) -> SparsePlan | None:
    """The packets that the frames ``0, interval, 2 * interval, ...`` below ``limit`` need, or None."""
    count = len(index)
    if count == 0 or interval < 1:
        return None
    # A cut-short index (see index_packets) holds more frames than the budget; the plan then
    # reports that prefix's count, which is enough to tell the hash it was truncated.
    complete = limit is None or count < limit + 2 * _REORDER_MARGIN
    pts = np.ascontiguousarray(index[:, 0])
    keys = index[:, 1].astype(bool)
    sorted_pts = np.sort(pts)
    if count > 1:
        steps = np.diff(sorted_pts)
        ticks_per_frame = 1.0 / (fps * float(time_base))
        if steps.min() <= 0 or np.abs(steps - ticks_per_frame).max() > _STEP_TOLERANCE_TICKS:
            return None  # duplicate timestamps or a variable frame rate
    numbers = np.searchsorted(sorted_pts, pts)
    if not complete and np.abs(numbers - np.arange(count)).max() > _REORDER_MARGIN:
        return None  # reordered further than the margin: the prefix may miss earlier frames
    packet_of = np.empty(count, dtype=np.int64)
    packet_of[numbers] = np.arange(count)
    # Clean restart points: keyframes no other frame is displayed across.
    shown_before = np.maximum.accumulate(np.concatenate(([-1], numbers[:-1])))
    shown_after = np.minimum.accumulate(np.concatenate((numbers[1:], [count]))[::-1])[::-1]
    restart = keys & (shown_before < numbers) & (shown_after > numbers)
    last_restart = np.maximum.accumulate(np.where(restart, np.arange(count), -1))
    sampled = np.arange(0, count if limit is None else min(count, limit), interval, dtype=np.int64)
    targets = packet_of[sampled]
    starts = last_restart[targets]
    if (starts < 0).any():
        return None  # a sampled frame before the first clean keyframe
    edges = np.zeros(count + 1, dtype=np.int64)
    np.add.at(edges, starts, 1)
    np.add.at(edges, targets + 1, -1)
    send = np.cumsum(edges[:-1]) > 0
    full = np.zeros(count, dtype=bool)
    full[targets] = True
    return SparsePlan(count, pts, sorted_pts, send, full, sampled)


def decode_sparse(
    container: av.container.InputContainer, stream: VideoStream, plan: SparsePlan
) -> Iterator[tuple[int, av.VideoFrame]]:
    """The planned sampled frames as (frame number, frame), ascending; SparseMismatchError if not as planned."""
    codec = stream.codec_context
    expected = iter(plan.sampled.tolist())
    wanted: int | None = next(expected, None)
    last = -1
    pending = False  # packets sent since the last drain

    def take(frames: list[av.VideoFrame]) -> Iterator[tuple[int, av.VideoFrame]]:
        nonlocal wanted, last
        for frame in frames:
            number = _number(plan, frame.pts)
            if number <= last:
                raise SparseMismatchError(f"frame {number} decoded after frame {last}")
            last = number
            if wanted is not None and number > wanted:
                raise SparseMismatchError(f"sampled frame {wanted} was not decoded")
            if number == wanted:
                wanted = next(expected, None)
                yield number, frame

    skip: Literal["DEFAULT", "NONREF", ""] = ""
    position = 0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if wanted is None:
            break  # every sampled frame is out
        if position < len(plan.pts):
            if packet.pts != plan.pts[position]:
                raise SparseMismatchError(f"packet {position} differs from the index")
            send, full = bool(plan.send[position]), bool(plan.full[position])
        elif pending:
            send = full = False  # past a cut-short index nothing is needed; drain what was sent
        else:
            break
        position += 1
        if not send:
            if pending:
                yield from take(codec.decode(None))
                codec.flush_buffers()  # the next packet sent is a clean keyframe, as after a seek
                pending = False
            continue
        mode: Literal["DEFAULT", "NONREF"] = "DEFAULT" if full else "NONREF"
        if mode != skip:
            codec.skip_frame = skip = mode
        yield from take(codec.decode(packet))
        pending = True
    if pending and wanted is not None:
        yield from take(codec.decode(None))
    if wanted is not None:
        raise SparseMismatchError(f"sampled frame {wanted} was not decoded")


def _number(plan: SparsePlan, pts: int | None) -> int:
    """A decoded frame's number: the rank of its timestamp among all packets'."""
    if pts is None:
        raise SparseMismatchError("a decoded frame has no timestamp")
    number = int(np.searchsorted(plan.sorted_pts, pts))
    if number >= plan.frame_count or int(plan.sorted_pts[number]) != pts:
        raise SparseMismatchError(f"a decoded frame's timestamp {pts} is not a packet's")
    return number
