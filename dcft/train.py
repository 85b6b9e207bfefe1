"""The one training loop (accelerate): seed, build, prepare, train with evaluation and checkpoints, record."""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup

from dcft import checkpoint
from dcft.adapters import save_adapter
from dcft.config import RunConfig, flatten
from dcft.errors import UserError
from dcft.evaluation import evaluate_split
from dcft.io_utils import atomic_write_json, atomic_write_text, jsonable
from dcft.methods import Adapted, apply_method
from dcft.models import build_model, tokenizer_source
from dcft.records import SCHEMA, CellLock, environment, read_record, store_path, write_record
from dcft.tasks import DataOptions, get_task
from dcft.tracking import MetricsLog, wandb_init_kwargs

NO_DECAY = ("bias", "LayerNorm.weight", "layernorm.weight", "layer_norm.weight", "norm.weight")


class Diverged(RuntimeError):
    """The loss became NaN/inf; the record says where and which checkpoint was the last good one."""


def run(cfg: RunConfig) -> dict[str, Any]:
    """Train one cell. A finished cell is skipped unless overwrite=true; an unfinished one resumes."""
    run_dir, store = Path(cfg.run_dir), store_path(
        cfg.results_dir, cfg.model.name, cfg.task, cfg.method_tag, cfg.trainer.lr, cfg.seed
    )
    previous = read_record(store)
    if previous and previous.get("status") == "finished" and not cfg.overwrite:
        print(f"skip: {store} is already finished (overwrite=true reruns it)")
        return previous
    _check_writable(cfg.results_dir)
    accelerator = _accelerator(cfg, run_dir)
    # From the start: a SLURM warning signal (USR1) that arrives while the run still sets up would kill it
    # (USR1's default action); caught here, it checkpoints at the first step boundary instead.
    guard = checkpoint.PreemptionGuard()  # SIGTERM too once training runs: guard.arm() in Trainer._train
    try:
        with CellLock(run_dir) if accelerator.is_main_process else nullcontext():
            if cfg.overwrite and previous and previous.get("status") == "finished" and accelerator.is_main_process:
                _clear_run_dir(run_dir)
            accelerator.wait_for_everyone()
            trainer = Trainer(cfg, accelerator, run_dir, store, guard)
            try:
                return trainer.fit()
            except (UserError, Diverged, SystemExit, KeyboardInterrupt):
                raise
            except Exception as exc:  # out of memory, a library error ...: the record says failed, and why
                if trainer.started:
                    trainer._write_record("failed", error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:500]}")
                raise
    finally:
        guard.restore()
        for tracker in accelerator.trackers:  # not end_training(): the process group must outlive one job of a
            tracker.finish()                  # multirun launched under torchrun / accelerate launch


def _accelerator(cfg: RunConfig, run_dir: Path) -> Accelerator:
    # Jobs of one multirun share a process: each gets its own precision / accumulation settings, while the
    # process group (PartialState) set up by torchrun or `accelerate launch` is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    use_wandb = cfg.logger.get("name") == "wandb"
    return Accelerator(
        cpu=not torch.cuda.is_available(),  # lets torchrun / `accelerate launch` run several CPU processes (gloo)
        mixed_precision=cfg.trainer.mixed_precision,
        gradient_accumulation_steps=cfg.trainer.grad_accum,
        log_with="wandb" if use_wandb else None,
        project_dir=str(run_dir),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        # an unused trainable tensor (e.g. a pooler the QA head skips) must not break DDP
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )


