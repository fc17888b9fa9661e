"""Render a COCO-style image dataset (parsed-Human3.6M layout) of the mannequin posed by Human3.6M 3D poses.

    python render_dataset.py --data-dir ../shared/data/h36m --subjects 1 5 6 7 8 --stride 50 --out data/h36m_rendered
    python render_dataset.py --data-dir synthetic --subjects 1 5 --stride 20 --size 256 --out data/synthetic_rendered
"""

from lifting.config import AT_LEAST_ONE, NON_NEGATIVE, PROBABILITY, ArgumentParser, opt, validate
from lifting.errors import UserError, run_cli
from lifting.fileio import check_output_dir
from lifting.options.common import CAMERA_LIST, MAX_STRIDE, SUBJECT_LIST

# What the numeric arguments may be (checked like config keys, before anything is read or written).
ARGS = {
    "--subjects": opt(list, None, "subjects", **SUBJECT_LIST),
    "--cameras": opt(list, None, "cameras", **CAMERA_LIST),
    "--stride": opt(int, None, "frame stride", **AT_LEAST_ONE, maximum=MAX_STRIDE),
    "--size": opt(int, None, "image side", minimum=16, maximum=8192),
    "--seed": opt(int, None, "seed", **NON_NEGATIVE, maximum=2 ** 32 - 1),
    "--batch-size": opt(int, None, "batch size", **AT_LEAST_ONE, maximum=4096),
    "--occluder-prob": opt(float, None, "occluder probability", **PROBABILITY),
    "--threads": opt(int, None, "threads", **AT_LEAST_ONE, maximum=1024),
}


def main() -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True,
                        help="h5-annotation data directory (cameras.h5 + S<s>/MyPoses/3D_positions), or 'synthetic'")
    parser.add_argument("--subjects", type=int, nargs="+", default=[1, 5, 6, 7, 8])
    parser.add_argument("--stride", type=int, default=10, help="keep frames 0, N, 2N ... of every recording")
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--size", type=int, default=256, help="longer side of the rendered full camera image, px")
    parser.add_argument("--out", required=True, help="output dataset root (images/, annotations/)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the renderer (appearance, occluders)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--occluder-prob", type=float, default=0.3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--synthetic-size", default="default", choices=["default", "tiny"])
    parser.add_argument("--cache-dir", default="cache", help="where the synthetic poses and pose caches live")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for rendering")
    args = parser.parse_args()
    validate(ARGS, {k: getattr(args, k[2:].replace("-", "_")) for k in ARGS}, "render_dataset.py")
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        raise UserError(f"--device {args.device!r}: expected cpu, cuda or cuda:N")
    check_output_dir(args.out, "--out")
    check_output_dir(args.cache_dir, "--cache-dir")

    import torch  # the heavy imports only once the arguments are known to be usable

    from lifting.datasets.h36m import load_h36m
    from lifting.geometry.cameras import load_h36m_cameras
    from lifting.synth.poses import pose_data_dir
    from lifting.synth.writer import write_rendered_dataset

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: cuda not available")
    torch.set_num_threads(args.threads)
    data_dir = pose_data_dir(args.data_dir, args.cache_dir, args.synthetic_size)
    poses = load_h36m(data_dir, args.subjects, stride=args.stride, cameras=args.cameras, cache_dir=args.cache_dir)
    cameras = load_h36m_cameras(data_dir / "cameras.h5")
    from tqdm import tqdm

    with tqdm(total=len(poses), desc="rendering", unit="img") as bar:
        count = write_rendered_dataset(args.out, poses, image_size=args.size, stride=1, seed=args.seed,
                                       cameras=cameras, batch_size=args.batch_size, device=args.device,
                                       occluder_prob=args.occluder_prob, progress=bar.update)
    print(f"wrote {count} images and annotations for subjects {args.subjects} to {args.out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
