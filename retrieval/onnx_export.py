"""all-MiniLM-L6-v2 as ONNX models, exported locally from the bundled weights.

Nothing is downloaded: torch exports the bundled transformer to ONNX once (float32, the same
vectors as torch), and onnxruntime quantises a copy's matrix multiplications to int8 (per
channel: per tensor moved vectors too far, see benchmarks/README.md). Both files are cached under
the model cache folder, named by the weights' hash so other weights never reuse them.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from retrieval.errors import EmbeddingModelError

MAX_SEQUENCE_TOKENS = 256  # all-MiniLM-L6-v2's sentence_bert_config.json
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OPSET = 17


def model_paths(cache_dir: Path, weights_sha256: str) -> tuple[Path, Path]:
    """Where the float32 and int8 models exported from the weights with this hash are cached."""
    stem = cache_dir / f"all-MiniLM-L6-v2-{weights_sha256[:16]}"
    return stem.with_name(stem.name + "-fp32.onnx"), stem.with_name(stem.name + "-int8.onnx")


def export_models(model_dir: Path, fp32_target: Path, int8_target: Path) -> None:
    """Export the transformer in `model_dir` to ONNX (float32) and an int8 copy of it.

    Each file appears whole or not at all (written beside it, then renamed), so processes that
    export at the same time never read half a model.
    """
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    fp32_target.parent.mkdir(parents=True, exist_ok=True)
    try:
        model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    except (OSError, ValueError) as error:
        raise EmbeddingModelError(f"Cannot load the model in {model_dir}: {error}") from error

    class HiddenStates(torch.nn.Module):
        """The transformer's last hidden state: mean pooling happens after, in numpy."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in _INPUTS)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    with tempfile.TemporaryDirectory(dir=fp32_target.parent) as work:
        plain = Path(work) / "model.onnx"
        quantised = Path(work) / "model-int8.onnx"
        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # onnxruntime advises pre-processing, loudly
        try:
            # The tracer warns about branches it fixes; they are fixed right for every batch
            # shape (checked: float32 export equals torch on padded batches).
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    HiddenStates(model),
                    example,
                    str(plain),
                    input_names=list(_INPUTS),
                    output_names=["last_hidden_state"],
                    dynamic_axes=axes,
                    opset_version=_OPSET,
                    dynamo=False,
                )
            quantize_dynamic(
                str(plain),
                str(quantised),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
            )
        except Exception as error:  # torch and onnxruntime raise many types
            raise EmbeddingModelError(
                f"Exporting the embedding model to ONNX failed ({error}): set "
                "CITEBOT_EMBEDDING_RUNTIME=torch to embed with torch instead."
            ) from error
        finally:
            logging.getLogger().setLevel(quiet)
        os.replace(quantised, int8_target)
        os.replace(plain, fp32_target)
