// onnx-lora's kernel library: fused backward ops that stock ONNX Runtime has only in its training build,
// registered with a session through SessionOptions.registerCustomOpLibrary (ORT's RegisterCustomOps entry).
//
// ai.onnxlora:GeluGrad(dY, X) -> dX = alpha * dY * GELU'(X), GELU'(x) = Phi(x) + x*phi(x) (the exact, erf GELU).
// One pass over two FFN-wide inputs instead of the nine elementwise passes the stock-op backward takes.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <climits>
#include <mutex>

#include "ort_abi.h"

namespace {

OrtApiTable g_api = nullptr;

template <typename Fn>
Fn api(int index) {
  return reinterpret_cast<Fn>(g_api[index]);
}

OrtStatus* status(const char* message) {
  return api<OrtStatus* (*)(int, const char*)>(ort_abi::CreateStatus)(ORT_ABI_RUNTIME_EXCEPTION, message);
}

// Fails the op with ORT's own message when an API call fails.
#define ORT_TRY(call)                  \
  do {                                 \
    OrtStatus* s_ = (call);            \
    if (s_ != nullptr) return s_;      \
  } while (0)

struct GeluGradKernel {
  float alpha;
};

struct Tensors {
  const float* dy;
  const float* x;
  float* dx;
  int64_t n;
};

// dY, X and a dX of X's shape. dY must have X's element count (the compiler emits them of one shape).
OrtStatus* bind(OrtKernelContext* ctx, Tensors* t) {
  const OrtValue* dy = nullptr;
  const OrtValue* x = nullptr;
  using GetInput = OrtStatus* (*)(const OrtKernelContext*, size_t, const OrtValue**);
  ORT_TRY(api<GetInput>(ort_abi::KernelContext_GetInput)(ctx, 0, &dy));
  ORT_TRY(api<GetInput>(ort_abi::KernelContext_GetInput)(ctx, 1, &x));
  using TypeShape = OrtStatus* (*)(const OrtValue*, OrtTensorTypeAndShapeInfo**);
  using Release = void (*)(OrtTensorTypeAndShapeInfo*);
  using Count = OrtStatus* (*)(const OrtTensorTypeAndShapeInfo*, size_t*);
  using Dims = OrtStatus* (*)(const OrtTensorTypeAndShapeInfo*, int64_t*, size_t);
  OrtTensorTypeAndShapeInfo* xi = nullptr;
  OrtTensorTypeAndShapeInfo* gi = nullptr;
  ORT_TRY(api<TypeShape>(ort_abi::GetTensorTypeAndShape)(x, &xi));
  size_t rank = 0, n = 0, gn = 0;
  int64_t dims[16];
  OrtStatus* s = api<Count>(ort_abi::GetDimensionsCount)(xi, &rank);
  if (s == nullptr && rank > 16) s = status("ai.onnxlora:GeluGrad: X has more than 16 dims");
  if (s == nullptr) s = api<Dims>(ort_abi::GetDimensions)(xi, dims, rank);
  if (s == nullptr) s = api<Count>(ort_abi::GetTensorShapeElementCount)(xi, &n);
  api<Release>(ort_abi::ReleaseTensorTypeAndShapeInfo)(xi);
  if (s != nullptr) return s;
  ORT_TRY(api<TypeShape>(ort_abi::GetTensorTypeAndShape)(dy, &gi));
  s = api<Count>(ort_abi::GetTensorShapeElementCount)(gi, &gn);
  api<Release>(ort_abi::ReleaseTensorTypeAndShapeInfo)(gi);
  if (s != nullptr) return s;
  if (gn != n) return status("ai.onnxlora:GeluGrad: dY and X differ in element count");
  OrtValue* dx = nullptr;
  using GetOutput = OrtStatus* (*)(OrtKernelContext*, size_t, const int64_t*, size_t, OrtValue**);
  ORT_TRY(api<GetOutput>(ort_abi::KernelContext_GetOutput)(ctx, 0, dims, rank, &dx));
  using Data = OrtStatus* (*)(const OrtValue*, void**);
  void* p = nullptr;
  ORT_TRY(api<Data>(ort_abi::GetTensorMutableData)(dy, &p));
  t->dy = static_cast<const float*>(p);
  ORT_TRY(api<Data>(ort_abi::GetTensorMutableData)(x, &p));
  t->x = static_cast<const float*>(p);
  ORT_TRY(api<Data>(ort_abi::GetTensorMutableData)(dx, &p));
  t->dx = static_cast<float*>(p);
  t->n = static_cast<int64_t>(n);
  return nullptr;
}

// ---- CPU ------------------------------------------------------------------------------------------------
// e^x for x <= 0, written without libm so the loop vectorizes: 2^k * e^r with |r| <= ln2/2 and a degree-7
// Taylor polynomial (truncation 5e-9 relative); below -87 it is e^-87, which callers only ever multiply by
// numbers below 1e-30.
inline float exp_nonpositive(float x) {
  const float log2e = 1.44269504088896341f;
  const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  const float round = 12582912.0f;  // 1.5 * 2^23: adding and taking it away rounds to the nearest integer
  x = x < -87.0f ? -87.0f : x;
  float k = (x * log2e + round) - round;
  float r = x - k * ln2_hi - k * ln2_lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// 2*GELU'(x) = (1 + erf(u)) + (2/sqrt(pi)) u e^(-u^2), u = x/sqrt(2). erfc(|u|) by the Chebyshev-fitted
// t*exp(-z^2 + P(t)) form (fractional error < 1.2e-7 everywhere), so 1 + erf(u) keeps its relative accuracy
// in the negative tail, where it is erfc(|u|) itself.
inline float twice_gelu_derivative(float x) {
  float u = x * 0.70710678118654752f;
  float z = fabsf(u);
  float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  float z2 = z * z;
  float erfc = t * exp_nonpositive(p - z2);
  float one_plus_erf = u >= 0.0f ? 2.0f - erfc : erfc;
  return one_plus_erf + 1.12837916709551257f * u * exp_nonpositive(-z2);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "arch=haswell", "default")))
