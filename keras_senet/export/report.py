"""`ExportReport`: what an export produced and how closely its runtime matched the Keras model."""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

# int8 feature maps of seresnet18 tapped at stages 3 and 4 (64x64, random weights, calibrated on the
# verification inputs) measured 0.024-0.030 relative RMS, dynamic-range 0.011-0.012; real data over a deeper
# network drifts further, hence the margin. fp32/fp16 exports are held to `rel_diff` on every output instead.
FEATURE_REL_RMS = 0.1
TOP_OFFENDERS = 5  # quantised tensors named in the report, worst RMSE / scale first

# Default acceptance per quantisation, applied to every output of the export. rel_diff = max |export -
# keras| / max |keras| over the verification batch; top1_agreement = fraction of inputs with the same
# arg-max class (2-D classifier outputs only); feature_rel_rms = RMS(export - keras) / RMS(keras) of the
# outputs that have no top-1 (feature maps, embeddings), where a quantised export has no class to agree on.
TOLERANCES = {
    None: {"rel_diff": 1e-4},
    "float16": {"rel_diff": 1e-2},
    "dynamic": {"top1_agreement": 0.95, "feature_rel_rms": FEATURE_REL_RMS},
    "int8": {"top1_agreement": 0.95, "feature_rel_rms": FEATURE_REL_RMS},
}


def _short_tensor_name(name):
    """A converted tensor's name without the fused ops' names (after ';') and the model scopes before
    the layer: ``"m_1/m_1/layer4_0_conv1_1/convolution;..."`` -> ``"layer4_0_conv1_1/convolution"``."""
    parts = name.split(";")[0].split("/")
    return "/".join(parts[2:]) if len(parts) > 2 and parts[0] == parts[1] else "/".join(parts)


