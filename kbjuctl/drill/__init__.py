"""Drills: real PostgreSQL clusters (Patroni, etcd, pgBackRest) started as local processes, broken on
purpose, and judged by one verdict each."""