#endif
void gelu_grad_range(const float* dy, const float* x, float* dx, int64_t begin, int64_t end, float half_alpha) {
  for (int64_t i = begin; i < end; i++) {
    dx[i] = half_alpha * dy[i] * twice_gelu_derivative(x[i]);
  }
}

constexpr int64_t kChunk = 16384;

struct CpuWork {
  Tensors t;
  float half_alpha;
};

void cpu_chunk(void* data, size_t chunk) {
  const CpuWork* w = static_cast<const CpuWork*>(data);
  int64_t begin = static_cast<int64_t>(chunk) * kChunk;
  int64_t end = begin + kChunk < w->t.n ? begin + kChunk : w->t.n;
  gelu_grad_range(w->t.dy, w->t.x, w->t.dx, begin, end, w->half_alpha);
}

OrtStatus* cpu_compute(void* kernel, OrtKernelContext* ctx) {
  CpuWork w;
  ORT_TRY(bind(ctx, &w.t));
  w.half_alpha = 0.5f * static_cast<GeluGradKernel*>(kernel)->alpha;
  size_t chunks = static_cast<size_t>((w.t.n + kChunk - 1) / kChunk);
  if (chunks <= 1) {
    gelu_grad_range(w.t.dy, w.t.x, w.t.dx, 0, w.t.n, w.half_alpha);
    return nullptr;
  }
  using ParallelFor = OrtStatus* (*)(const OrtKernelContext*, void (*)(void*, size_t), size_t, size_t, void*);
  return api<ParallelFor>(ort_abi::KernelContext_ParallelFor)(ctx, cpu_chunk, chunks, 0, &w);
}

#ifdef ONNXLORA_CUDA
OrtStatus* cuda_compute(void* kernel, OrtKernelContext* ctx) {
  Tensors t;
  ORT_TRY(bind(ctx, &t));
  void* stream = nullptr;
  using Stream = OrtStatus* (*)(const OrtKernelContext*, void**);
  ORT_TRY(api<Stream>(ort_abi::KernelContext_GetGPUComputeStream)(ctx, &stream));
  if (t.n > 0) onnxlora_gelu_grad_cuda(t.dy, t.x, t.dx, t.n, static_cast<GeluGradKernel*>(kernel)->alpha, stream);
  return nullptr;
}
#endif

// ---- the op's description, shared by both providers ------------------------------------------------------
struct GeluGradOp {
  OrtCustomOp base;  // first, so ORT's OrtCustomOp* is this op
  const char* provider;
};

OrtStatus* create_kernel(const OrtCustomOp*, OrtApiTable, const OrtKernelInfo* info, void** out) {
  using Attr = OrtStatus* (*)(const OrtKernelInfo*, const char*, float*);
  float alpha = 1.0f;
  OrtStatus* s = api<Attr>(ort_abi::KernelInfoGetAttribute_float)(info, "alpha", &alpha);
  if (s != nullptr) {  // absent: the default
    api<void (*)(OrtStatus*)>(ort_abi::ReleaseStatus)(s);
    alpha = 1.0f;
  }
  *out = new GeluGradKernel{alpha};
  return nullptr;
}

void* create_kernel_v1(const OrtCustomOp* op, OrtApiTable a, const OrtKernelInfo* info) {
  void* k = nullptr;
  OrtStatus* s = create_kernel(op, a, info, &k);
  if (s != nullptr) api<void (*)(OrtStatus*)>(ort_abi::ReleaseStatus)(s);
  return k;
}

