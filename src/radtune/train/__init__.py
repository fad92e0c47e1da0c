"""Fine-tuning: examples from the exported rows (data), the answer-only collator (collator),
the vision warm-up (vision_warmup), the LoRA loop (loop), its checkpoints and fingerprints
(checkpoint), the stage (run). Torch runtime settings shared with merge/eval: radtune.runtime."""
