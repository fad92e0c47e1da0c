"""Fine-tuning: the answer-only collator (collator), the LoRA loop (loop), the stage (run)."""
