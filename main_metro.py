"""Train, evaluate and run the MeTRo/MeTRAbs image estimator (RGB person crop -> metric 3D pose).

    python main_metro.py --opt opts/metro_tiny.yaml                      # CPU: 128 px, ResNet-18
    python main_metro.py --opt opts/metro_r50.yaml                       # GPU: 256 px, ResNet-50
    torchrun --nproc_per_node=2 main_metro.py --opt opts/metro_r50.yaml  # DistributedDataParallel
    python main_metro.py --opt opts/metro_tiny.yaml --resume             # continue the run in out_dir
    python main_metro.py --opt opts/metro_tiny.yaml --set load=RUN_DIR --predict DATASET_DIR --out preds.npz
"""

from lifting.config import ArgumentParser, add_config_args, load_config, opt, validate
from lifting.errors import UserError, run_cli
from lifting.fileio import check_output_dir, check_output_file
from lifting.options.common import SUBJECT_LIST
from lifting.options.metro import SCHEMA

PREDICT_ARGS = {"--subjects": opt(list, None, "subjects to predict", **SUBJECT_LIST)}


def main() -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--predict", metavar="DATASET_DIR", default=None,
                        help="write predictions for every annotated person of a COCO-layout dataset (needs load=RUN_DIR)")
    parser.add_argument("--subjects", type=int, nargs="+", default=None,
                        help="subjects to predict (default: all with annotations in DATASET_DIR)")
    parser.add_argument("--out", metavar="FILE.npz", default=None, help="predictions file for --predict")
    args = parser.parse_args()
    cfg = load_config(SCHEMA, args.opt, args.set)

    if args.predict is None and (args.out is not None or args.subjects is not None):
        raise UserError("--out and --subjects go with --predict DATASET_DIR (training writes into out_dir)")
    if args.predict is not None:
        if cfg["load"] is None or args.out is None:
            raise UserError("--predict needs --set load=RUN_DIR (a trained run or checkpoint) and --out FILE.npz")
        if args.subjects is not None:
            validate(PREDICT_ARGS, {"--subjects": args.subjects}, "main_metro.py")
        check_output_file(args.out, "--out")
        from lifting.engine.state import select_device
        from lifting.inference import load_model, predict_dataset

        model = load_model(cfg["load"], cfg["test_output_stride"], select_device(cfg["device"]))
        n = predict_dataset(model, args.predict, args.out, subjects=args.subjects, batch_size=cfg["eval_batch_size"],
                            flip_tta=cfg["flip_tta"], mix=cfg["mix_3d_inside_fov"], ridge=cfg["ridge"])
        print(f"{args.out}: predictions for {n} persons (joints2d_px image px, joints3d_cam camera mm, h36m_17)")
        return 0

    check_output_dir(cfg["cache_dir"], "cache_dir")  # out_dir: checked by the training loop before any work
    from lifting.tasks import run_task

    res = run_task("metro", cfg, resume=args.resume)
    if res:
        print(f"{cfg['out_dir']}/results.json: MPJPE {res['mpjpe']:.1f} mm (mean pose {res['mean_pose_mpjpe']:.1f}), "
              f"PA-MPJPE {res['pa_mpjpe']:.1f} mm, truncated crops {res['mpjpe_truncated_all']:.1f} mm all joints / "
              f"{res['mpjpe_truncated_in_crop']:.1f} mm in crop, MRPE {res['mrpe']:.1f} mm "
              f"({res['num_test_crops']} test crops)")
    return 0


if __name__ == "__main__":
    run_cli(main)
