"""ONNX Runtime as the engine for forward-only work (evolution), with torch kept for gradients.

Every evolution evaluation is one forward pass; ONNX Runtime runs the same model about twice as
fast as torch eager on one CPU thread (EfficientNet-Lite0 batch 16: 61 vs 34 img/s; LeNet batch
10: 8,933 vs 2,729). Gradient ascent and DeepDream need autograd, so they stay on torch.

How a model gets here, once per model and machine:

1. **Export.** The torch module, wrapped with its normalisation ((x - mean) / std), goes through
   ``torch.onnx.export`` (the TorchScript-based exporter, ``dynamo=False``: it needs no extra
   packages and handles TorchScript models too) at opset 17 with a dynamic batch axis. The graph
   takes images already at the model's size and channel count, in [0, 1].
2. **Cache.** The file is kept in ``$EVODREAM_CACHE/onnx`` (default ``~/.cache/evodream/onnx``),
   named by a sha256 of everything that shapes the graph: the weights (every state-dict tensor's
   name, dtype, shape and bytes), the architecture's printout (TorchScript: its code), the input
   shape, mean/std, the torch version, the opset and this module's export format. It is written
   to a temporary file and moved into place with ``os.replace``, so a reader (another worker of
   a sweep) sees a whole file or none.
3. **Check.** Every load, cached or fresh, is checked before it is used: ``onnx.checker`` (when
   the ``onnx`` package is installed), an ONNX Runtime session, and a probe: a fixed seeded batch
   of random images whose log-probabilities from ONNX Runtime must lie within
   ``|ort - torch| <= PROBE_ATOL + PROBE_RTOL * |torch|`` of torch's. A cached file failing any
   of these is rebuilt (one line says so), never trusted; a fresh export failing them means the
   engine is unavailable for that model.

:func:`with_engine` turns the outcome into the engine a run gets: ``auto`` falls back to torch
with one line on stderr (logger ``evodream.engine``), an explicit ``onnxruntime`` is an
:class:`~evodream.errors.EvodreamError` (the CLI's exit 2).
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import logging
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import EvodreamError
from .base import Classifier, log_softmax_array

OPSET = 17
EXPORT_FORMAT = "evodream-onnx-1"  # bump when the exported wrapper changes: old cache files then go unused
PROBE_ATOL = 1e-3
PROBE_RTOL = 1e-4  # log-probabilities of -40 and below carry float32 rounding of ~1e-5 relative
PROBE_BATCH = 3    # exported with batch 2, probed with 3: the batch axis must really be dynamic
PROBE_SEED = 0
# Batches go to the session in equal parts of at most CHUNK_BYTES of input (at least MIN_CHUNK
# images): on a CPU core a big batch's activations outgrow the caches. One thread here:
# EfficientNet-Lite0 ran at ~120 img/s in batches of 1-4 and ~90 in batches of 32-200, LeNet at
# ~14,000 in batches of 50-100 and ~12,000 in 200. Each image's logits came out bit for bit the
# same in any batch size.
CHUNK_BYTES = 256 * 1024
MIN_CHUNK = 4

log = logging.getLogger("evodream.engine")


class EngineUnavailable(Exception):
    """ONNX Runtime cannot run this model here; the message says why (one line)."""


def onnxruntime_version() -> str | None:
    """The installed onnxruntime's version, or None when it does not import."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


