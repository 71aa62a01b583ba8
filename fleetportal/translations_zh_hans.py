"""Simplified Chinese for portal-wide strings added after scripts/translations.py's core set."""

ZH_HANS = {
    "Staff": "管理",
}
