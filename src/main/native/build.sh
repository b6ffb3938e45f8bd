#!/usr/bin/env bash
# Builds onnx-lora's kernel library (kernels.cc) for ONNX Runtime's CPU provider, and with --cuda a second one
# that also holds the CUDA kernels. Usage: build.sh OUT_DIR [--cuda]. Without a C++ compiler it says so and
# builds nothing: sessions then run the stock-op backward, as before the library existed.
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUT_DIR [--cuda]}"
mkdir -p "$out"
CXX="${CXX:-g++}"
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "onnx-lora kernels: no C++ compiler ($CXX), not built; training uses the stock-op backward" >&2
  exit 0
fi
flags=(-O3 -fPIC -shared -std=c++17 -static-libstdc++ -static-libgcc -fvisibility=hidden -fno-math-errno -fno-trapping-math -Wall -Wextra -Wno-unused-parameter)
"$CXX" "${flags[@]}" -o "$out/libonnxlora_kernels.so.tmp" "$src/kernels.cc"
mv "$out/libonnxlora_kernels.so.tmp" "$out/libonnxlora_kernels.so"
if [ "${2:-}" = "--cuda" ]; then
  NVCC="${NVCC:-nvcc}"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # sm_80 and sm_90 code plus compute_90 PTX for newer GPUs; the CUDA runtime linked statically, so the
  # library needs only the driver, whatever CUDA runtime ONNX Runtime itself was built with.
  "$NVCC" -O3 -Xcompiler -fPIC -std=c++17 -cudart static \
    -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
    -c "$src/kernels.cu" -o "$tmp/kernels_cuda.o"
  "$NVCC" -O3 -Xcompiler "-fPIC -fvisibility=hidden -fno-math-errno -fno-trapping-math -static-libstdc++ -static-libgcc" -std=c++17 -DONNXLORA_CUDA -shared -cudart static \
    -o "$out/libonnxlora_kernels_cuda.so.tmp" "$src/kernels.cc" "$tmp/kernels_cuda.o"
  mv "$out/libonnxlora_kernels_cuda.so.tmp" "$out/libonnxlora_kernels_cuda.so"
fi
