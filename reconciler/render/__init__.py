"""Renderers: pure functions from values (plans, problems) to strings; printing is the CLI's job."""
