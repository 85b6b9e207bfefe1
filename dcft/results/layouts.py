"""The paper's tables as data: which tasks are columns, which methods are rows, how each paper model's
block differs (its own LoRA, the columns the paper printed), and the notes each table carries.

A row names a method of the registry and its options; its tag (the records' `method_tag`) comes from
`dcft.methods.method_tag`, the one function that names a method for run directories, records and tables.
A method the registry does not know (yet), or options it rejects, leave the row with the paper's values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dcft.methods import method_tag
from dcft.results.columns import GLUE, MNLI_MM, TASK_COLUMNS, TASK_LABEL, Column


@dataclass(frozen=True)
class Method:
    """A table row: what ran (`label`), the paper's row it sits next to, and the method that runs it."""

    label: str  # printed label; says what ran ("LoRA (r=8, Q,V)")
    paper: str  # `method` in paper_results.csv ("" where the paper has no such row)
    name: str  # registry name (dcft.methods.METHODS)
    options: tuple[tuple[str, Any], ...] = ()  # the method's options: they give the tag and the run command
    short: str = ""  # label while the harness cannot run it (paper values only); default: `label`
    fixed_tag: str | None = None  # a row found in the records: its tag is known, its options are not

    @property
    def settings(self) -> dict[str, Any]:
        """What `count_params(model, settings)` receives: the method name and its options."""
        return {"method": self.name, **dict(self.options)}

    def resolve(self) -> tuple[str | None, str | None]:
        """(tag, None), or (None, why the harness cannot run this row)."""
        if self.fixed_tag:
            return self.fixed_tag, None
        try:
            return method_tag(self.name, dict(self.options)), None
        except ValueError as err:  # not registered (yet), or its settings are named differently
            return None, str(err)

    @property
    def tag(self) -> str | None:
        return self.resolve()[0]

    @property
    def shown_label(self) -> str:
        return self.label if self.tag is not None else (self.short or self.label)


def row(label: str, paper: str, name: str, short: str = "", **options: Any) -> Method:
    return Method(label, paper, name, tuple(options.items()), short)


def dcft(label: str, paper: str, kernel: int, stride: int | None = None, targets: str = "all") -> Method:
    options = {"kernel": kernel, "stride": kernel if stride is None else stride}
    return row(label, paper, "dcft", **options, **({} if targets == "all" else {"targets": targets}))


@dataclass(frozen=True)
class ModelBlock:
    """How one paper model's block departs from the layout's rows and columns."""

    rows: dict[str, Method] = field(default_factory=dict)  # paper label -> the row this model runs instead
    hidden: frozenset[tuple[str, str]] = frozenset()  # (task, metric key) the paper printed no number for


@dataclass(frozen=True)
class Layout:
    number: int | None  # None: a table of ours, not the paper's
    title: str
    models: tuple[str, ...]  # the paper's model per block, in the paper's order
    tasks: tuple[str, ...]
    methods: tuple[Method, ...]
    hours: bool = False  # also show training time (hours, from train_time_s)
    avg: bool = False  # show the row average (the paper has one in Tables 1 and 4)
    param_unit: str = "M"  # "M" or "K" (binary, as the paper prints) or "%" of total parameters
    per_model: dict[str, ModelBlock] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    name: str = ""  # output file stem; default table<number>
    paper: bool = True  # cells compare with the paper's numbers

    @property
    def stem(self) -> str:
        return self.name or f"table{self.number}"

    def rows(self, model: str) -> tuple[Method, ...]:
        """The rows of `model`'s block (a model without a block of its own gets the first paper model's)."""
        own = self.per_model.get(model if model in self.models else (self.models or ("",))[0], ModelBlock())
        return tuple(own.rows.get(m.paper, m) for m in self.methods)

    def hidden(self, model: str) -> frozenset[tuple[str, str]]:
        key = model if model in self.models else (self.models or ("",))[0]
        return self.per_model.get(key, ModelBlock()).hidden

    def columns(self) -> list[Column]:
        """Metric columns in the paper's task order, then Avg, then the hours columns (+ Avg h)."""
        cols = [c for task in self.tasks for c in TASK_COLUMNS[task]]
        if self.avg:
            cols.append(Column("avg", "avg", "Avg", "avg", kind="avg"))
        if self.hours:
            cols += [Column(t, "train_hours", f"{TASK_LABEL[t]} h", "train_hours", kind="hours") for t in self.tasks]
            if self.avg:
                cols.append(Column("avg", "avg", "Avg h", "train_hours", kind="avg_hours"))
        return cols


