// onnx-lora's kernel library: fused backward ops that stock ONNX Runtime has only in its training build,
// registered with a session through SessionOptions.registerCustomOpLibrary (ORT's RegisterCustomOps entry).
//
// ai.onnxlora:GeluGrad(dY, X) -> dX = alpha * dY * GELU'(X), GELU'(x) = Phi(x) + x*phi(x) (the exact, erf GELU).
// One pass over two FFN-wide inputs instead of the nine elementwise passes the stock-op backward takes.
//
// ai.onnxlora:LayerNormInputGrad(dY, X, gamma, mean, inv_std) -> dX, normalised over the last axis:
// with xh = (X - mean)*inv_std and gh = dY*gamma, dX = inv_std*(gh - (sum(gh) + xh*sum(gh*xh))*inv_n) row by row,
// inv_n an attribute (1/N, as the compiler emitted it). Two sweeps of a row instead of eleven tensor-wide ops.
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

// A kernel instance: the op's one float attribute (GeluGrad's alpha, LayerNormInputGrad's inv_n).
struct Kernel {
  float attr;
};

struct Tensors {
  const float* dy;
  const float* x;
  float* dx;
  int64_t n;
};

// Input i's data and element count, and its dims where rank is asked for.
OrtStatus* input_data(OrtKernelContext* ctx, size_t i, const float** data, size_t* count, size_t* rank,
                      int64_t* dims) {
  const OrtValue* v = nullptr;
  using GetInput = OrtStatus* (*)(const OrtKernelContext*, size_t, const OrtValue**);
  using TypeShape = OrtStatus* (*)(const OrtValue*, OrtTensorTypeAndShapeInfo**);
  using Release = void (*)(OrtTensorTypeAndShapeInfo*);
  using Count = OrtStatus* (*)(const OrtTensorTypeAndShapeInfo*, size_t*);
  using Dims = OrtStatus* (*)(const OrtTensorTypeAndShapeInfo*, int64_t*, size_t);
  using Data = OrtStatus* (*)(const OrtValue*, void**);
  ORT_TRY(api<GetInput>(ort_abi::KernelContext_GetInput)(ctx, i, &v));
  OrtTensorTypeAndShapeInfo* info = nullptr;
  ORT_TRY(api<TypeShape>(ort_abi::GetTensorTypeAndShape)(v, &info));
  OrtStatus* s = api<Count>(ort_abi::GetTensorShapeElementCount)(info, count);
  if (s == nullptr && rank != nullptr) s = api<Count>(ort_abi::GetDimensionsCount)(info, rank);
  if (s == nullptr && rank != nullptr && *rank > 16) s = status("ai.onnxlora: an input has more than 16 dims");
  if (s == nullptr && rank != nullptr) s = api<Dims>(ort_abi::GetDimensions)(info, dims, *rank);
  api<Release>(ort_abi::ReleaseTensorTypeAndShapeInfo)(info);
  if (s != nullptr) return s;
  void* p = nullptr;
  ORT_TRY(api<Data>(ort_abi::GetTensorMutableData)(v, &p));
  *data = static_cast<const float*>(p);
  return nullptr;
}

OrtStatus* output_data(OrtKernelContext* ctx, const int64_t* dims, size_t rank, float** data) {
  OrtValue* out = nullptr;
  using GetOutput = OrtStatus* (*)(OrtKernelContext*, size_t, const int64_t*, size_t, OrtValue**);
  ORT_TRY(api<GetOutput>(ort_abi::KernelContext_GetOutput)(ctx, 0, dims, rank, &out));
  void* p = nullptr;
  ORT_TRY(api<OrtStatus* (*)(const OrtValue*, void**)>(ort_abi::GetTensorMutableData)(out, &p));
  *data = static_cast<float*>(p);
  return nullptr;
}

// dY, X and a dX of X's shape. dY must have X's element count (the compiler emits them of one shape).
OrtStatus* bind(OrtKernelContext* ctx, Tensors* t) {
  size_t n = 0, gn = 0, rank = 0;
  int64_t dims[16];
  ORT_TRY(input_data(ctx, 1, &t->x, &n, &rank, dims));
  ORT_TRY(input_data(ctx, 0, &t->dy, &gn, nullptr, nullptr));
  if (gn != n) return status("ai.onnxlora:GeluGrad: dY and X differ in element count");
  ORT_TRY(output_data(ctx, dims, rank, &t->dx));
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

// fn(data, c) for every chunk c in [0, chunks): on ORT's intra-op pool, or inline when there is one chunk.
OrtStatus* for_each_chunk(OrtKernelContext* ctx, size_t chunks, void (*fn)(void*, size_t), void* data) {
  if (chunks <= 1) {
    for (size_t c = 0; c < chunks; c++) fn(data, c);
    return nullptr;
  }
  using ParallelFor = OrtStatus* (*)(const OrtKernelContext*, void (*)(void*, size_t), size_t, size_t, void*);
  return api<ParallelFor>(ort_abi::KernelContext_ParallelFor)(ctx, fn, chunks, 0, data);
}

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
  w.half_alpha = 0.5f * static_cast<Kernel*>(kernel)->attr;
  return for_each_chunk(ctx, static_cast<size_t>((w.t.n + kChunk - 1) / kChunk), cpu_chunk, &w);
}


