#!/bin/sh
# One GPU session: the main model and a small speed variant, side by side.
# Usage (on the device machine): sh train/gpu_run.sh MINUTES OUTDIR [INIT]
set -u
minutes=$1; out=$2; init=${3:-}
export PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
initarg=""; [ -n "$init" ] && initarg="--init $init"
python3 train/train.py --pack .pack/train.npz --run /tmp/run-main --minutes "$minutes" \
    --batch 16 --lr 4e-4 --ckpt-minutes 1.5 --eval-minutes 2 $initarg \
    --snapshot "$out/main.pt" > "$out/main.log" 2>&1 &
python3 train/train.py --pack .pack/train.npz --run /tmp/run-small --minutes "$minutes" \
    --batch 8 --lr 4e-4 --ckpt-minutes 1.5 --eval-minutes 2 \
    --config '{"analysis_channels":64,"synthesis_channels":64,"latent_channels":96,"model_dim":96,"layers":3}' \
    --snapshot "$out/small.pt" > "$out/small.log" 2>&1 &
wait
tail -n 4 "$out/main.log" "$out/small.log"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
