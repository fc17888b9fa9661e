"""Videos in and out: frames are (H, W, 3) uint8 RGB arrays, read in batches (B, H, W, 3) and written as MP4
(H.264) or GIF. Decoding and encoding use PyAV, whose wheels carry their own FFmpeg, so nothing else needs
installing. A file that is missing, not a video, corrupt or without frames is a one-line error naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lifting.errors import UserError
from lifting.fileio import atomic_write

VIDEO_SUFFIXES = (".mp4", ".gif")


@dataclass(frozen=True)
class VideoInfo:
    """A video's frame rate (frames per second), frame count and frame size in px."""

    fps: float
    num_frames: int
    width: int
    height: int


def _open(path: Path):
    if not path.is_file():
        raise UserError(f"{path}: video file not found")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a readable video ({e.__class__.__name__})") from None
    if not container.streams.video:
        container.close()
        raise UserError(f"{path}: video holds no frames (no video stream)")
    return container


def video_info(path: str | Path) -> VideoInfo:
    """Frame rate, frame count (from the header, else by counting packets) and size of the video at `path`."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        count = stream.frames
        if not count:
            try:
                count = sum(1 for packet in container.demux(stream) if packet.size)
            except av.error.FFmpegError as e:
                raise UserError(f"{path}: corrupt video ({e.__class__.__name__})") from None
        if not count:
            raise UserError(f"{path}: video holds no frames")
        if not rate:
            raise UserError(f"{path}: video has no frame rate")
        return VideoInfo(float(rate), int(count), stream.codec_context.width, stream.codec_context.height)


def read_frames(path: str | Path, batch_size: int = 16) -> Iterator[np.ndarray]:
    """The frames of the video at `path` in batches (B, H, W, 3) uint8 RGB, B = batch_size except the last."""
    if batch_size < 1:
        raise UserError(f"batch size {batch_size}: expected at least 1 frame")
    path = Path(path)
    with _open(path) as container:
        batch, seen = [], 0
        try:
            for frame in container.decode(video=0):
                batch.append(frame.to_ndarray(format="rgb24"))
                seen += 1
                if len(batch) == batch_size:
                    yield np.stack(batch)
                    batch = []
        except av.error.FFmpegError as e:
            raise UserError(f"{path}: corrupt video, decoding failed after frame {seen} "
                            f"({e.__class__.__name__})") from None
        if batch:
            yield np.stack(batch)
        if not seen:
            raise UserError(f"{path}: video holds no frames")


def _check_frame(frame, shape, path: Path) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or (shape and frame.shape != shape):
        raise UserError(f"{path}: frames must be (H, W, 3) uint8 of one size{f' {shape}' if shape else ''}, got "
                        f"{frame.shape} {frame.dtype}")
    return frame


def _write_mp4(tmp: str, frames: Iterable[np.ndarray], fps: float, path: Path, comment: str | None) -> int:
    count, shape = 0, None
    with av.open(tmp, "w", format="mp4") as container:
        if comment:
            container.metadata["comment"] = comment
        stream = None
        for frame in frames:
            frame = _check_frame(frame, shape, path)
            if stream is None:
                shape = frame.shape
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                # yuv420p (what players expect) needs even sizes: the frame is padded by its edge pixels.
                stream.width, stream.height = shape[1] + shape[1] % 2, shape[0] + shape[0] % 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": "18"}
            padded = np.pad(frame, ((0, shape[0] % 2), (0, shape[1] % 2), (0, 0)), mode="edge")
            container.mux(stream.encode(av.VideoFrame.from_ndarray(padded, format="rgb24")))
            count += 1
        if stream is not None:
            container.mux(stream.encode())
    return count


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, comment: str | None = None) -> Path:
    """Write frames (H, W, 3) uint8 RGB to `path` (.mp4: H.264; .gif: Pillow, 256 colours) at `fps`, atomically;
    `comment` is stored in the file's metadata."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise UserError(f"{path}: video output must end in {' or '.join(VIDEO_SUFFIXES)}")
    if not fps > 0:
        raise UserError(f"{path}: fps {fps} must be positive")
    written = []

    def write(tmp: str) -> None:
        if suffix == ".mp4":
            written.append(_write_mp4(tmp, frames, fps, path, comment))
        else:
            from PIL import Image

            shape, images = None, []
            for frame in frames:
                shape = _check_frame(frame, shape, path).shape
                images.append(Image.fromarray(np.asarray(frame)))
            if images:
                images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                               duration=int(round(1000 / fps)), comment=(comment or "").encode())
            written.append(len(images))
        if not written[0]:
            raise UserError(f"{path}: no frames to write")

    atomic_write(path, write)
    return path
