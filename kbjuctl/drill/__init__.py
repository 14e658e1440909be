"""Drills: the runbook's risky steps run for real on local processes (PostgreSQL clusters under Patroni,
etcd, pgBackRest, HAProxy, bot replicas of two releases), broken on purpose and judged by one verdict each."""
