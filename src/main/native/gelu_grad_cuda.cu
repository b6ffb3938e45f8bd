// The CUDA form of ai.onnxlora:GeluGrad (kernels.cc): dX = alpha * dY * (Phi(x) + x*phi(x)), one pass,
// launched on the session's compute stream so ORT's CUDA graphs capture it with the rest of the step.
#include <cuda_runtime.h>
#include <stdint.h>

namespace {
__global__ void gelu_grad(const float* __restrict__ dy, const float* __restrict__ x, float* __restrict__ dx,
                          int64_t n, float alpha) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float v = x[i];
    float density = 0.3989422804014327f * expf(-0.5f * v * v);
    dx[i] = alpha * dy[i] * (normcdff(v) + v * density);
  }
}
}  // namespace

extern "C" void onnxlora_gelu_grad_cuda(const float* dy, const float* x, float* dx, int64_t n, float alpha,
                                        void* stream) {
  const int threads = 256;
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > 65535 * 8) blocks = 65535 * 8;
  gelu_grad<<<(unsigned)blocks, threads, 0, static_cast<cudaStream_t>(stream)>>>(dy, x, dx, n, alpha);
}
