"""Checks on what goes into the LLM (size, PII, prompt injection) and what comes out (grounding, numbers, policy)."""