// ---- LayerNormInputGrad ----------------------------------------------------------------------------------
struct LnTensors {
  const float* dy;
  const float* x;
  const float* gamma;
  const float* mean;
  const float* inv_std;
  float* dx;
  int64_t rows;
  int64_t d;
};

OrtStatus* bind_ln(OrtKernelContext* ctx, LnTensors* t) {
  size_t n = 0, gn = 0, dn = 0, mn = 0, sn = 0, rank = 0;
  int64_t dims[16];
  ORT_TRY(input_data(ctx, 1, &t->x, &n, &rank, dims));
  ORT_TRY(input_data(ctx, 0, &t->dy, &gn, nullptr, nullptr));
  ORT_TRY(input_data(ctx, 2, &t->gamma, &dn, nullptr, nullptr));
  ORT_TRY(input_data(ctx, 3, &t->mean, &mn, nullptr, nullptr));
  ORT_TRY(input_data(ctx, 4, &t->inv_std, &sn, nullptr, nullptr));
  if (rank == 0 || dims[rank - 1] != static_cast<int64_t>(dn) || gn != n || dn == 0 || n % dn != 0
      || mn != n / dn || sn != n / dn) {
    return status("ai.onnxlora:LayerNormInputGrad: dY and X must have one shape, gamma X's last dim, and mean"
                  " and inv_std one value per row");
  }
  ORT_TRY(output_data(ctx, dims, rank, &t->dx));
  t->d = static_cast<int64_t>(dn);
  t->rows = static_cast<int64_t>(n / dn);
  return nullptr;
}

// The two row sums in 16 float lanes (so the loop vectorizes without reassociation flags), added up in double.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "arch=haswell", "default")))
#endif
void ln_grad_row(const float* dy, const float* x, const float* gamma, float mean, float inv_std, float inv_n,
                 float* dx, int64_t d) {
  float s1[16] = {0}, s2[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= d; j += 16) {
    for (int k = 0; k < 16; k++) {
      float gh = dy[j + k] * gamma[j + k];
      float xh = (x[j + k] - mean) * inv_std;
      s1[k] += gh;
      s2[k] += gh * xh;
    }
  }
  double a = 0, b = 0;
  for (int k = 0; k < 16; k++) {
    a += s1[k];
    b += s2[k];
  }
  for (; j < d; j++) {
    float gh = dy[j] * gamma[j];
    a += gh;
    b += gh * ((x[j] - mean) * inv_std);
  }
  float sum_gh = static_cast<float>(a) * inv_n, sum_ghxh = static_cast<float>(b) * inv_n;
  for (int64_t i = 0; i < d; i++) {
    float gh = dy[i] * gamma[i];
    float xh = (x[i] - mean) * inv_std;
    dx[i] = inv_std * (gh - (sum_gh + xh * sum_ghxh));
  }
}

constexpr int64_t kLnRows = 32;

struct LnWork {
  LnTensors t;
  float inv_n;
};

void ln_chunk(void* data, size_t chunk) {
  const LnWork* w = static_cast<const LnWork*>(data);
  const LnTensors& t = w->t;
  int64_t end = (static_cast<int64_t>(chunk) + 1) * kLnRows;
  for (int64_t r = static_cast<int64_t>(chunk) * kLnRows; r < end && r < t.rows; r++) {
    ln_grad_row(t.dy + r * t.d, t.x + r * t.d, t.gamma, t.mean[r], t.inv_std[r], w->inv_n, t.dx + r * t.d, t.d);
  }
}

OrtStatus* ln_cpu_compute(void* kernel, OrtKernelContext* ctx) {
  LnWork w;
  ORT_TRY(bind_ln(ctx, &w.t));
  w.inv_n = static_cast<Kernel*>(kernel)->attr;
  return for_each_chunk(ctx, static_cast<size_t>((w.t.rows + kLnRows - 1) / kLnRows), ln_chunk, &w);
}

#ifdef ONNXLORA_CUDA
OrtStatus* cuda_compute(void* kernel, OrtKernelContext* ctx) {
  Tensors t;
  ORT_TRY(bind(ctx, &t));
  void* stream = nullptr;
  using Stream = OrtStatus* (*)(const OrtKernelContext*, void**);
  ORT_TRY(api<Stream>(ort_abi::KernelContext_GetGPUComputeStream)(ctx, &stream));
  if (t.n > 0) onnxlora_gelu_grad_cuda(t.dy, t.x, t.dx, t.n, static_cast<Kernel*>(kernel)->attr, stream);
  return nullptr;
}

