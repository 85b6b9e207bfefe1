"""The one training loop (accelerate): seed, build, prepare, train with evaluation and checkpoints, record."""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NoReturn

import torch
from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from dcft import checkpoint
from dcft.adapters import save_adapter
from dcft.config import RunConfig
from dcft.errors import UserError
from dcft.evaluation import evaluate_split
from dcft.io_utils import atomic_write_json, atomic_write_text, jsonable
from dcft.run_record import CellLock, build_record, downsample, read_record, write_record
from dcft.setup import build_data, build_method, build_optimizer
from dcft.threads import ThreadBudget
from dcft.tracking import MetricsLog, init_wandb

THREADS_REFRESH_STEPS = 20  # how often a run re-counts the jobs it shares the CPU with


class Diverged(RuntimeError):
    """The loss became NaN/inf; the record says where and which checkpoint was the last good one."""


def run(cfg: RunConfig) -> dict[str, Any]:
    """Train one cell. A finished cell is skipped unless overwrite=true; an unfinished one resumes."""
    run_dir, store = Path(cfg.run_dir), Path(cfg.record_path)
    previous = read_record(store)
    if previous and previous.get("status") == "finished" and not cfg.overwrite:
        print(f"skip: {store} is already finished (overwrite=true reruns it)")
        return previous
    _check_writable(cfg.results_dir)
    with ThreadBudget(cfg.trainer.threads) as threads:
        accelerator = _accelerator(cfg, run_dir)
        # From the start: a SLURM warning signal (USR1) that arrives while the run still sets up would kill it
        # (USR1's default action); caught here, it checkpoints at the first step boundary instead.
        guard = checkpoint.PreemptionGuard()  # SIGTERM too once training runs: guard.arm() in Trainer._train
        try:
            with CellLock(run_dir) if accelerator.is_main_process else nullcontext():
                if cfg.overwrite and previous and previous.get("status") == "finished" and accelerator.is_main_process:
                    _clear_run_dir(run_dir)
                accelerator.wait_for_everyone()
                trainer = Trainer(cfg, accelerator, threads, guard)
                try:
                    return trainer.fit()
                except (UserError, Diverged, SystemExit, KeyboardInterrupt):
                    raise
                except Exception as exc:  # out of memory, a library error ...: the record says failed, and why
                    if trainer.started:
                        trainer.write_record("failed", error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:500]}")
                    raise
        finally:
            guard.restore()
            for tracker in accelerator.trackers:  # not end_training(): the process group must outlive one job
                tracker.finish()                  # of a multirun launched under torchrun / accelerate launch