def _check_writable(results_dir: str) -> None:
    path = Path(results_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{time.time_ns()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(
            f"results_dir={results_dir!r} is not writable ({exc.strerror}); pick another results_dir"
        ) from None


def _clear_run_dir(run_dir: Path) -> None:
    for child in run_dir.iterdir():
        if child.name != ".lock":
            shutil.rmtree(child) if child.is_dir() else child.unlink()


class Trainer:
    """State and steps of one run; `fit()` is the whole story, in order."""

    def __init__(self, cfg: RunConfig, accelerator: Accelerator, run_dir: Path, store: Path,
                 guard: checkpoint.PreemptionGuard) -> None:
        self.cfg, self.acc, self.run_dir, self.store, self.guard = cfg, accelerator, run_dir, store, guard
        self.tcfg = cfg.trainer
        self.log = MetricsLog(run_dir / "metrics.jsonl", enabled=accelerator.is_main_process)
        self.state = checkpoint.TrainState()
        self.env = environment()
        self.started = False  # a record exists once training started; failures before it leave nothing

    # -- build -------------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        cfg, acc = self.cfg, self.acc
        set_seed(cfg.seed)
        self.task = get_task(cfg.task)
        from dcft.tokenizers import load_tokenizer

        tokenizer = load_tokenizer(tokenizer_source(cfg.model))
        options = DataOptions(
            dir=cfg.data.get("dir"), max_train_samples=cfg.data.get("max_train_samples"),
            max_eval_samples=cfg.data.get("max_eval_samples"), split_by_article=cfg.data.get("split_by_article"),
            cache_dir=str(Path(cfg.results_dir) / "cache") if cfg.data.get("cache", True) else None,
        )
        with acc.main_process_first():
            data = self.task.prepare(tokenizer, self.tcfg.max_length, options, **cfg.task_settings)
        collator = DataCollatorWithPadding(tokenizer)
        generator = torch.Generator().manual_seed(cfg.seed)
        train_loader = DataLoader(
            data.train, batch_size=self.tcfg.batch_size, shuffle=True, collate_fn=collator, generator=generator,
            num_workers=self.tcfg.num_workers,
        )
        eval_loaders = [DataLoader(e.features, batch_size=self.tcfg.eval_batch_size, collate_fn=collator)
                        for e in data.evals]
        batches = math.ceil(len(data.train) / (self.tcfg.batch_size * acc.num_processes))
        self.steps_per_epoch = max(1, math.ceil(batches / self.tcfg.grad_accum))
        self.total_steps = self.tcfg.max_steps or self.tcfg.epochs * self.steps_per_epoch

        set_seed(cfg.seed)  # the adapter's random init does not depend on how data loading went
        model = build_model(cfg.model, self.task.head, self.task.num_labels, self.tcfg.cls_dropout)
        try:
            self.adapted = apply_method(model, cfg.method, cfg.method_options, total_steps=self.total_steps)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        optimizer = self._optimizer(self.adapted)
        warmup = self.tcfg.warmup_steps
        if warmup is None:
            warmup = int((self.tcfg.warmup_ratio or 0.0) * self.total_steps)
        self.scheduler = get_linear_schedule_with_warmup(optimizer, warmup, self.total_steps)
        self.model, self.optimizer, self.train_loader, *self.eval_loaders = acc.prepare(
            self.adapted.model, optimizer, train_loader, *eval_loaders
        )
        self.evals = data.evals
        checkpoint.register_trainable_only(acc)
        self._resume_or_start()
        return self._train()

    def _optimizer(self, adapted: Adapted) -> torch.optim.Optimizer:
        if adapted.make_optimizer is not None:
            return adapted.make_optimizer(lr=self.tcfg.lr, weight_decay=self.tcfg.weight_decay)
        decay, no_decay = [], []
        for name, p in adapted.trainable_named_parameters():
            (no_decay if any(k in name for k in NO_DECAY) else decay).append(p)
        groups = [{"params": decay, "weight_decay": self.tcfg.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW([g for g in groups if g["params"]], lr=self.tcfg.lr,
                                 betas=tuple(self.tcfg.adam_betas), eps=self.tcfg.adam_eps)

    def _resume_or_start(self) -> None:
        latest = checkpoint.latest(self.run_dir)
        config_path = self.run_dir / "config.json"
        comparable = checkpoint.comparable_config(self.cfg.resolved)
        if latest is not None:
            saved = read_record(config_path) or {}
            diff = checkpoint.config_diff(saved, comparable)
            if diff:
                raise UserError(
                    f"{self.run_dir} holds a checkpoint made with other settings ({', '.join(diff)}); "
                    "rerun with the same settings, or overwrite=true to start over"
                )
            self.state = checkpoint.load(self.acc, latest, self.adapted)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # replaying the schedule, not training
                for _ in range(self.state.step):  # the linear schedule is a function of the step alone
                    self.scheduler.step()
            self.log.truncate_after(self.state.step)
            self.acc.print(f"resumed from {latest} at step {self.state.step}/{self.total_steps}")
        else:
            self.log.reset()
        if self.acc.is_main_process:
            atomic_write_json(config_path, comparable)
            from omegaconf import OmegaConf

            atomic_write_text(self.run_dir / "config.yaml", OmegaConf.to_yaml(self.cfg.resolved))
        self._write_record("running")
        self.started = True
        if self.cfg.logger.get("name") == "wandb":
            name = f"{self.cfg.model.name}/{self.cfg.task}/{self.cfg.method_tag}/seed{self.cfg.seed}"
            config = {k: v if isinstance(v, (int, float, str, bool)) or v is None else str(v)
                      for k, v in flatten(self.cfg.resolved).items()}
            config |= {f"params/{k}": v for k, v in self.adapted.counts().items()}
            self.acc.init_trackers(self.cfg.logger.get("project", "dcft"), config=config,
                                   init_kwargs=wandb_init_kwargs(self.cfg.logger, name, str(self.run_dir)))

    # -- train -------------------------------------------------------------------------------------
    def _train(self) -> dict[str, Any]:
        acc, st, tcfg = self.acc, self.state, self.tcfg
        params = [p for _, p in self.adapted.trainable_named_parameters()]
        guard = self.guard
        guard.arm()
        self.progress = tqdm(total=self.total_steps, initial=st.step, desc=f"{self.cfg.task} {self.cfg.method_tag}",
                             disable=not acc.is_local_main_process, dynamic_ncols=True)
        self.model.train()
        started = time.perf_counter() - st.train_time_s
        while st.step < self.total_steps:
            self.train_loader.set_epoch(st.epoch)
            loader = self.train_loader
            if st.batch_in_epoch:
                loader = acc.skip_first_batches(self.train_loader, st.batch_in_epoch)
            task_sum, reg_sum, micro = 0.0, 0.0, 0
            for batch in loader:
                with acc.accumulate(self.model):
                    out = self.model(**batch)
                    loss = out.loss
                    task_sum += loss.detach().float().item()
                    if self.adapted.regularizer is not None:
                        reg = self.adapted.regularizer()
                        reg_sum += reg.detach().float().item()
                        loss = loss + self.adapted.regularizer_coef * reg
                    acc.backward(loss)
                    if acc.sync_gradients and tcfg.max_grad_norm:
                        acc.clip_grad_norm_(params, tcfg.max_grad_norm)
                    self.optimizer.step()
                    if acc.sync_gradients:
                        self.scheduler.step()
                        if self.adapted.after_step is not None:
                            self.adapted.after_step(st.step)
                    self.optimizer.zero_grad()
                st.batch_in_epoch += 1
                st.samples += batch["input_ids"].shape[0] * acc.num_processes
                micro += 1
                if not acc.sync_gradients:
                    continue
                st.step += 1
                task_loss = self._mean_across(task_sum / micro)
                st.train_time_s = time.perf_counter() - started
                self._log_step(task_loss, reg_sum / micro if self.adapted.regularizer else None)
                task_sum, reg_sum, micro = 0.0, 0.0, 0
                if not math.isfinite(task_loss):
                    return self._finish("diverged", error=f"loss became {task_loss} at step {st.step}")
                if st.step % tcfg.eval_steps == 0 or st.step == self.total_steps:
                    self._evaluate()
                    started = time.perf_counter() - st.train_time_s  # evaluation time is not training time
                if tcfg.checkpoint_every and st.step % tcfg.checkpoint_every == 0 and st.step < self.total_steps:
                    self._checkpoint()
                stop, requeue = self._preemption_requested()
                if stop and st.step < self.total_steps:  # at the last step: just finish
                    self._checkpoint()
                    self._finish("preempted", error=f"signal {guard.signal_name or 'on another process'} "
                                                    f"at step {st.step}")
                    if acc.is_main_process and requeue:
                        guard.request_requeue()
                    raise SystemExit(checkpoint.REQUEUE_EXIT_CODE)
                if st.step >= self.total_steps:
                    break
            else:
                st.epoch += 1
                st.batch_in_epoch = 0
        self.progress.close()
        return self._finish("finished")

    def _preemption_requested(self) -> tuple[bool, bool]:
        """(stop, requeue) as any process saw it: checkpoints are collective, so all must stop at the same step."""
        if self.acc.num_processes == 1:
            return self.guard.requested, self.guard.requeue
        flags = torch.tensor([float(self.guard.requested), float(self.guard.requeue)], device=self.acc.device)
        stop, requeue = (self.acc.reduce(flags, reduction="sum") > 0).tolist()
        return stop, requeue

    def _mean_across(self, value: float) -> float:
        if self.acc.num_processes == 1:
            return value
        tensor = torch.tensor([value], device=self.acc.device)
        return self.acc.reduce(tensor, reduction="mean").item()

    def _log_step(self, task_loss: float, reg: float | None) -> None:
        st = self.state
        entry = {"step": st.step, "epoch": st.epoch, "loss": task_loss, "lr": self.scheduler.get_last_lr()[0],
                 "samples_per_s": st.samples / max(st.train_time_s, 1e-9)}
        if reg is not None:
            entry["regularizer"] = reg
        st.train_loss.append([st.step, task_loss])
        self.progress.update(1)
        self.progress.set_postfix(loss=f"{task_loss:.4f}", lr=f"{entry['lr']:.2e}",
                                  samples_s=f"{entry['samples_per_s']:.1f}", refresh=False)
        self.log.write(entry)
        self.acc.log({f"train/{k}": v for k, v in entry.items() if k != "step"}, step=st.step)

    def _evaluate(self) -> None:
        st, tcfg = self.state, self.tcfg
        t0 = time.perf_counter()
        metrics, predictions = {}, {}
        prefix = len(self.evals) > 1
        for eval_set, loader in zip(self.evals, self.eval_loaders, strict=True):
            split_metrics, preds = evaluate_split(self.acc, self.model, loader, eval_set, self.task, prefix)
            metrics.update(split_metrics)
            predictions[eval_set.name] = preds
        st.eval_time_s += time.perf_counter() - t0
        main = f"{self.evals[0].name}_{self.task.main_metric}" if prefix else self.task.main_metric
        st.main_metric = main
        st.final = {"step": st.step, "metrics": metrics}
        st.eval_curve.append([st.step, metrics])
        self.log.write({"step": st.step, "eval": metrics})
        self.acc.log({f"eval/{k}": v for k, v in metrics.items()}, step=st.step)
        value = metrics.get(main, float("nan"))
        if st.best is None or (math.isfinite(value) and value > st.best["metrics"].get(main, -math.inf)):
            st.best = {"step": st.step, "metrics": metrics}
            if self.acc.is_main_process:
                if tcfg.save_predictions:
                    for split, preds in predictions.items():
                        atomic_write_text(self.run_dir / f"predictions_{split}.jsonl",
                                          "".join(_json_line(p) for p in preds))
                if tcfg.save_adapter:
                    save_adapter(self.adapted, self.run_dir / "adapter", self._adapter_meta())
        if self.acc.is_main_process:
            self.progress.write(f"step {st.step}/{self.total_steps} eval {_short(metrics)} (best {main} "
                                f"{st.best['metrics'].get(main, float('nan')):.2f} @ {st.best['step']})")

    def _checkpoint(self) -> None:
        path = checkpoint.save(self.acc, self.run_dir, self.state, self.tcfg.keep_checkpoints, self.adapted)
        self.state.last_checkpoint = str(path)

    # -- records -----------------------------------------------------------------------------------
    def _adapter_meta(self) -> dict[str, Any]:
        return {"model": self.cfg.model.name, "task": self.cfg.task, "head": self.task.head,
                "num_labels": self.task.num_labels}

    def _finish(self, status: str, error: str | None = None) -> dict[str, Any]:
        record = self._write_record(status, error)
        if status == "diverged":
            raise Diverged(f"{error}; last good checkpoint: {self.state.last_checkpoint or 'none'}")
        return record

    def _write_record(self, status: str, error: str | None = None) -> dict[str, Any]:
        cfg, st = self.cfg, self.state
        adapted = getattr(self, "adapted", None)  # absent if the run failed before the model was built
        counts = adapted.counts() if adapted else {}
        record = {
            "schema": SCHEMA, "status": status, "model": cfg.model.name, "model_source": cfg.model.source,
            "task": cfg.task, "method": cfg.method, "method_tag": cfg.method_tag,
            "method_settings": adapted.settings if adapted else cfg.method_options, "seed": cfg.seed,
            "lr": self.tcfg.lr,
            "params": {"trainable": counts.get("trainable_params"), "head": counts.get("head_params"),
                       "total": counts.get("total_params")},
            "main_metric": st.main_metric or getattr(getattr(self, "task", None), "main_metric", None),
            "reporting_rule": self.tcfg.reporting_rule,
            "reported": st.final if self.tcfg.reporting_rule == "final" else st.best,
            "best": st.best, "final": st.final, "step": st.step, "total_steps": getattr(self, "total_steps", None),
            "curves": {"train_loss": _downsample(st.train_loss), "eval": st.eval_curve},
            "train_time_s": st.train_time_s, "eval_time_s": st.eval_time_s,
            "samples_per_s": st.samples / st.train_time_s if st.train_time_s else None,
            "peak_memory_mb": checkpoint.peak_memory_mb(), "num_processes": self.acc.num_processes,
            "mixed_precision": self.tcfg.mixed_precision,
            "last_checkpoint": st.last_checkpoint, "run_dir": str(self.run_dir),
            "trainer": asdict(self.tcfg), "overrides": _overrides(), "error": error, **self.env,
        }
        if adapted and adapted.final_state and status != "running":
            record["method_state"] = adapted.final_state()
        record = json.loads(json.dumps(record, default=jsonable))  # what readers of the file will see
        if self.acc.is_main_process:
            write_record(record, self.run_dir / "record.json", self.store)
        return record


def _downsample(points: list, limit: int = 500) -> list:
    if len(points) <= limit:
        return points
    stride = math.ceil(len(points) / limit)
    return points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])


def _json_line(obj: Any) -> str:
    return json.dumps(obj, default=jsonable) + "\n"


def _short(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.2f}" for k, v in metrics.items())


def _overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except Exception:
        return []