# ---- Rows --------------------------------------------------------------------------------------------
FULL = row("Full FT", "full", "full")
BITFIT = row("BitFit", "bitfit", "bitfit")
# Not in PEFT; runnable once dcft.methods registers them (issue 12), until then the paper's values only.
HADAPTER = row("HAdapter (bottleneck 8)", "hadapter", "hadapter", short="HAdapter", bottleneck=8)
PADAPTER = row("PAdapter (bottleneck 16)", "padapter", "padapter", short="PAdapter", bottleneck=16)
SORA = row("SoRA", "sora", "sora")
# The paper's own LoRA baseline on DeBERTaV3-base: rank 1 on all six matrix groups (0.17M).
LORA = row("LoRA (r=1)", "lora", "lora", r=1)
# Where the paper copied LoRA from Hu et al. the harness runs that paper's LoRA (task.hparams.baselines.lora).
LORA_R8_QV = row("LoRA (r=8, Q,V)", "lora", "lora", r=8, targets="qv")
LORA_R16_QV = row("LoRA (r=16, Q,V)", "lora", "lora", r=16, targets="qv")
LORA_FA = row("LoRA-FA (r=1)", "lora-fa", "lora_fa", r=1)
# RoBERTa-large's LoRA-FA: no configuration gives the paper's 3.7M; the harness runs the LoRA row's (docs/baselines.md).
LORA_FA_R8_QV = row("LoRA-FA (r=8, Q,V)", "lora-fa", "lora_fa", r=8, targets="qv")
DCFT_EFFICIENT = dcft("DCFT∆ (d=8, most efficient)", "dcft-efficient(d=8)", 8)
DCFT_BEST = dcft("DCFT† (d=2, best)", "dcft-best(d=2)", 2)

# ---- Notes -------------------------------------------------------------------------------------------
MNLI_NOTE = (
    "MNLI mm is the mismatched accuracy at the step the reporting rule picks: with rule best, the step with "
    "the best matched accuracy; with rule final, the last evaluation. The released code evaluates mismatched "
    "once, at the end of training, so the paper's mm compares with rule final (the study summary shows both)."
)
TABLE1_NOTES = (
    "LoRA runs what the paper compares: rank 1 on all six matrix groups on DeBERTaV3-base (the paper's own "
    "baseline); on RoBERTa-large the paper copied LoRA from Hu et al., r=8 on Q,V, and the harness runs that "
    "(task.hparams.baselines.lora).",
    "The paper's DeBERTaV3-base LoRA-FA row is a byte copy of its SoRA row (same #Params, every value the "
    "same): those printed numbers cannot be LoRA-FA's own. LoRA-FA trains B only: r=1 on all six groups is "
    "82,944 on DeBERTaV3-base; on RoBERTa-large no configuration gives the printed 3.7M, and the row runs the "
    "LoRA row's r=8 on Q,V (393,216). Sources of every baseline's settings: docs/baselines.md.",
    MNLI_NOTE,
    "RoBERTa-large: the paper prints one MNLI number (matched accuracy); that block shows ours the same way "
    "and its Avg is the mean of the eight tasks with MNLI = matched accuracy, as the paper's. The DeBERTaV3-base "
    "Avg takes MNLI as (m + mm) / 2.",
)
TABLE6_NOTES = (
    "(Q,K,V,O): the paper prints 18.4K; 18,816 fits Q,K,V,O + FFN-out and Q,K,V,O + FFN-in equally (both FFN "
    "matrices add 544), and the released code matched `attention.output` and `layer.output` explicitly, not the "
    "substring 'output', so the paper does not say which. The row runs targets=qkvo_paper (Q,K,V,O + FFN_OUT); "
    "targets=qkvo_ffnin is the other reading, targets=qkvo the attention output alone (12,288).",
)
TABLE3_NOTES = (
    "DCFT's kernel for SQuAD is not stated in the paper; d=2 is inferred from its 0.04% of 184M (~75K; d=2 "
    "has 83,232 parameters on DeBERTaV3-base, the only kernel near it). The row stays an inference.",
    "SQuAD EM is the `exact_match` of each record (v1.1 and v2.0 alike); F1 picks the learning rate.",
)

