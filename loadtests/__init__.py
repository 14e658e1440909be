"""Locust load tests of the KBJU bot: simulated people, the replica front, the consistency checker."""
