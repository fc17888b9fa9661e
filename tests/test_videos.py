import av
import numpy as np
import pytest

from lifting.datasets.videos import read_frames, video_info, write_video
from lifting.errors import UserError


def clip(num: int = 7, height: int = 48, width: int = 64) -> np.ndarray:
    """Frames (T, H, W, 3) uint8: a grey level that rises per frame and a white 8x8 square moving right."""
    frames = np.zeros((num, height, width, 3), np.uint8)
    for t in range(num):
        frames[t] = 20 + 25 * t
        frames[t, 20:28, 4 + 6 * t:12 + 6 * t] = 255
    return frames


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_written_clip_reads_back(tmp_path, suffix):
    frames = clip()
    path = write_video(tmp_path / f"clip{suffix}", iter(frames), fps=10, comment="test clip")
    info = video_info(path)
    assert (info.num_frames, info.width, info.height) == (7, 64, 48)
    assert info.fps == pytest.approx(10.0)
    batches = list(read_frames(path, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    back = np.concatenate(batches)
    assert back.dtype == np.uint8 and back.shape == frames.shape
    # H.264 is lossy; the flat grey and the square must survive within a few levels (GIF: exactly).
    error = np.abs(back.astype(int) - frames).mean(axis=(1, 2, 3))
    assert error.max() < (3.0 if suffix == ".mp4" else 1e-9)
    # The square moves 6 px per frame: its columns in frame t centre on 7.5 + 6 t.
    centres = [np.flatnonzero(b[24, :, 0] > 220).mean() for b in back]
    np.testing.assert_allclose(centres, 7.5 + 6 * np.arange(7), atol=0.6)


def test_odd_sized_frames_are_padded_for_h264(tmp_path):
    path = write_video(tmp_path / "odd.mp4", clip(3, 47, 63), fps=25)
    info = video_info(path)
    assert (info.width, info.height, info.num_frames) == (64, 48, 3)


def test_unreadable_corrupt_and_empty_videos_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="missing.mp4: video file not found"):
        video_info(tmp_path / "missing.mp4")
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(UserError, match="noise.mp4: not a readable video"):
        list(read_frames(noise))
    good = write_video(tmp_path / "good.mp4", clip(), fps=10).read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match="truncated.mp4: (not a readable|corrupt) video"):
        list(read_frames(truncated))
    empty = tmp_path / "empty.mp4"
    with av.open(str(empty), "w") as container:  # a valid MP4 header whose video stream got no frames
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height = 64, 48
        container.start_encoding()
    with pytest.raises(UserError, match="empty.mp4: video holds no frames"):
        list(read_frames(empty))
    with pytest.raises(UserError, match="empty.mp4: video holds no frames"):
        video_info(empty)


def test_bad_output_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(UserError, match="no frames to write"):
        write_video(tmp_path / "none.mp4", [], fps=10)
    with pytest.raises(UserError, match=r"\(H, W, 3\) uint8"):
        write_video(tmp_path / "float.gif", [np.zeros((4, 4, 3))], fps=10)
    with pytest.raises(UserError, match=r"must end in \.mp4 or \.gif"):
        write_video(tmp_path / "clip.avi", clip(), fps=10)
    assert list(tmp_path.iterdir()) == []
