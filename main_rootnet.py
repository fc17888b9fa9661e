"""Train, evaluate and run RootNet (RGB person crop + distance prior k -> absolute root position in mm).

    python main_rootnet.py --opt opts/rootnet_tiny.yaml                      # CPU: 128 px, ResNet-18
    python main_rootnet.py --opt opts/rootnet_r50.yaml                       # GPU: 256 px, ResNet-50
    torchrun --nproc_per_node=2 main_rootnet.py --opt opts/rootnet_r50.yaml  # DistributedDataParallel
    python main_rootnet.py --opt opts/rootnet_tiny.yaml --resume             # continue the run in out_dir
    python main_rootnet.py --opt opts/rootnet_tiny.yaml --set load=RUN_DIR --predict DATASET_DIR --out roots.npz
"""

from lifting.config import ArgumentParser, add_config_args, load_config
from lifting.errors import UserError, run_cli
from lifting.options.rootnet import SCHEMA


def main() -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--predict", metavar="DATASET_DIR", default=None,
                        help="write root predictions for every annotated person of a COCO-layout dataset "
                             "(needs load=RUN_DIR)")
    parser.add_argument("--subjects", type=int, nargs="+", default=None,
                        help="subjects to predict (default: all with annotations in DATASET_DIR)")
    parser.add_argument("--out", metavar="FILE.npz", default=None, help="predictions file for --predict")
    args = parser.parse_args()
    cfg = load_config(SCHEMA, args.opt, args.set)

    if args.predict is not None:
        if cfg["load"] is None or args.out is None:
            raise UserError("--predict needs --set load=RUN_DIR (a trained run or checkpoint) and --out FILE.npz")
        from lifting.engine.state import select_device
        from lifting.inference import load_rootnet, predict_roots_dataset

        model = load_rootnet(cfg["load"], select_device(cfg["device"]))
        n = predict_roots_dataset(model, args.predict, args.out, subjects=args.subjects,
                                  batch_size=cfg["eval_batch_size"], assumed_focal_px=cfg["assumed_focal_px"])
        frame = "focal-normalised" if cfg["assumed_focal_px"] else "camera"
        print(f"{args.out}: roots of {n} persons (root_cam {frame} mm, root2d_px image px, h36m_17 pelvis)")
        return 0

    from lifting.tasks import run_task

    res = run_task("rootnet", cfg, resume=args.resume)
    if res:
        print(f"{cfg['out_dir']}/results.json: MRPE {res['mrpe']:.1f} mm (x {res['mrpe_x']:.1f}, y {res['mrpe_y']:.1f}, "
              f"z {res['mrpe_z']:.1f}), k prior alone {res['prior_mrpe']:.1f} mm, AP_root@25cm "
              f"{100 * res['ap_root25']:.1f} %, truncated crops {res['mrpe_truncated']:.1f} mm "
              f"({res['num_test_crops']} test crops)")
    return 0


if __name__ == "__main__":
    run_cli(main)
