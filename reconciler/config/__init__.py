"""Desired state from files: safe YAML with line marks, merging, built-in policies, the JSON Schema."""