@dataclasses.dataclass
class ExportReport:
    """The result of `keras_senet.export.export`.

    Attributes:
        path: where the export is (the final path once verified and moved into place).
        format: ``"saved_model"``, ``"tflite"`` or ``"onnx"``.
        quantize: ``None``, ``"float16"``, ``"dynamic"`` or ``"int8"``.
        io_type: dtype of the exported model's input/output (``"float32"``, ``"int8"``, ``"uint8"``).
        input_shape: the exported input shape, ``None`` for a dynamic dimension.
        runtime: the runtime the export was verified in.
        size_bytes: size of the file (or SavedModel folder) in bytes.
        verified: whether the export was run and compared (``verify=True``).
        verification_inputs: number of inputs compared, and whether they were the caller's data
            (``"representative data"``) or seeded random inputs (``"random"``).
        max_abs_diff, rel_diff: max |export - keras| and that divided by max |keras|; with several
            outputs, the largest over the outputs (each divided by its own max |keras|).
        rel_rms: RMS(export - keras) / RMS(keras), the largest over the outputs.
        top1_agreement: fraction of inputs where export and Keras pick the same class (the lowest
            over the 2-D outputs; None when no output is 2-D, e.g. feature maps).
        outputs: per output name: ``shape``, ``max_abs_diff``, ``rel_diff``, ``rel_rms``,
            ``top1_agreement`` (None unless 2-D). A single unnamed output is called ``"output"``.
        output_mismatches: outputs missing from the export, extra in it, or of another shape.
        latency_ms: median latency of one image (batch 1) in the runtime, milliseconds.
        keras_latency_ms: the same for the Keras model (a compiled call), for comparison.
        ops: TFLite only: builtin operator -> count (as stored in the file, before delegation).
        non_int8_ops: TFLite int8 only: operators that still compute in float or int32 -> count.
        tolerances: the acceptance limits applied.
        failures: why verification failed (empty when it passed).
        target: TFLite accelerator profile (``"cpu"``, ``"gpu"``, ``"nnapi"``, ``"edgetpu"``).
        compatibility: per check of the profile: ``"ok: ..."``, ``"FAILED: ..."`` or ``"not checked (why)"``.
        failures_from_checks: the failed compatibility checks (they fail the export too).
        quantization_layers: int8 with the quantisation debugger: per quantised tensor ``{"op", "tensor",
            "rmse", "scale", "rmse/scale", "mean_error"}``, worst first (`keras_senet.export.edge`).
        keep_float: what was left in float (selective quantisation).
        widened_ranges: int8 TFLite only: outputs of convolutions / fully connected layers whose calibrated
            range was too narrow for XNNPACK (zero on every calibration image: a dead SE unit), widened
            to a requantisation scale of 128, ``{"op", "tensor", "scale_before", "scale_after"}``
            (`keras_senet.export.tflite_ranges`).
        accuracy: with evaluation data: ``{"images", "keras_top1", "export_top1", "change", "agreement"}``.
        merged_branches: with ``reparameterize=True``: how many ``Add`` layers of parallel linear branches
            (GhostNetV3's) the export holds as one convolution each (`keras_senet.reparameterize`); 0 when
            the model has none.
        quantizer: int8 TFLite only: who quantised, ``"tensorflow"`` or ``"ai-edge-quantizer"``.
        pieces: low-memory TFLite and ONNX only: how many pieces the model was converted in, each in its own process,
            and joined into the file (`keras_senet.export.pieces`); 1 when it was converted whole.
    """

    path: str
    format: str
    quantize: Optional[str] = None
    io_type: str = "float32"
    input_shape: tuple = ()
    runtime: str = ""
    size_bytes: int = 0
    verified: bool = False
    verification_inputs: str = ""
    max_abs_diff: Optional[float] = None
    rel_diff: Optional[float] = None
    top1_agreement: Optional[float] = None
    latency_ms: Optional[float] = None
    keras_latency_ms: Optional[float] = None
    ops: dict = dataclasses.field(default_factory=dict)
    non_int8_ops: dict = dataclasses.field(default_factory=dict)
    tolerances: dict = dataclasses.field(default_factory=dict)
    failures: list = dataclasses.field(default_factory=list)
    # (added for multi-output models; after the original fields, so positional construction still works)
    rel_rms: Optional[float] = None
    outputs: dict = dataclasses.field(default_factory=dict)
    output_mismatches: list = dataclasses.field(default_factory=list)
    # (added for the accelerator profiles and the int8 report)
    target: str = "cpu"
    compatibility: dict = dataclasses.field(default_factory=dict)
    failures_from_checks: list = dataclasses.field(default_factory=list)
    quantization_layers: Optional[list] = None
    keep_float: tuple = ()
    accuracy: Optional[dict] = None
    widened_ranges: list = dataclasses.field(default_factory=list)
    merged_branches: int = 0
    quantizer: Optional[str] = None
    pieces: int = 1

    @property
    def passed(self):
        return self.verified and not self.failures

    def compare(self, expected, actual):
        """Fill the figures from ``{name: Keras array}`` and ``{name: export array}``: every output
        is compared under its own name; missing, extra or reshaped outputs are recorded as mismatches."""
        self.outputs, self.output_mismatches = {}, []
        missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
        if missing:
            self.output_mismatches.append(f"outputs {missing} missing from the export (it has {sorted(actual)})")
        if extra:
            self.output_mismatches.append(f"outputs {extra} in the export are not the Keras model's "
                                          f"({sorted(expected)})")
        for name in expected:
            if name not in actual:
                continue
            want, got = np.asarray(expected[name], "float64"), np.asarray(actual[name], "float64")
            if got.shape != want.shape:
                self.output_mismatches.append(f"output {name!r} shape {got.shape} != Keras {want.shape}")
                continue
            diff = np.abs(got - want)
            max_abs = float(diff.max()) if diff.size else 0.0
            top1 = float(np.mean(got.argmax(-1) == want.argmax(-1))) if want.ndim == 2 and want.size else None
            self.outputs[name] = {
                "shape": want.shape, "max_abs_diff": max_abs,
                "rel_diff": max_abs / max(float(np.abs(want).max()) if want.size else 0.0, 1e-12),
                "rel_rms": float(np.sqrt(np.mean(diff**2)) / max(np.sqrt(np.mean(want**2)), 1e-12)) if want.size
                else 0.0,
                "top1_agreement": top1}
        figures = list(self.outputs.values())
        self.max_abs_diff = max((f["max_abs_diff"] for f in figures), default=None)
        self.rel_diff = max((f["rel_diff"] for f in figures), default=None)
        self.rel_rms = max((f["rel_rms"] for f in figures), default=None)
        self.top1_agreement = min((f["top1_agreement"] for f in figures if f["top1_agreement"] is not None),
                                  default=None)
        self.verified = True

    def _worst(self, key, limit, above=True):
        """Names of the outputs whose `key` is beyond `limit` (with several outputs, for messages)."""
        names = [n for n, f in self.outputs.items() if f[key] is not None
                 and (not f[key] <= limit if above else not f[key] >= limit)]
        return f" ({', '.join(names)})" if len(self.outputs) > 1 and names else ""

    def check(self):
        """Fill `failures` from the measured figures and `tolerances`; returns `passed`."""
        self.failures = list(self.output_mismatches) + list(self.failures_from_checks)
        limit = self.tolerances.get("rel_diff")
        if self.verified and limit is not None and self.rel_diff is not None and not self.rel_diff <= limit:
            self.failures.append(f"relative difference {self.rel_diff:.3g} > {limit:g}"
                                 + self._worst("rel_diff", limit))
        limit = self.tolerances.get("top1_agreement")
        if (self.verified and limit is not None and self.top1_agreement is not None
                and not self.top1_agreement >= limit):
            self.failures.append(f"top-1 agreement {self.top1_agreement:.1%} < {limit:.0%}"
                                 + self._worst("top1_agreement", limit, above=False))
        limit = self.tolerances.get("feature_rel_rms")
        if self.verified and limit is not None:
            features = {n: f["rel_rms"] for n, f in self.outputs.items() if f["top1_agreement"] is None}
            bad = [n for n, v in features.items() if not v <= limit]
            if bad:
                worst = max(features[n] for n in bad)
                self.failures.append(f"relative RMS difference {worst:.3g} > {limit:g}"
                                     + (f" ({', '.join(bad)})" if len(self.outputs) > 1 else ""))
        if self.quantize == "int8" and self.io_type != "float32" and self.non_int8_ops:
            self.failures.append(f"ops left in float with io_type {self.io_type!r}: "
                                 f"{', '.join(sorted(self.non_int8_ops))} (integer inputs and outputs need every "
                                 "op integer; io_type='float32' allows float ops)")
        flex = sorted(op for op in self.ops if op.startswith("Flex") or op in ("CUSTOM", "DELEGATE"))
        if flex:
            self.failures.append(f"non-builtin TFLite ops {', '.join(flex)} (mobile runtimes lack them)")
        return self.passed

    def rows(self):
        """(key, value) pairs for printing."""
        kind = self.format + (f" {self.quantize}" if self.quantize else "")
        kind += f" (quantised by {self.quantizer})" if self.quantizer not in (None, "tensorflow") else ""
        rows = [("export", f"{kind} -> {self.path}"),
                ("input", f"{self.input_shape} {self.io_type}"),
                ("size", f"{self.size_bytes / 2**20:.2f} MiB")]
        if self.pieces > 1:
            rows.append(("converted in", f"{self.pieces} pieces, each in its own process, joined into one file"))
        if self.merged_branches:
            rows.append(("re-parameterised", f"{self.merged_branches} sums of parallel branches, one convolution each"))
        if self.verified:
            rows += [("runtime", self.runtime), ("compared on", self.verification_inputs)]
            if self.max_abs_diff is not None:
                rows.append(("max abs diff", f"{self.max_abs_diff:.3g} (relative {self.rel_diff:.3g}, "
                                             f"RMS relative {self.rel_rms:.3g})"))
            if self.top1_agreement is not None:
                rows.append(("top-1 agreement", f"{self.top1_agreement:.1%}"))
            if len(self.outputs) > 1:
                for name, f in self.outputs.items():
                    top1 = f", top-1 {f['top1_agreement']:.1%}" if f["top1_agreement"] is not None else ""
                    rows.append((f"  output {name}", f"{f['shape']} max abs {f['max_abs_diff']:.3g} (relative "
                                                     f"{f['rel_diff']:.3g}, RMS relative {f['rel_rms']:.3g}){top1}"))
            if self.latency_ms is not None:
                rows.append(("latency (batch 1)",
                             f"{self.latency_ms:.2f} ms median (Keras {self.keras_latency_ms:.2f} ms)"))
            rows += [("tolerance", ", ".join(f"{k} {v:g}" for k, v in self.tolerances.items())),
                     ("result", "PASSED" if self.passed else "FAILED: " + "; ".join(self.failures))]
        else:
            rows.append(("result", "not verified (verify=False)"))
        if self.ops:
            rows.append(("TFLite ops", ", ".join(f"{k} x{v}" for k, v in sorted(self.ops.items()))))
        if self.target != "cpu":
            rows.append(("target", self.target))
        for check, verdict in self.compatibility.items():
            rows.append((f"  {check}", verdict))
        if self.quantization_layers is not None:
            worst = self.quantization_layers[:TOP_OFFENDERS]
            rows.append(("int8 error per layer", f"{len(self.quantization_layers)} quantised tensors "
                                                 "(QuantizationDebugger); "
                                                 "RMSE / scale in quantisation steps, ~0.29 is rounding alone"))
            for layer in worst:
                rows.append((f"  {layer['op']}", f"RMSE/scale {layer['rmse/scale']:.2f}  RMSE {layer['rmse']:.3g}  "
                                                 f"{_short_tensor_name(layer['tensor'])}"))
        if self.keep_float:
            rows.append(("kept in float", ", ".join(self.keep_float)))
        if self.widened_ranges:
            rows.append(("widened int8 ranges", f"{len(self.widened_ranges)} outputs whose calibrated range was "
                                                "too narrow for XNNPACK's requantisation (< 256), widened"))
            for entry in self.widened_ranges[:TOP_OFFENDERS]:
                rows.append((f"  {entry['op']}", f"scale {entry['scale_before']:.3g} -> {entry['scale_after']:.3g}  "
                                                 f"{_short_tensor_name(entry['tensor'])}"))
        if self.accuracy is not None:
            a = self.accuracy
            rows.append(("held-out accuracy", f"Keras {a['keras_top1']:.2%}, export {a['export_top1']:.2%} "
                                              f"(change {a['change']:+.2f} points, agreement {a['agreement']:.2%}) "
                                              f"on {a['images']} images"))
        if self.quantize == "int8":
            rows.append(("non-int8 ops", ", ".join(f"{k} x{v}" for k, v in sorted(self.non_int8_ops.items()))
                         or "none"))
        return rows

    def table(self):
        """The report as an aligned two-column text table."""
        rows = self.rows()
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

    def __str__(self):
        return self.table()