def _accelerator(cfg: RunConfig, run_dir: Path) -> Accelerator:
    # Jobs of one multirun share a process: each gets its own precision / accumulation settings, while the
    # process group (PartialState) set up by torchrun or `accelerate launch` is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    return Accelerator(
        cpu=not torch.cuda.is_available(),  # lets torchrun / `accelerate launch` run several CPU processes (gloo)
        mixed_precision=cfg.trainer.mixed_precision,
        gradient_accumulation_steps=cfg.trainer.grad_accum,
        log_with="wandb" if cfg.logger.get("name") == "wandb" else None,
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

    def __init__(self, cfg: RunConfig, accelerator: Accelerator, threads: ThreadBudget,
                 guard: checkpoint.PreemptionGuard) -> None:
        self.cfg, self.acc, self.threads, self.guard = cfg, accelerator, threads, guard
        self.run_dir, self.store = Path(cfg.run_dir), Path(cfg.record_path)
        self.tcfg = cfg.trainer
        self.log = MetricsLog(self.run_dir / "metrics.jsonl", enabled=accelerator.is_main_process)
        self.state = checkpoint.TrainState()
        self.adapted = self.task = self.total_steps = None
        self.started = False  # a record exists once training started; failures before it leave nothing

    def fit(self) -> dict[str, Any]:
        cfg, acc = self.cfg, self.acc
        set_seed(cfg.seed)
        with acc.main_process_first():
            self.task, data, train_loader, eval_loaders = build_data(cfg, acc.num_processes)
        self.evals = data.evals
        batches = math.ceil(len(data.train) / (self.tcfg.batch_size * acc.num_processes))
        self.total_steps = self.tcfg.max_steps or self.tcfg.epochs * max(1, math.ceil(batches / self.tcfg.grad_accum))
        set_seed(cfg.seed)  # the adapter's random init does not depend on how data loading went
        self.adapted = build_method(cfg, self.task, self.total_steps)
        optimizer = build_optimizer(self.adapted, self.tcfg)
        warmup = self.tcfg.warmup_steps
        if warmup is None:
            warmup = int((self.tcfg.warmup_ratio or 0.0) * self.total_steps)
        self.scheduler = get_linear_schedule_with_warmup(optimizer, warmup, self.total_steps)
        self.model, self.optimizer, self.train_loader, *self.eval_loaders = acc.prepare(
            self.adapted.model, optimizer, train_loader, *eval_loaders
        )
        checkpoint.register_trainable_only(acc)
        self._resume_or_start()
        return self._train()

    def _resume_or_start(self) -> None:
        latest = checkpoint.latest(self.run_dir)
        if latest is not None:
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
            atomic_write_json(self.run_dir / "config.json", self.cfg.computing)
            from omegaconf import OmegaConf

            atomic_write_text(self.run_dir / "config.yaml", OmegaConf.to_yaml(self.cfg.resolved))
        self.write_record("running")
        self.started = True
        if self.cfg.logger.get("name") == "wandb":
            init_wandb(self.acc, self.cfg, self.adapted.counts())

    # -- train -------------------------------------------------------------------------------------
    def _train(self) -> dict[str, Any]:
        acc, st, tcfg = self.acc, self.state, self.tcfg
        params = [p for _, p in self.adapted.trainable_named_parameters()]
        self.guard.arm()
        self.progress = tqdm(total=self.total_steps, initial=st.step, desc=f"{self.cfg.task} {self.cfg.method_tag}",
                             disable=not acc.is_local_main_process, dynamic_ncols=True)
        self.model.train()
        started = time.perf_counter() - st.train_time_s
        while st.step < self.total_steps:
            self.train_loader.set_epoch(st.epoch)
            loader = self.train_loader
            if st.batch_in_epoch:
                loader = acc.skip_first_batches(self.train_loader, st.batch_in_epoch)
            task_sum, reg_sum, micro = 0.0, 0.0, 0  # summed on the device: one sync per optimizer step
            for batch in loader:
                with acc.accumulate(self.model):
                    loss = self.model(**batch).loss
                    task_sum = task_sum + loss.detach().float()
                    if self.adapted.regularizer is not None:
                        reg = self.adapted.regularizer()
                        reg_sum = reg_sum + reg.detach().float()
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
                task_loss = self._mean_across(float(task_sum) / micro)
                st.train_time_s = time.perf_counter() - started
                self._log_step(task_loss, float(reg_sum) / micro if self.adapted.regularizer else None)
                task_sum, reg_sum, micro = 0.0, 0.0, 0
                if not math.isfinite(task_loss):
                    self._diverge(f"loss became {task_loss} at step {st.step}")
                if st.step % tcfg.eval_steps == 0 or st.step == self.total_steps:
                    self._evaluate()
                    started = time.perf_counter() - st.train_time_s  # evaluation time is not training time
                if tcfg.checkpoint_every and st.step % tcfg.checkpoint_every == 0 and st.step < self.total_steps:
                    self._checkpoint()
                if st.step % THREADS_REFRESH_STEPS == 0:
                    self.threads.refresh()
                stop, requeue = self._preemption_requested()
                if stop and st.step < self.total_steps:  # at the last step: just finish
                    self._preempt(requeue)
                if st.step >= self.total_steps:
                    break
            else:
                st.epoch += 1
                st.batch_in_epoch = 0
        self.progress.close()
        remove = not self.tcfg.keep_checkpoints_when_finished
        if remove:
            self.state.last_checkpoint = None
        record = self.write_record("finished")  # first the result, then the checkpoints it no longer needs
        if remove and self.acc.is_main_process:
            checkpoint.remove_all(self.run_dir)
        return record

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
                                          "".join(json.dumps(p, default=jsonable) + "\n" for p in preds))
                if tcfg.save_adapter:
                    save_adapter(self.adapted, self.run_dir / "adapter", self._adapter_meta())
        if self.acc.is_main_process:
            self.progress.write(f"step {st.step}/{self.total_steps} eval {_short(metrics)} (best {main} "
                                f"{st.best['metrics'].get(main, float('nan')):.2f} @ {st.best['step']})")

    def _checkpoint(self) -> None:
        path = checkpoint.save(self.acc, self.run_dir, self.state, self.tcfg.keep_checkpoints, self.adapted)
        self.state.last_checkpoint = str(path)

    def _preempt(self, requeue: bool) -> NoReturn:
        """SIGTERM / SIGUSR1: checkpoint, record `preempted`, exit 75; on USR1 (SLURM's time-limit warning) also
        ask SLURM to requeue this job (a SIGTERM'd job comes back only if the cluster requeues it)."""
        self._checkpoint()
        self.write_record("preempted", error=f"signal {self.guard.signal_name or 'on another process'} "
                                             f"at step {self.state.step}")
        if self.acc.is_main_process and requeue:
            self.guard.request_requeue()
        raise SystemExit(checkpoint.REQUEUE_EXIT_CODE)

    def _diverge(self, error: str) -> NoReturn:
        self.write_record("diverged", error=error)
        raise Diverged(f"{error}; last good checkpoint: {self.state.last_checkpoint or 'none'}")

    # -- records -----------------------------------------------------------------------------------
    def _adapter_meta(self) -> dict[str, Any]:
        return {"model": self.cfg.model.name, "task": self.cfg.task, "head": self.task.head,
                "num_labels": self.task.num_labels}

    def measurements(self, status: str) -> dict[str, Any]:
        """What this run adds to its record (dcft.run_record.build_record)."""
        st, counts = self.state, self.adapted.counts() if self.adapted else {}
        fields = {
            "method_settings": self.adapted.settings if self.adapted else self.cfg.method_options,
            "params": {"trainable": counts.get("trainable_params"), "head": counts.get("head_params"),
                       "total": counts.get("total_params")},
            "main_metric": st.main_metric or getattr(self.task, "main_metric", None),
            "reported": st.final if self.tcfg.reporting_rule == "final" else st.best,
            "best": st.best, "final": st.final, "step": st.step, "total_steps": self.total_steps,
            "curves": {"train_loss": downsample(st.train_loss), "eval": st.eval_curve},
            "train_time_s": st.train_time_s, "eval_time_s": st.eval_time_s,
            "samples_per_s": st.samples / st.train_time_s if st.train_time_s else None,
            "peak_memory_mb": checkpoint.peak_memory_mb(), "num_processes": self.acc.num_processes,
            "threads": torch.get_num_threads(), "last_checkpoint": st.last_checkpoint,
        }
        if self.adapted and self.adapted.final_state and status != "running":
            fields["method_state"] = self.adapted.final_state()
        return fields

    def write_record(self, status: str, error: str | None = None) -> dict[str, Any]:
        record = build_record(self.cfg, status, error=error, run=self)
        if self.acc.is_main_process:
            write_record(record, self.run_dir / "record.json", self.store)
        return record


def _short(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.2f}" for k, v in metrics.items())
