// The slice of ONNX Runtime's C ABI that onnx-lora's kernel library uses, declared here because the Maven
// runtimes ship no headers. ORT only ever appends to its API table, so an entry's position is stable across
// releases; the positions below are the same ones src/main/java22/.../OrtCApi.java calls through, plus the
// custom-op entries. OrtCustomOp's layout is ORT's (fields read up to its `version`).
#pragma once
#include <stddef.h>
#include <stdint.h>

extern "C" {

struct OrtStatus;
struct OrtValue;
struct OrtSessionOptions;
struct OrtCustomOpDomain;
struct OrtKernelInfo;
struct OrtKernelContext;
struct OrtTensorTypeAndShapeInfo;
struct OrtShapeInferContext;

typedef void* const* OrtApiTable;  // the OrtApi struct, read as its array of function pointers

struct OrtApiBase {
  OrtApiTable (*GetApi)(uint32_t version);
  const char* (*GetVersionString)();
};

enum OrtErrorCodeAbi { ORT_ABI_OK = 0, ORT_ABI_FAIL = 1, ORT_ABI_INVALID_ARGUMENT = 2, ORT_ABI_RUNTIME_EXCEPTION = 6 };
enum { ONNX_TENSOR_FLOAT = 1 };
enum { IO_REQUIRED = 0 };
enum { MEM_TYPE_DEFAULT = 0 };

struct OrtCustomOp {
  uint32_t version;
  void* (*CreateKernel)(const OrtCustomOp* op, OrtApiTable api, const OrtKernelInfo* info);
  const char* (*GetName)(const OrtCustomOp* op);
  const char* (*GetExecutionProviderType)(const OrtCustomOp* op);
  int (*GetInputType)(const OrtCustomOp* op, size_t index);
  size_t (*GetInputTypeCount)(const OrtCustomOp* op);
  int (*GetOutputType)(const OrtCustomOp* op, size_t index);
  size_t (*GetOutputTypeCount)(const OrtCustomOp* op);
  void (*KernelCompute)(void* kernel, OrtKernelContext* context);
  void (*KernelDestroy)(void* kernel);
  int (*GetInputCharacteristic)(const OrtCustomOp* op, size_t index);
  int (*GetOutputCharacteristic)(const OrtCustomOp* op, size_t index);
  int (*GetInputMemoryType)(const OrtCustomOp* op, size_t index);
  int (*GetVariadicInputMinArity)(const OrtCustomOp* op);
  int (*GetVariadicInputHomogeneity)(const OrtCustomOp* op);
  int (*GetVariadicOutputMinArity)(const OrtCustomOp* op);
  int (*GetVariadicOutputHomogeneity)(const OrtCustomOp* op);
  OrtStatus* (*CreateKernelV2)(const OrtCustomOp* op, OrtApiTable api, const OrtKernelInfo* info, void** kernel);
  OrtStatus* (*KernelComputeV2)(void* kernel, OrtKernelContext* context);
  OrtStatus* (*InferOutputShapeFn)(const OrtCustomOp* op, OrtShapeInferContext* context);
  int (*GetStartVersion)(const OrtCustomOp* op);
  int (*GetEndVersion)(const OrtCustomOp* op);
  size_t (*GetMayInplace)(int** input_index, int** output_index);
  void (*ReleaseMayInplace)(int* input_index, int* output_index);
  size_t (*GetAliasMap)(int** input_index, int** output_index);
  void (*ReleaseAliasMap)(int* input_index, int* output_index);
};

// Positions in the OrtApi table (0-based).
namespace ort_abi {
constexpr int CreateStatus = 0;
constexpr int GetErrorMessage = 2;
constexpr int CreateCustomOpDomain = 26;
constexpr int CustomOpDomain_Add = 27;
constexpr int AddCustomOpDomain = 28;
constexpr int GetTensorMutableData = 51;
constexpr int GetTensorElementType = 60;
constexpr int GetDimensionsCount = 61;
constexpr int GetDimensions = 62;
constexpr int GetTensorShapeElementCount = 64;
constexpr int GetTensorTypeAndShape = 65;
constexpr int KernelInfoGetAttribute_float = 85;
constexpr int KernelContext_GetInput = 90;
constexpr int KernelContext_GetOutput = 91;
constexpr int ReleaseStatus = 93;
constexpr int ReleaseTensorTypeAndShapeInfo = 99;
constexpr int KernelContext_GetGPUComputeStream = 193;
constexpr int GetBuildInfoString = 254;
constexpr int KernelContext_ParallelFor = 274;
// The API version asked for: the first with KernelContext_ParallelFor (ORT 1.17).
constexpr uint32_t Version = 17;
}  // namespace ort_abi

// The CUDA kernels' launchers (kernels.cu), in the library built with CUDA only.
void onnxlora_gelu_grad_cuda(const float* dy, const float* x, float* dx, int64_t n, float alpha, void* stream);
void onnxlora_ln_input_grad_cuda(const float* dy, const float* x, const float* gamma, const float* mean,
                                 const float* inv_std, float* dx, int64_t rows, int64_t d, float inv_n, void* stream);
}
