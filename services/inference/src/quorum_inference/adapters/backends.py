"""The two ScoringBackends: the trained network in this process, or served by a Triton Inference Server."""

from __future__ import annotations

import os
import sysconfig
import threading
import warnings
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from quorum_common.logging import get_logger
from quorum_inference.adapters import nets
from quorum_inference.core.backend import ModelKey, ScoringBackend

log = get_logger(__name__)


class TorchBackend:
    """In-process: logits straight from the torch module (GPU when the module is on one)."""

    name = "torch"

    def publish(self, key: ModelKey, model: Any, input_shape: tuple[int, ...]) -> None:
        return None

    def logits(self, key: ModelKey, model: Any, inputs: NDArray[np.float32]) -> NDArray[np.float32]:
        return nets.logits(model, inputs)

    def close(self) -> None:
        return None


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TritonBackend:
    """Each model version is bound to a Triton Inference Server as model `job-<id>-v<n>` with dynamic
    batching, and scored with `tritonclient.grpc`.

    With `embedded` (the default) the server is the one bundled in `nvidia-pytriton`, started on first use on
    127.0.0.1 free ports; the network runs in this process behind it (pytriton's proxy), on GPU when there is
    one. Otherwise `url` names an operator's Triton whose model repository already holds the models.
    """

    name = "triton"

    def __init__(
        self,
        *,
        url: str = "",
        embedded: bool = True,
        max_batch_size: int = 256,
        max_queue_delay_us: int = 500,
        timeout_s: float = 60.0,
    ) -> None:
        self._url = url.removeprefix("grpc://")
        self._embedded = embedded
        self._max_batch = max_batch_size
        self._delay_us = max_queue_delay_us
        self._timeout_s = timeout_s
        self._triton: Any = None
        self._client: Any = None
        self._bound: set[str] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._url

    def _start(self) -> None:
        from pytriton.client.warnings import NotSupportedTimeoutWarning  # noqa: PLC0415 - heavy, on first use
        from pytriton.triton import Triton, TritonConfig  # noqa: PLC0415

        # pytriton's own gRPC readiness checks pass timeouts tritonclient.grpc ignores; nothing to act on.
        warnings.filterwarnings("ignore", category=NotSupportedTimeoutWarning)

        # pytriton's Python-backend stub links against libpython; with a pyenv-built interpreter it is only
        # found through LD_LIBRARY_PATH (inherited by the tritonserver process started below).
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        current = os.environ.get("LD_LIBRARY_PATH", "")
        if libdir and libdir not in current.split(":"):
            os.environ["LD_LIBRARY_PATH"] = f"{libdir}:{current}" if current else libdir
        grpc_port = _free_port()
        config = TritonConfig(
            grpc_address="127.0.0.1",
            grpc_port=grpc_port,
            # gRPC only: with HTTP on, pytriton's own readiness client is tritonclient.http (gevent), which
            # raises when garbage-collected off its thread.
            allow_http=False,
            metrics_port=_free_port(),
            log_verbose=0,
        )
        self._triton = Triton(config=config)
        self._triton.run()
        self._url = f"127.0.0.1:{grpc_port}"
        log.info("triton_started", url=self._url)

    def _grpc(self) -> Any:
        if self._client is None:
            import tritonclient.grpc as grpcclient  # noqa: PLC0415

            self._client = grpcclient.InferenceServerClient(url=self._url)
        return self._client

    def publish(self, key: ModelKey, model: Any, input_shape: tuple[int, ...]) -> None:
        with self._lock:
            if key.name in self._bound:
                return
            if not self._embedded:
                if not self._grpc().is_model_ready(key.name):
                    raise LookupError(f"Triton at {self._url} has no ready model {key.name!r}")
                self._bound.add(key.name)
                return
            from pytriton.decorators import batch  # noqa: PLC0415
            from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor  # noqa: PLC0415

            if self._triton is None:
                self._start()
            net: nn.Module = model

            @batch
            def infer(inputs: NDArray[np.float32]) -> dict[str, NDArray[np.float32]]:
                return {"logits": nets.logits(net, inputs)}

            self._triton.bind(
                model_name=key.name,
                infer_func=infer,
                inputs=[Tensor(name="inputs", dtype=np.float32, shape=input_shape)],
                outputs=[Tensor(name="logits", dtype=np.float32, shape=(-1,))],
                config=ModelConfig(
                    max_batch_size=self._max_batch,
                    batcher=DynamicBatcher(max_queue_delay_microseconds=self._delay_us),
                ),
                strict=True,
            )
            self._bound.add(key.name)

    def logits(self, key: ModelKey, model: Any, inputs: NDArray[np.float32]) -> NDArray[np.float32]:
        import tritonclient.grpc as grpcclient  # noqa: PLC0415

        self.publish(key, model, tuple(inputs.shape[1:]))
        client = self._grpc()
        chunks = []
        for start in range(0, len(inputs), self._max_batch):
            x = np.ascontiguousarray(inputs[start : start + self._max_batch], dtype=np.float32)
            inp = grpcclient.InferInput("inputs", list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            result = client.infer(
                key.name,
                [inp],
                outputs=[grpcclient.InferRequestedOutput("logits")],
                client_timeout=self._timeout_s,
            )
            chunks.append(result.as_numpy("logits"))
        if not chunks:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._triton is not None:
                self._triton.stop()
                self._triton = None
            self._bound.clear()


def make_backend(kind: str, *, triton_url: str = "", triton_embedded: bool = True) -> ScoringBackend:
    if kind == "torch":
        return TorchBackend()
    if kind == "triton":
        return TritonBackend(url=triton_url, embedded=triton_embedded)
    raise ValueError(f"unknown INFERENCE_BACKEND {kind!r}; allowed: torch, triton")


def cuda_available() -> bool:
    return bool(torch.cuda.is_available())
