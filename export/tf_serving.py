"""Serve a SavedModel export with TF Serving: check the signatures it will expose, print the
`docker run` command and a REST request; with --url, send the request to a running server.

    python export/tf_serving.py MODEL_BASE_DIR image.jpg [--name se50] [--url http://localhost:8501]

MODEL_BASE_DIR holds numbered versions (TF Serving's layout): MODEL_BASE_DIR/1/saved_model.pb.
"""

import argparse
import json
import os
import urllib.request

import numpy as np

from common import load_images, print_predictions


def check_versions(base):
    """The numbered SavedModel versions under `base` (TF Serving serves the highest)."""
    versions = sorted(int(v) for v in os.listdir(base) if v.isdigit()
                      and os.path.exists(os.path.join(base, v, "saved_model.pb")))
    if not versions:
        raise SystemExit(f"{base}: no version folder with a SavedModel (expected {base}/1/saved_model.pb); "
                         "export with --out BASE/1")
    return versions


def signatures(path):
    """signature name -> (input name, dtype, shape) as TF Serving exposes them."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    out = {}
    for name, function in loaded.signatures.items():
        ((key, spec),) = function.structured_input_signature[1].items()
        out[name] = (key, spec.dtype.name, spec.shape.as_list())
    return out


def docker_command(base, name):
    return (f"docker run --rm -p 8501:8501 -v {os.path.abspath(base)}:/models/{name} "
            f"-e MODEL_NAME={name} tensorflow/serving")


def request_body(images, signature):
    return json.dumps({"signature_name": signature, "instances": images.tolist()})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="model base folder with numbered versions")
    parser.add_argument("images", nargs="*")
    parser.add_argument("--name", default=None, help="model name in TF Serving (default: folder name)")
    parser.add_argument("--url", default=None, help="a running server, e.g. http://localhost:8501")
    parser.add_argument("--model", default=None, help="registry NAME[.TAG] whose preprocessing to use")
    args = parser.parse_args(argv)

    name = args.name or os.path.basename(os.path.normpath(args.base))
    version = check_versions(args.base)[-1]
    sigs = signatures(os.path.join(args.base, str(version)))
    print(f"version {version}; signatures:")
    for sig, (key, dtype, shape) in sorted(sigs.items()):
        print(f"  {sig}: {key} {dtype} {shape}")
    print("serve it with:\n  " + docker_command(args.base, name))
    if not args.images:
        return 0
    key, dtype, shape = sigs["serving_default"]
    if dtype == "uint8":  # built-in preprocessing: pixels as they are, one request per image (any size)
        import PIL.Image

        batches = [np.asarray(PIL.Image.open(p).convert("RGB"))[None] for p in args.images]
    else:
        batches = [load_images(args.images, shape[1], model=args.model or "seresnet50",
                               normalise=key != "pixels")]
    bodies = [request_body(batch, "serving_default") for batch in batches]
    endpoint = f"{(args.url or 'http://localhost:8501').rstrip('/')}/v1/models/{name}:predict"
    if not args.url:
        print(f"request: POST {endpoint} with JSON {{\"signature_name\": \"serving_default\", \"instances\": "
              f"...}} ({len(bodies)} request(s), {sum(map(len, bodies))} bytes)")
        return 0
    predictions = []
    for body in bodies:
        request = urllib.request.Request(endpoint, data=body.encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions.extend(json.load(response)["predictions"])
    print_predictions(args.images, np.asarray(predictions, "float32"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
