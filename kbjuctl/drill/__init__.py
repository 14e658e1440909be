"""Drills: the runbook's risky steps run for real on local processes, each ending in one verdict."""