OrtStatus* ln_cuda_compute(void* kernel, OrtKernelContext* ctx) {
  LnTensors t;
  ORT_TRY(bind_ln(ctx, &t));
  void* stream = nullptr;
  using Stream = OrtStatus* (*)(const OrtKernelContext*, void**);
  ORT_TRY(api<Stream>(ort_abi::KernelContext_GetGPUComputeStream)(ctx, &stream));
  if (t.rows > 0) {
    onnxlora_ln_input_grad_cuda(t.dy, t.x, t.gamma, t.mean, t.inv_std, t.dx, t.rows, t.d,
                                static_cast<Kernel*>(kernel)->attr, stream);
  }
  return nullptr;
}
#endif

// ---- the ops' descriptions, shared by both providers -----------------------------------------------------
struct KernelOp {
  OrtCustomOp base;  // first, so ORT's OrtCustomOp* is this op
  const char* provider;
  const char* name;
  size_t inputs;
  const char* attr;  // the op's float attribute
  bool attr_required;
  float attr_default;
};

const KernelOp* self(const OrtCustomOp* op) { return reinterpret_cast<const KernelOp*>(op); }

OrtStatus* create_kernel(const OrtCustomOp* op, OrtApiTable, const OrtKernelInfo* info, void** out) {
  using Attr = OrtStatus* (*)(const OrtKernelInfo*, const char*, float*);
  const KernelOp* k = self(op);
  float value = k->attr_default;
  OrtStatus* s = api<Attr>(ort_abi::KernelInfoGetAttribute_float)(info, k->attr, &value);
  if (s != nullptr) {
    if (k->attr_required) return s;
    api<void (*)(OrtStatus*)>(ort_abi::ReleaseStatus)(s);  // absent: the default
    value = k->attr_default;
  }
  *out = new Kernel{value};
  return nullptr;
}

void* create_kernel_v1(const OrtCustomOp* op, OrtApiTable a, const OrtKernelInfo* info) {
  void* k = nullptr;
  OrtStatus* s = create_kernel(op, a, info, &k);
  if (s != nullptr) api<void (*)(OrtStatus*)>(ort_abi::ReleaseStatus)(s);
  return k;
}

void destroy_kernel(void* k) { delete static_cast<Kernel*>(k); }
const char* name(const OrtCustomOp* op) { return self(op)->name; }
const char* provider(const OrtCustomOp* op) { return self(op)->provider; }
int float_type(const OrtCustomOp*, size_t) { return ONNX_TENSOR_FLOAT; }
size_t input_count(const OrtCustomOp* op) { return self(op)->inputs; }
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

KernelOp make_op(const char* ep, const char* op_name, size_t inputs, const char* attr, bool attr_required,
                 float attr_default, OrtStatus* (*compute)(void*, OrtKernelContext*)) {
  KernelOp op;
  memset(&op, 0, sizeof op);
  OrtCustomOp& b = op.base;
  b.version = 18;
  b.CreateKernel = create_kernel_v1;
  b.GetName = name;
  b.GetExecutionProviderType = provider;
  b.GetInputType = float_type;
  b.GetInputTypeCount = input_count;
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
  op.name = op_name;
  op.inputs = inputs;
  op.attr = attr;
  op.attr_required = attr_required;
  op.attr_default = attr_default;
  return op;
}

constexpr int kOps = 2;
KernelOp g_cpu_ops[kOps];
#ifdef ONNXLORA_CUDA
KernelOp g_cuda_ops[kOps];
#endif
OrtCustomOpDomain* g_domain = nullptr;
OrtStatus* g_domain_error = nullptr;
std::once_flag g_once;

// One domain for the process: ORT needs it alive as long as any session that registered it.
void make_domain() {
  using Create = OrtStatus* (*)(const char*, OrtCustomOpDomain**);
  using Add = OrtStatus* (*)(OrtCustomOpDomain*, const OrtCustomOp*);
  const char* cpu = "CPUExecutionProvider";
  g_cpu_ops[0] = make_op(cpu, "GeluGrad", 2, "alpha", false, 1.0f, cpu_compute);
  g_cpu_ops[1] = make_op(cpu, "LayerNormInputGrad", 5, "inv_n", true, 0.0f, ln_cpu_compute);
  g_domain_error = api<Create>(ort_abi::CreateCustomOpDomain)("ai.onnxlora", &g_domain);
  for (int i = 0; i < kOps && g_domain_error == nullptr; i++) {
    g_domain_error = api<Add>(ort_abi::CustomOpDomain_Add)(g_domain, &g_cpu_ops[i].base);
  }
#ifdef ONNXLORA_CUDA
  const char* cuda = "CUDAExecutionProvider";
  g_cuda_ops[0] = make_op(cuda, "GeluGrad", 2, "alpha", false, 1.0f, cuda_compute);
  g_cuda_ops[1] = make_op(cuda, "LayerNormInputGrad", 5, "inv_n", true, 0.0f, ln_cuda_compute);
  for (int i = 0; i < kOps && g_domain_error == nullptr; i++) {
    g_domain_error = api<Add>(ort_abi::CustomOpDomain_Add)(g_domain, &g_cuda_ops[i].base);
  }
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
