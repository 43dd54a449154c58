"""`ExportReport`: what an export produced and how closely its runtime matched the Keras model."""

from __future__ import annotations

import dataclasses
from typing import Optional

# Default acceptance per quantisation. rel_diff = max |export - keras| / max |keras| over the
# verification batch; top1_agreement = fraction of inputs with the same arg-max class.
TOLERANCES = {
    None: {"rel_diff": 1e-4},
    "float16": {"rel_diff": 1e-2},
    "dynamic": {"top1_agreement": 0.95},
    "int8": {"top1_agreement": 0.95},
}


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
        max_abs_diff, rel_diff: max |export - keras| and that divided by max |keras|.
        top1_agreement: fraction of inputs where export and Keras pick the same class.
        latency_ms: median latency of one image (batch 1) in the runtime, milliseconds.
        keras_latency_ms: the same for the Keras model (a compiled call), for comparison.
        ops: TFLite only: builtin operator -> count (as stored in the file, before delegation).
        non_int8_ops: TFLite int8 only: operators that still compute in float or int32 -> count.
        tolerances: the acceptance limits applied.
        failures: why verification failed (empty when it passed).
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

    @property
    def passed(self):
        return self.verified and not self.failures

    def check(self):
        """Fill `failures` from the measured figures and `tolerances`; returns `passed`."""
        self.failures = []
        limit = self.tolerances.get("rel_diff")
        if self.verified and limit is not None and not self.rel_diff <= limit:
            self.failures.append(f"relative difference {self.rel_diff:.3g} > {limit:g}")
        limit = self.tolerances.get("top1_agreement")
        if self.verified and limit is not None and not self.top1_agreement >= limit:
            self.failures.append(f"top-1 agreement {self.top1_agreement:.1%} < {limit:.0%}")
        flex = sorted(op for op in self.ops if op.startswith("Flex") or op in ("CUSTOM", "DELEGATE"))
        if flex:
            self.failures.append(f"non-builtin TFLite ops {', '.join(flex)} (mobile runtimes lack them)")
        return self.passed

    def rows(self):
        """(key, value) pairs for printing."""
        kind = self.format + (f" {self.quantize}" if self.quantize else "")
        rows = [("export", f"{kind} -> {self.path}"),
                ("input", f"{self.input_shape} {self.io_type}"),
                ("size", f"{self.size_bytes / 2**20:.2f} MiB")]
        if self.verified:
            rows += [("runtime", self.runtime),
                     ("compared on", self.verification_inputs),
                     ("max abs diff", f"{self.max_abs_diff:.3g} (relative {self.rel_diff:.3g})"),
                     ("top-1 agreement", f"{self.top1_agreement:.1%}"),
                     ("latency (batch 1)", f"{self.latency_ms:.2f} ms median (Keras {self.keras_latency_ms:.2f} ms)"),
                     ("tolerance", ", ".join(f"{k} {v:g}" for k, v in self.tolerances.items())),
                     ("result", "PASSED" if self.passed else "FAILED: " + "; ".join(self.failures))]
        else:
            rows.append(("result", "not verified (verify=False)"))
        if self.ops:
            rows.append(("TFLite ops", ", ".join(f"{k} x{v}" for k, v in sorted(self.ops.items()))))
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
