"""Fig. 5 of Ronchi et al.: Human3.6M-trained 14-joint lifters on LSP, fine-tuning on LSP crowd labels.

    python paper_exps/fig_5.py --data-dir DIR --lsp-json relative_depth_lsp_v1.json [--seeds N] [--quick]

Steps: train Sup and Ours on H36M with the 14 LSP joints; evaluate both on the LSP test pairs;
fine-tune Ours on the LSP crowd labels; train Ours on LSP only. The LSP rows need the relative-depth
label file and are skipped without it (the H36M rows still run).
"""

import sys

from lifting.experiments import runner
from lifting.experiments.experiment import Experiment, Row

EXPERIMENT = Experiment("fig_5", __doc__.splitlines()[0], (
    Row("h36m_sup_14", "3D Supervised H36 (14 joints)", "sup"),
    Row("h36m_rel_14", "Ours Relative H36 (14 joints)", "ours"),
    Row("lsp_sup_test", "3D Supervised H36", "lsp", load_from="h36m_sup_14"),
    Row("lsp_rel_test", "Ours Relative H36", "lsp", load_from="h36m_rel_14"),
    Row("lsp_rel_ft", "Ours Relative H36 + LSP FT", "lsp", load_from="h36m_rel_14"),
    Row("lsp_rel_scratch", "Ours Relative LSP only", "lsp"),
))


def main(argv: list[str] | None = None) -> int:
    return runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