# fmt: off
LAYOUTS: tuple[Layout, ...] = (
    Layout(1, "GLUE dev results of DCFT and baselines", ("deberta-v3-base", "roberta-large"), GLUE,
           (FULL, BITFIT, HADAPTER, PADAPTER, LORA, SORA, LORA_FA, DCFT_EFFICIENT, DCFT_BEST), avg=True,
           per_model={"roberta-large": ModelBlock({"lora": LORA_R8_QV, "lora-fa": LORA_FA_R8_QV},
                                                  frozenset({("mnli", MNLI_MM)}))},
           notes=TABLE1_NOTES),
    Layout(2, "DeBERTaV2-xxlarge on four GLUE tasks", ("deberta-v2-xxlarge",),
           ("cola", "sst2", "stsb", "qnli"), (FULL, LORA_R16_QV, DCFT_EFFICIENT),
           notes=("LoRA: r=16 on Q,V, the setting of Hu et al. that the paper's row was copied from.",)),
    Layout(3, "SQuAD v1.1 / v2.0 dev EM and F1", ("deberta-v3-base",), ("squad", "squad_v2"),
           (FULL, HADAPTER, PADAPTER, LORA, dcft("DCFT (d=2)", "dcft", 2)), param_unit="%", notes=TABLE3_NOTES),
    Layout(4, "DCFT kernel size d: dev metric and training time", ("deberta-v3-base",),
           ("sst2", "cola", "qnli", "rte", "mrpc", "stsb"),
           (FULL, *(dcft(f"DCFT (d={d})", f"dcft(d={d})", d) for d in (2, 4, 6, 8, 12))),
           hours=True, avg=True),
    Layout(5, "DCFT stride s at d=8: dev metric and training time", ("deberta-v3-base",),
           ("cola", "mrpc", "stsb", "rte"),
           tuple(dcft(f"DCFT (d=8, s={s})", f"dcft(d=8,s={s})", 8, s) for s in (1, 2, 4, 8)),
           hours=True, param_unit="K"),
    Layout(6, "Which matrices DCFT adapts (d=8)", ("deberta-v3-base",), ("cola", "mrpc", "stsb", "rte"),
           (dcft("DCFT (Q,K)", "dcft(Q,K)", 8, targets="qk"),
            dcft("DCFT (Q,V)", "dcft(Q,V)", 8, targets="qv"),
            dcft("DCFT (Q,K,V)", "dcft(Q,K,V)", 8, targets="qkv"),
            dcft("DCFT (Q,K,V,O)", "dcft(Q,K,V,O)", 8, targets="qkvo_paper"),
            dcft("DCFT (ALL)", "dcft(ALL)", 8)),
           param_unit="K", notes=TABLE6_NOTES),
)
# fmt: on

# Figures 2 and 3 compare DCFT with rank-one LoRA; the study summary pairs DCFT with LoRA (the paper's claim: it
# matches LoRA with fewer parameters), with full fine-tuning (the claim: it trails it by little) and with PEFT's
# rivals at its size (C3A; FourierFT with n=208, DCFT d=8's count on MiniLM). A pair without records is left out.
DCFT_D8 = dcft("DCFT (d=8)", "dcft(d=8)", 8)
DCFT_D2 = dcft("DCFT (d=2)", "dcft(d=2)", 2)
FIGURE_METHODS = (DCFT_D8, LORA)
FIG2_TASKS = ("cola", "rte", "mrpc", "qnli")
FIG_MODEL = "deberta-v3-base"
C3A = row("C3A", "", "c3a")
FOURIERFT_N208 = row("FourierFT (n=208)", "", "fourierft", n_frequency=208)
STUDY_PAIRS = (  # (compared, reference): their difference by seed
    (DCFT_D8, LORA), (DCFT_D2, LORA), (DCFT_D8, FULL), (DCFT_D8, C3A), (DCFT_D8, FOURIERFT_N208))

# The param-matched comparison: DCFT, rank-one LoRA and the PEFT methods of similar size. A rival the registry
# does not know yet is left out; every other tag of a rival found in the records gets a row of its own.
PARAM_MATCHED_ROWS = (DCFT_D8, DCFT_D2, LORA, C3A, row("FourierFT", "", "fourierft"))
PARAM_MATCHED_RIVALS = ("c3a", "fourierft")
PARAM_MATCHED_TITLE = "Param-matched comparison: DCFT, rank-one LoRA and PEFT methods of similar size"
