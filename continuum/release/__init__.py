"""Safe releases (issue 16): replay the cluster's live histories against the working tree,
Worker Versioning (ramp, promote, rollback), the patch lifecycle, backup and restore."""