def cache_dir() -> Path:
    root = os.environ.get("EVODREAM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "evodream")
    return Path(root) / "onnx"


class _Normalised(nn.Module):
    """The classifier's module with its normalisation in front: the graph ONNX Runtime runs."""

    def __init__(self, module: nn.Module, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.module = module
        self.register_buffer("mean", mean.detach().clone())  # on the module's device, as in prepare()
        self.register_buffer("std", std.detach().clone())

    def forward(self, images):
        return self.module((images - self.mean) / self.std)


def cache_key(classifier: Classifier) -> str:
    """sha256 of what the exported graph depends on (see the module docstring)."""
    h = hashlib.sha256()
    module = classifier.module
    architecture = getattr(module, "code", None) if isinstance(module, torch.jit.ScriptModule) else None
    for part in (EXPORT_FORMAT, torch.__version__, str(OPSET), classifier.name, type(module).__qualname__,
                 str(architecture if architecture is not None else module), str(classifier.channels),
                 str(classifier.input_size), repr(classifier._mean.flatten().tolist()),
                 repr(classifier._std.flatten().tolist())):
        h.update(part.encode())
        h.update(b"\0")
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\0".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def export(classifier: Classifier) -> bytes:
    """The classifier as an ONNX model (bytes); EngineUnavailable when torch cannot export it."""
    wrapper = _Normalised(classifier.module, classifier._mean, classifier._std).eval()
    generator = torch.Generator().manual_seed(PROBE_SEED)
    dummy = torch.rand(2, classifier.channels, classifier.input_size, classifier.input_size,
                       generator=generator).to(classifier.device)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad(), _native_output_silenced():
            # The legacy exporter announces its deprecation and lists constant-folding notes.
            warnings.simplefilter("ignore")
            if isinstance(classifier.module, torch.jit.ScriptModule):
                # A TorchScript model cannot be traced from inside a plain module; scripted, the
                # wrapper holds it as a submodule and the exporter reads the script graph.
                wrapper = torch.jit.script(wrapper)
            torch.onnx.export(wrapper, (dummy,), buffer, opset_version=OPSET, input_names=["images"],
                              output_names=["logits"], dynamo=False,
                              dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
    except Exception as exc:  # any failure of the exporter means: this model stays on torch
        reason = _one_line(exc)[:160]
        raise EngineUnavailable(f"torch.onnx.export cannot export {classifier.name} ({reason})") from None
    return buffer.getvalue()


@contextlib.contextmanager
def _native_output_silenced():
    """Send file descriptors 1 and 2 to /dev/null: on failure the exporter's C++ side prints the
    whole traced graph to stdout, which would bury the one line that says what happened."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no such descriptors (a windowed process): nothing to silence
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        _flush_c_stdio()  # what C/C++ buffered goes to /dev/null now, not to the terminal later
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def _flush_c_stdio() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


def _session(model, threads: int, providers: list[str]):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads   # --threads, as torch was set
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: its warnings would break the one-line promise
    return ort.InferenceSession(model, options, providers=providers)


def _check_file(path: Path) -> None:
    """onnx.checker on a cached file, when the onnx package is there (ORT and the probe check anyway)."""
    try:
        import onnx
    except ImportError:
        return
    onnx.checker.check_model(str(path))


def probe_images(classifier: Classifier) -> torch.Tensor:
    generator = torch.Generator().manual_seed(PROBE_SEED)
    return torch.rand(PROBE_BATCH, classifier.channels, classifier.input_size, classifier.input_size,
                      generator=generator)


def probe_error(classifier: Classifier, onnx_classifier: "OnnxClassifier") -> float:
    """Largest excess of |ort - torch| over the tolerance on the probe batch's log-probabilities
    (<= 0: within it); torch in float32 even on a GPU, where evolution would use float16."""
    images = probe_images(classifier)
    with torch.inference_mode():
        expected = torch.log_softmax(classifier.module(classifier.prepare(images)).float(), dim=1).cpu()
        got = torch.log_softmax(torch.from_numpy(onnx_classifier._run(images)).float(), dim=1)
    if got.shape != expected.shape:
        return float("inf")
    if not torch.isfinite(expected).all():
        raise EngineUnavailable(f"torch's own logits for {classifier.name} are not finite on random images")
    excess = (got - expected).abs() - (PROBE_ATOL + PROBE_RTOL * expected.abs())
    excess = torch.where(torch.isfinite(excess), excess, torch.full_like(excess, float("inf")))
    return float(excess.max())


class OnnxClassifier(Classifier):
    """A :class:`Classifier` whose forward-only passes run in an ONNX Runtime session.

    It takes over a loaded torch classifier's state (names, sizes, normalisation, module), so
    anything that needs gradients (``logits`` of images that require grad, DeepDream's hooks on
    ``module``) still runs on torch; forward-only calls (``log_probs``, ``probs``, and ``logits``
    under ``no_grad``/``inference_mode``, as evolution calls them) go to ONNX Runtime, on a CPU
    in equal parts of at most ``chunk`` images (see CHUNK_BYTES). Outputs are torch tensors on the
    classifier's device; queries and the NaN check are as in torch.
    """

    engine = "onnxruntime"

    def __init__(self, classifier: Classifier, session, source: str):
        self.__dict__.update(vars(classifier))  # the same fields, one source of truth: base.Classifier
        self._session = session
        self._input_shape = (self.channels, self.input_size, self.input_size)
        image_bytes = 4 * math.prod(self._input_shape)  # float32
        # On a GPU big batches are what it is for: one call.
        self.chunk = max(MIN_CHUNK, CHUNK_BYTES // image_bytes) if self.device.type == "cpu" else None
        self.onnx_source = source  # the cache file, or "memory" when the cache folder is not writable

    @property
    def engine_version(self) -> str:
        return onnxruntime_version() or "?"

    @property
    def session(self):
        """The ONNX Runtime InferenceSession: input "images" (normalisation included), output "logits"."""
        return self._session

    def _input(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        """The session's input: the batch at the model's channels and size, a contiguous float32 array.

        A float32 array, or CPU float32 tensor, already of that shape (what evolution renders) goes
        straight through, checked on the numpy side: at small batches torch's per-call cost, paid with
        the caches cold from the last forward pass, outweighs a small model's pass."""
        if isinstance(images, np.ndarray):
            array = images
        else:
            try:
                array = images.numpy()
            except (RuntimeError, TypeError):  # it needs grad, or lives on another device
                array = None
        if array is None or array.dtype != np.float32 or array.shape[1:] != self._input_shape:
            tensor = torch.as_tensor(images).detach()
            array = self.fit(tensor).cpu().numpy()  # (fit raises the one-line shape error)
        return np.ascontiguousarray(array)

    def parts(self, batch: int) -> int:
        """Session calls a batch of this many images is split into (equal parts of at most `chunk`)."""
        return -(-batch // self.chunk) if self.chunk else 1

    def _forward(self, array: np.ndarray) -> np.ndarray:
        """The session's logits of a prepared input (see _input), uncounted and unchecked: a big
        batch in equal parts of at most `chunk` images (a small last part would run slower)."""
        chunks = self.parts(len(array))
        if chunks <= 1:
            return self._session.run(["logits"], {"images": array})[0]
        return np.concatenate([self._session.run(["logits"], {"images": part})[0]
                               for part in np.array_split(array, chunks)])

    def _run(self, images: torch.Tensor) -> np.ndarray:
        """The probe's call: logits without counting queries."""
        return self._forward(self._input(images))

    def logits_array(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        array = self._input(images)
        self._count(len(array))
        out = self._forward(array)
        if not np.isfinite(out).all():  # (numpy's check costs a tenth of torch's on small batches)
            self._check_finite(torch.from_numpy(out), len(array))
        return out

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and images.requires_grad:
            return super().logits(images)  # autograd needs the torch module
        return torch.from_numpy(self.logits_array(images)).to(self.device)

    def log_probs(self, images: torch.Tensor) -> torch.Tensor:
        log_probs = log_softmax_array(self.logits_array(images)).astype(np.float32)
        return torch.from_numpy(log_probs).to(self.device)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + ", onnxruntime)"


def _cuda_provider() -> bool:
    if onnxruntime_version() is None:
        return False
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def _providers(classifier: Classifier) -> list[str]:
    if classifier.device.type != "cuda":
        return ["CPUExecutionProvider"]
    if not _cuda_provider():
        raise EngineUnavailable("ONNX Runtime has no CUDA provider here (it comes with onnxruntime-gpu)")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def _checked(classifier: Classifier, model, source: str, providers: list[str]) -> OnnxClassifier:
    onnx_classifier = OnnxClassifier(classifier, _session(model, torch.get_num_threads(), providers), source)
    excess = probe_error(classifier, onnx_classifier)
    if excess > 0:
        raise EngineUnavailable(f"ONNX Runtime's log-probabilities for {classifier.name} differ from torch's "
                                f"by {excess + PROBE_ATOL:.2g} on the probe batch (tolerance {PROBE_ATOL:g})")
    return onnx_classifier


def build(classifier: Classifier, folder: Path | None = None) -> OnnxClassifier:
    """The classifier on ONNX Runtime: from the cache when a checked file is there, else exported
    (and cached); EngineUnavailable when ONNX Runtime is missing or cannot match torch."""
    if onnxruntime_version() is None:
        raise EngineUnavailable("onnxruntime is not installed (pip install onnxruntime)")
    providers = _providers(classifier)
    folder = cache_dir() if folder is None else Path(folder)
    stem = classifier.name.replace("/", "_").replace(":", "_")[-60:]  # readable; the key makes it unique
    path = folder / f"{stem}-{cache_key(classifier)[:32]}.onnx"
    if path.is_file():
        try:
            _check_file(path)
            return _checked(classifier, str(path), str(path), providers)
        except Exception as exc:  # corrupt, truncated, or stale: rebuild it
            log.warning(f"evodream: rebuilding the ONNX cache file {path} ({_one_line(exc)[:120]})")
    data = export(classifier)
    try:
        _write_atomically(path, data)
        source = str(path)
    except OSError as exc:
        log.warning(f"evodream: cannot cache the ONNX model in {folder} ({exc.strerror or exc}); "
                    "exporting it on every load: set EVODREAM_CACHE to a writable folder")
        source = "memory"
    try:
        return _checked(classifier, data, source, providers)
    except EngineUnavailable:
        raise
    except Exception as exc:
        reason = _one_line(exc)[:160]
        raise EngineUnavailable(f"ONNX Runtime cannot run the exported {classifier.name} ({reason})") \
            from None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def with_engine(classifier: Classifier, engine: str) -> Classifier:
    """`classifier` on the engine asked for: "torch" as it is; "onnxruntime" on ONNX Runtime or an
    EvodreamError; "auto" on ONNX Runtime where it works (CPU, or a GPU with ORT's CUDA provider),
    else torch, with one line saying why when ONNX Runtime was expected to work."""
    if engine == "torch":
        return classifier
    if engine == "auto" and classifier.device.type == "cuda" and not _cuda_provider():
        return classifier  # torch (float16 autocast) is the GPU engine: nothing to warn about
    try:
        return build(classifier)
    except EngineUnavailable as exc:
        if engine == "onnxruntime":
            raise EvodreamError(f"--engine onnxruntime: {exc}; use --engine torch or auto "
                                "(a run made with onnxruntime resumes only with it)") from None
        log.warning(f"evodream: {exc}: evaluating with torch")
        return classifier


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
