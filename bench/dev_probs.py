"""Write a model's dev-split probabilities to a .npz, for offline post-processing studies.

Inference is the costly part of an evaluation. With the probabilities saved (float32,
since useful thresholds sit above 0.9999, beyond float16; 1,000 clips take ~5 MB),
thresholds, minimum-duration rules and per-word false accepts can be studied on a CPU
without the GPU that ran the model.
The dataset's small files (meta.json, the dev word-placement CSV) are copied beside it.

    python bench/dev_probs.py --model pretrained --dataset DATA --out DIR
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="pretrained", help="pretrained, a run ID or a .keras path")
    p.add_argument("--dataset", required=True, help="dataset folder with a dev split")
    p.add_argument("--out", required=True, help="folder for dev_probs.npz and the small files")
    args = p.parse_args(argv)
    from model.detect.evaluate import open_dev_split, predict_clips
    from model.detect.inference import load_keras_model, resolve_model_path
    data = open_dev_split(args.dataset)
    model = load_keras_model(resolve_model_path(args.model, None))
    probs = predict_clips(model, data.x_dev, 32)
    labels = np.asarray(data.y_dev).reshape(data.y_dev.shape[0], -1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "dev_probs.tmp.npz"
    np.savez_compressed(tmp, probs=probs.astype(np.float32), labels=(labels >= 0.5).astype(np.uint8))
    tmp.replace(out / "dev_probs.npz")
    for f in Path(args.dataset).iterdir():
        if f.is_file() and f.suffix in (".json", ".csv") and f.stat().st_size < 20_000_000:
            shutil.copy2(f, out / f.name)
    print(f"wrote {out / 'dev_probs.npz'}: {probs.shape[0]} clips x {probs.shape[1]} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
