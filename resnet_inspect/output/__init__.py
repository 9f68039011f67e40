"""What people read: rich tables, exports, charts, report bundles."""
