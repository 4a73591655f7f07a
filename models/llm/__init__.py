"""The generation half of the GenAI path: LLM tiers, the router, the semantic cache, prompts, generators."""
