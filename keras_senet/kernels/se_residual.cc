// The tail of a squeeze-and-excitation residual block as one TensorFlow CPU op (keras_senet/fused_se.py):
//
//   out = relu(y * sigmoid(relu(mean_hw(y) @ w1 + b1) @ w2 + b2) + shortcut)
//
// y, shortcut: (N, H, W, C) float32; w1: (C, R); b1: (R); w2: (R, C); b2: (C). TensorFlow runs these as eight
// ops, three of them passes over the block's output (the gate Mul, the residual AddV2, the Relu), each
// dispatched on its own; neither Grappler's remapper nor oneDNN fuses a per-channel multiply before a
// residual add. Here: one pass reads y for the mean, the two small matrix products run in Eigen, and one
// pass reads y and shortcut and writes the output (in y's buffer when TensorFlow can forward it).
#include <algorithm>
#include <cmath>
#include <vector>

#include "Eigen/Core"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

namespace {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Row = Eigen::Matrix<float, 1, Eigen::Dynamic>;

class SqueezeExciteResidualOp : public OpKernel {
 public:
  explicit SqueezeExciteResidualOp(OpKernelConstruction* context) : OpKernel(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& y = context->input(0);
    const Tensor& shortcut = context->input(1);
    const Tensor& w1 = context->input(2);
    const Tensor& b1 = context->input(3);
    const Tensor& w2 = context->input(4);
    const Tensor& b2 = context->input(5);
    OP_REQUIRES(context, y.dims() == 4 && shortcut.shape() == y.shape(),
                tensorflow::errors::InvalidArgument("y and shortcut must have one (N, H, W, C) shape; got ",
                                                    y.shape().DebugString(), " and ",
                                                    shortcut.shape().DebugString()));
    const int64_t images = y.dim_size(0), pixels = y.dim_size(1) * y.dim_size(2), channels = y.dim_size(3);
    OP_REQUIRES(context, w1.dims() == 2 && w1.dim_size(0) == channels && w2.dims() == 2 &&
                             w2.dim_size(0) == w1.dim_size(1) && w2.dim_size(1) == channels &&
                             b1.NumElements() == w1.dim_size(1) && b2.NumElements() == channels,
                tensorflow::errors::InvalidArgument("w1 (C, R), b1 (R), w2 (R, C), b2 (C) with C = ", channels));
    const int64_t reduced = w1.dim_size(1);
    Tensor* output = nullptr;
    if (images * pixels * channels == 0) {
      OP_REQUIRES_OK(context, context->allocate_output(0, y.shape(), &output));
      return;
    }
    const float* y_data = y.flat<float>().data();
    auto* pool = context->device()->tensorflow_cpu_worker_threads();

    // Squeeze: the rows of each image split into chunks summed in parallel, then the chunks added; about 4 jobs
    // a thread in all, so that the partial sums stay small beside y.
    const int64_t wanted = (4 * pool->num_threads + images - 1) / images;
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(pixels, wanted));
    std::vector<float> partial(images * chunks * channels, 0.0f);
    auto sum_chunks = [&](int64_t begin, int64_t end) {
      for (int64_t job = begin; job < end; ++job) {
        const int64_t image = job / chunks, chunk = job % chunks;
        float* sum = partial.data() + job * channels;
        for (int64_t pixel = chunk * pixels / chunks; pixel < (chunk + 1) * pixels / chunks; ++pixel) {
          const float* row = y_data + (image * pixels + pixel) * channels;
          for (int64_t c = 0; c < channels; ++c) sum[c] += row[c];
        }
      }
    };
    tensorflow::Shard(pool->num_threads, pool->workers, images * chunks, pixels / chunks * channels, sum_chunks);
    Matrix mean = Matrix::Zero(images, channels);
    for (int64_t image = 0; image < images; ++image) {
      for (int64_t chunk = 0; chunk < chunks; ++chunk) {
        mean.row(image) += Eigen::Map<const Row>(partial.data() + (image * chunks + chunk) * channels, channels);
      }
    }
    mean /= static_cast<float>(pixels);

    // Excitation: two small matrix products.
    Eigen::Map<const Matrix> w1_matrix(w1.flat<float>().data(), channels, reduced);
    Eigen::Map<const Matrix> w2_matrix(w2.flat<float>().data(), reduced, channels);
    Eigen::Map<const Row> b1_row(b1.flat<float>().data(), reduced);
    Eigen::Map<const Row> b2_row(b2.flat<float>().data(), channels);
    Matrix hidden = ((mean * w1_matrix).rowwise() + b1_row).cwiseMax(0.0f);
    Matrix logits = (hidden * w2_matrix).rowwise() + b2_row;
    Matrix gate = (1.0f / (1.0f + (-logits.array()).exp())).matrix();

    // Scale, residual add, ReLU: one pass.
    OP_REQUIRES_OK(context, context->forward_input_or_allocate_output({0, 1}, 0, y.shape(), &output));
    const float* shortcut_data = shortcut.flat<float>().data();
    const float* gate_data = gate.data();
    float* out = output->flat<float>().data();
    auto scale_add_relu = [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const float* g = gate_data + (row / pixels) * channels;
        const float* a = y_data + row * channels;
        const float* b = shortcut_data + row * channels;
        float* o = out + row * channels;
        for (int64_t c = 0; c < channels; ++c) o[c] = std::max(a[c] * g[c] + b[c], 0.0f);
      }
    };
    tensorflow::Shard(pool->num_threads, pool->workers, images * pixels, 3 * channels, scale_add_relu);
  }
};

}  // namespace

REGISTER_OP("KerasSenetSqueezeExciteResidual")
    .Input("y: float")
    .Input("shortcut: float")
    .Input("w1: float")
    .Input("b1: float")
    .Input("w2: float")
    .Input("b2: float")
    .Output("output: float")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* context) {
      tensorflow::shape_inference::ShapeHandle y, shape;
      TF_RETURN_IF_ERROR(context->WithRank(context->input(0), 4, &y));
      TF_RETURN_IF_ERROR(context->Merge(y, context->input(1), &shape));
      context->set_output(0, shape);
      return absl::OkStatus();
    });

REGISTER_KERNEL_BUILDER(Name("KerasSenetSqueezeExciteResidual").Device(tensorflow::DEVICE_CPU),
                        SqueezeExciteResidualOp);
