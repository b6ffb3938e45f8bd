// The CUDA forms of the ai.onnxlora ops (kernels.cc). GeluGrad: dX = alpha * dY * (Phi(x) + x*phi(x)), one pass,
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

// ai.onnxlora:LayerNormInputGrad: one block per row, the row's two sums by warp shuffles, then the row written.
namespace {
__device__ float block_sum(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? shared[threadIdx.x] : 0.0f;
  if (warp == 0) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  float total = shared[0];
  __syncthreads();
  return total;
}

__global__ void ln_input_grad(const float* __restrict__ dy, const float* __restrict__ x,
                              const float* __restrict__ gamma, const float* __restrict__ mean,
                              const float* __restrict__ inv_std, float* __restrict__ dx, int64_t d, float inv_n) {
  __shared__ float shared[32];
  int64_t row = blockIdx.x;
  const float* g = dy + row * d;
  const float* xr = x + row * d;
  float m = mean[row], s = inv_std[row];
  float s1 = 0.0f, s2 = 0.0f;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    float gh = g[j] * gamma[j];
    s1 += gh;
    s2 += gh * ((xr[j] - m) * s);
  }
  s1 = block_sum(s1, shared) * inv_n;
  s2 = block_sum(s2, shared) * inv_n;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    float gh = g[j] * gamma[j];
    float xh = (xr[j] - m) * s;
    dx[row * d + j] = s * (gh - (s1 + xh * s2));
  }
}
}  // namespace

extern "C" void onnxlora_ln_input_grad_cuda(const float* dy, const float* x, const float* gamma, const float* mean,
                                            const float* inv_std, float* dx, int64_t rows, int64_t d, float inv_n,
                                            void* stream) {
  int threads = d >= 1024 ? 1024 : d >= 512 ? 512 : 256;
  ln_input_grad<<<(unsigned)rows, threads, 0, static_cast<cudaStream_t>(stream)>>>(dy, x, gamma, mean, inv_std, dx, d,
                                                                                   inv_n);
}
