"""What the lifting tasks share: the skeleton loss's reference limb lengths."""

from __future__ import annotations

import numpy as np

from lifting.errors import UserError
from lifting.geometry.skeletons import Skeleton


def reference_limbs(limb_type: str, skeleton: Skeleton, avg_human36: np.ndarray | None) -> np.ndarray | None:
    """Reference limb lengths (L,) mm of the skeleton loss: the Human3.6M training averages, the constant
    average-person proportions, or None ('gt': per-sample lengths from the batch)."""
    if limb_type == "avg_human36":
        if avg_human36 is None or len(avg_human36) != len(skeleton.limbs):
            raise UserError("limb_type: 'avg_human36' needs the Human3.6M average limb lengths of this joint set "
                            f"({skeleton.name}); for LSP set `load` to an H36M lsp_14 run, or use avg_person")
        return np.asarray(avg_human36, dtype=np.float64)
    if limb_type == "avg_person":
        if skeleton.avg_person_limb_lengths is None:
            raise UserError(f"limb_type: 'avg_person' has no reference proportions for {skeleton.name}; "
                            "use avg_human36")
        return np.asarray(skeleton.avg_person_limb_lengths, dtype=np.float64)
    return None
