"""What SE-ResNet-50's squeeze would cost computed from each block's last 1x1 convolution's input (issue 17).

    python -m benchmarks.squeeze_probe

The squeeze is the spatial mean of the block's last 1x1 convolution (BatchNorm folded: linear), so it equals
that convolution applied to the mean of its input, which has a quarter of the channels:
``mean(x @ W + b) = mean(x) @ W + b``. This times the two forms on SE-ResNet-50's 16 block shapes at batch 16
(2 threads, TensorFlow, per-call minimum of 30) and prints the totals. Not a rewrite the package does: a
probe of what such a rewrite could save against the 1.05 SE-overhead target.
"""

import time

STAGES = [(3, 56, 64, 256), (4, 28, 128, 512), (6, 14, 256, 1024), (3, 7, 512, 2048)]  # blocks, side, width, out
BATCH = 16


def _minimum(function, *args, calls=30):
    function(*args)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function(*args).numpy()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    of_output = tf.function(lambda x: tf.reduce_mean(x, axis=(1, 2)))
    of_input = tf.function(lambda x, w: tf.matmul(tf.reduce_mean(x, axis=(1, 2)), w))
    totals = [0.0, 0.0]
    for blocks, side, width, out in STAGES:
        output = tf.random.normal((BATCH, side, side, out))
        narrow, kernel = tf.random.normal((BATCH, side, side, width)), tf.random.normal((width, out))
        times = [_minimum(of_output, output), _minimum(of_input, narrow, kernel)]
        totals = [total + blocks * t for total, t in zip(totals, times)]
        print(f"{side}x{side}x{out}: mean of the output {times[0] * 1e3:.2f} ms, mean of the input then W "
              f"{times[1] * 1e3:.2f} ms")
    print(f"{sum(s[0] for s in STAGES)} blocks, batch {BATCH}: {totals[0] * 1e3:.1f} ms against "
          f"{totals[1] * 1e3:.1f} ms (saves {(totals[0] - totals[1]) * 1e3:.1f} ms per batch)")


if __name__ == "__main__":
    main()
