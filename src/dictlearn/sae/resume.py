"""Resuming train_sae after a kill, as train_lm resumes (lm/resume.py: the same files,
safetensors and JSON, written atomically to a `persist` folder every `checkpoint_every`
steps). Besides the SAE's weights, Adam's moments, the schedule and the resampling generator,
an SAE's training state holds its dead-feature statistics: when each latent last fired, the
firing counts for density, and the resampling counters; they travel as buffers of one module
(sae/trainer.py: TrainingState).
The reader is put back by drawing the same shuffled stream again and skipping the batches
already trained on (decoding is a small fraction of a step), so a resumed run ends with the
SAE an uninterrupted run ends with (CPU, fixed seed)."""

from __future__ import annotations

from dictlearn.lm.resume import Checkpoints

NOTE = ("train_sae keeps its checkpoints here while it trains (dictlearn/sae/resume.py): a "
        "killed run re-run with the same settings continues from the last one. A finished run "
        "leaves only this note.\n")


class SAECheckpoints(Checkpoints):
    note = NOTE
