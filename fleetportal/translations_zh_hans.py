"""Simplified Chinese for portal-wide strings added after scripts/translations.py's core set."""

ZH_HANS = {
    "Staff": "管理",
    "This account has no access to the admin.": "此账户无权访问管理后台。",
}
