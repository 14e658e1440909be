"""Backups of the PostgreSQL database: pg_dump archives with a manifest that makes each one checkable."""

from kbjuctl.backup.create import CreatePlan, CreateResult, create_backup, plan_backup
from kbjuctl.backup.listing import BackupEntry, Listing, list_backups
from kbjuctl.backup.prune import PrunePlan, prune_backups
from kbjuctl.backup.restore import RestoreResult, reapply_erasures, restore_backup
from kbjuctl.backup.verify import VerifyResult, verify_backup

__all__ = ["BackupEntry", "CreatePlan", "CreateResult", "Listing", "PrunePlan", "RestoreResult", "VerifyResult",
           "create_backup", "list_backups", "plan_backup", "prune_backups", "reapply_erasures", "restore_backup",
           "verify_backup"]
