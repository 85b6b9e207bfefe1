"""Load a *fast* tokenizer for any backbone, DeBERTa-v2/v3 included.

Why: SQuAD needs offset mappings, which only fast (Rust) tokenizers give. DeBERTa-v2/v3 repos ship only
`spm.model`; transformers 5 builds the fast `DebertaV2Tokenizer` from it (vocab read with sentencepiece /
protobuf), but `AutoTokenizer` cannot pick that class for a folder that has no config.json and no
`tokenizer_class`, so we fall back to it explicitly there.
"""

from __future__ import annotations

import os
from typing import Any

from dcft import hub
from dcft.errors import UserError, first_line

_SPM_FILE = "spm.model"  # DeBERTa-v2/v3's only vocabulary file


def load_tokenizer(name_or_path: str, **kw: Any) -> Any:
    """A fast tokenizer for a hub id or a local folder; `kw` goes to `from_pretrained`."""
    from transformers import AutoTokenizer, DebertaV2Tokenizer

    kw.setdefault("use_fast", True)
    hub.announce("tokenizer", name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kw)
    except (OSError, ValueError) as exc:
        if not os.path.isfile(os.path.join(name_or_path, _SPM_FILE)):
            if os.path.isdir(name_or_path):
                hint = "check the folder has tokenizer files (tokenizer.json, or spm.model for DeBERTa)"
            elif name_or_path.startswith(("/", ".", "~")):
                hint = "no such folder: fix the path"
            else:
                hint = "the hub may be unreachable: set model.path=<local model dir> (or model.tokenizer=<dir>)"
            reason = first_line(exc)
            raise UserError(f"cannot load a tokenizer from {name_or_path!r} ({reason}); {hint}.") from exc
        kw.pop("use_fast")
        tokenizer = DebertaV2Tokenizer.from_pretrained(name_or_path, **kw)
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(
            f"{name_or_path!r} loaded as {type(tokenizer).__name__}, which is not a fast tokenizer; QA needs "
            "offset mappings. Add a tokenizer.json (e.g. save_pretrained of a fast tokenizer) to the folder."
        )
    return tokenizer
