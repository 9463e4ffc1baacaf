#!/usr/bin/env python3
"""Export trained weights to the shipped format (fp16 safetensors + metadata).

    python3 train/export.py runs/main/model.pt models/m2t-v1.safetensors --name m2t-v1

The training facts (steps, batch, crop, time, device, data, final evaluation)
come from the checkpoint's state and go into the `__metadata__` header.
"""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from m2t import model as M  # noqa: E402
from m2t import weights as W  # noqa: E402
import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="model.pt or ckpt.pt written by train.py")
    ap.add_argument("out", help="destination .safetensors")
    ap.add_argument("--name", required=True, help="model name shown by m2t info and m2td")
    ap.add_argument("--dtype", default="F16", choices=["F16", "F32"])
    ap.add_argument("--quality-points",
                    help="comma-separated position of each quality level on the trained rate "
                         "axis (0 .. Q-1 = the trained lambdas; below 0 extrapolates), "
                         "see model.set_quality_points")
    args = ap.parse_args()

    ck = torch.load(args.checkpoint, map_location="cpu")
    codec = M.Codec(ck["config"])
    codec.load_state_dict(ck["model"])
    st = ck.get("state", {})
    points = None
    if args.quality_points:
        points = [float(v) for v in args.quality_points.split(",")]
        M.set_quality_points(codec, points)
    facts = {
        "name": args.name,
        "date": datetime.date.today().isoformat(),
        "train_steps": st.get("step", 0),
        "train_seconds": round(st.get("seconds", 0.0)),
        "train_device": st.get("device", "?"),
        "train_batch": st.get("batch", "?"),
        "train_crop": st.get("crop", "?"),
        "train_data": st.get("data", "?"),
        "train_init": st.get("init", "scratch"),
        "train_eval": json.dumps(st.get("final_eval", {})),
    }
    if "lambdas" in st:
        facts["lambdas"] = json.dumps(st["lambdas"])
    facts["quality_points"] = json.dumps(points or list(range(M.QUALITIES)))
    W.export_safetensors(codec, args.out, facts, args.dtype)
    print("wrote %s (%.1f MiB)" % (args.out, os.path.getsize(args.out) / 2**20))


if __name__ == "__main__":
    main()