void destroy_kernel(void* k) { delete static_cast<GeluGradKernel*>(k); }
const char* name(const OrtCustomOp*) { return "GeluGrad"; }
const char* provider(const OrtCustomOp* op) { return reinterpret_cast<const GeluGradOp*>(op)->provider; }
int float_type(const OrtCustomOp*, size_t) { return ONNX_TENSOR_FLOAT; }
size_t two(const OrtCustomOp*) { return 2; }
size_t one(const OrtCustomOp*) { return 1; }
int required(const OrtCustomOp*, size_t) { return IO_REQUIRED; }
int default_memory(const OrtCustomOp*, size_t) { return MEM_TYPE_DEFAULT; }
int arity_one(const OrtCustomOp*) { return 1; }
int not_homogeneous(const OrtCustomOp*) { return 0; }
int first_opset(const OrtCustomOp*) { return 1; }
int last_opset(const OrtCustomOp*) { return INT_MAX; }
size_t no_pairs(int** in, int** out) {
  *in = nullptr;
  *out = nullptr;
  return 0;
}
void release_pairs(int*, int*) {}

GeluGradOp make_op(const char* ep, OrtStatus* (*compute)(void*, OrtKernelContext*)) {
  GeluGradOp op;
  memset(&op, 0, sizeof op);
  OrtCustomOp& b = op.base;
  b.version = 18;
  b.CreateKernel = create_kernel_v1;
  b.GetName = name;
  b.GetExecutionProviderType = provider;
  b.GetInputType = float_type;
  b.GetInputTypeCount = two;
  b.GetOutputType = float_type;
  b.GetOutputTypeCount = one;
  b.KernelCompute = nullptr;  // KernelComputeV2 is used: ORT calls it whenever it is set
  b.KernelDestroy = destroy_kernel;
  b.GetInputCharacteristic = required;
  b.GetOutputCharacteristic = required;
  b.GetInputMemoryType = default_memory;
  b.GetVariadicInputMinArity = arity_one;
  b.GetVariadicInputHomogeneity = not_homogeneous;
  b.GetVariadicOutputMinArity = arity_one;
  b.GetVariadicOutputHomogeneity = not_homogeneous;
  b.CreateKernelV2 = create_kernel;
  b.KernelComputeV2 = compute;
  b.InferOutputShapeFn = nullptr;
  b.GetStartVersion = first_opset;
  b.GetEndVersion = last_opset;
  b.GetMayInplace = no_pairs;
  b.ReleaseMayInplace = release_pairs;
  b.GetAliasMap = no_pairs;
  b.ReleaseAliasMap = release_pairs;
  op.provider = ep;
  return op;
}

GeluGradOp g_cpu_op;
#ifdef ONNXLORA_CUDA
GeluGradOp g_cuda_op;
#endif
OrtCustomOpDomain* g_domain = nullptr;
OrtStatus* g_domain_error = nullptr;
std::once_flag g_once;

// One domain for the process: ORT needs it alive as long as any session that registered it.
void make_domain() {
  using Create = OrtStatus* (*)(const char*, OrtCustomOpDomain**);
  using Add = OrtStatus* (*)(OrtCustomOpDomain*, const OrtCustomOp*);
  g_cpu_op = make_op("CPUExecutionProvider", cpu_compute);
  g_domain_error = api<Create>(ort_abi::CreateCustomOpDomain)("ai.onnxlora", &g_domain);
  if (g_domain_error == nullptr) g_domain_error = api<Add>(ort_abi::CustomOpDomain_Add)(g_domain, &g_cpu_op.base);
#ifdef ONNXLORA_CUDA
  g_cuda_op = make_op("CUDAExecutionProvider", cuda_compute);
  if (g_domain_error == nullptr) g_domain_error = api<Add>(ort_abi::CustomOpDomain_Add)(g_domain, &g_cuda_op.base);
#endif
}

}  // namespace

extern "C" __attribute__((visibility("default"))) OrtStatus* RegisterCustomOps(OrtSessionOptions* options,
                                                                               const OrtApiBase* base) {
  if (g_api == nullptr) {
    g_api = base->GetApi(ort_abi::Version);
    if (g_api == nullptr) return nullptr;  // cannot even make a status: an ORT older than 1.17
    // The table positions were counted from ORT's header; a build string where one is expected says the
    // count is right around the custom-op entries.
    const char* info = api<const char* (*)()>(ort_abi::GetBuildInfoString)();
    if (info == nullptr || strncmp(info, "ORT Build Info", 14) != 0) {
      OrtApiTable a = g_api;
      g_api = nullptr;
      return reinterpret_cast<OrtStatus* (*)(int, const char*)>(a[ort_abi::CreateStatus])(
          ORT_ABI_FAIL, "onnx-lora kernels: this ONNX Runtime's C API table is not laid out as expected");
    }
  }
  std::call_once(g_once, make_domain);
  if (g_domain_error != nullptr) return status("onnx-lora kernels: cannot create the ai.onnxlora domain");
  using AddDomain = OrtStatus* (*)(OrtSessionOptions*, OrtCustomOpDomain*);
  return api<AddDomain>(ort_abi::AddCustomOpDomain)(options, g_domain);
}
