"""Fill and compile the Simplified Chinese catalogue without GNU gettext.

`python scripts/translations.py` writes every translation below into
locale/zh_Hans/LC_MESSAGES/django.po (after `make messages` extracted new strings) and compiles
the .mo beside it. The test suite fails when a string has no translation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polib

PO = Path(__file__).resolve().parent.parent / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"

ZH_HANS = {
    "Personal info": "个人信息",
    "Permissions": "权限",
    "Important dates": "重要日期",
    "Accounts": "账户",
    "email address": "电子邮件地址",
    "user": "用户",
    "users": "用户",
    "Dashboard": "仪表板",
    "Tesla accounts": "特斯拉账户",
    "You have not linked a Tesla account yet. Linking lets the portal list your vehicles and "
    "keep their data fresh.": "您尚未关联特斯拉账户。关联后，门户即可列出您的车辆并保持数据最新。",
    "Link Tesla account": "关联特斯拉账户",
    "coming soon": "即将推出",
    "English": "英语",
    "Simplified Chinese": "简体中文",
    "Too many requests": "请求过于频繁",
    "You have tried this too often in a short time. Please wait a few minutes and try again.": (
        "您在短时间内尝试次数过多。请稍候几分钟再试。"
    ),
    "Fleet Portal": "车队门户",
    "Admin": "管理后台",
    "Email addresses": "电子邮件地址",
    "Change password": "修改密码",
    "Sign out": "退出登录",
    "Sign in": "登录",
    "Sign up": "注册",
    "Language": "语言",
    "Switch": "切换",
    "Fleet Portal — a self-hosted portal for the Tesla Fleet API.": (
        "车队门户 — 自托管的特斯拉 Fleet API 门户。"
    ),
    "Welcome": "欢迎",
    "Your Tesla fleet, in one self-hosted portal": "您的特斯拉车队，尽在一个自托管门户",
    "Link your Tesla accounts (global or China), see your vehicles and VINs, and let staff "
    "configure Fleet Telemetry — with your tokens encrypted on your own server.": (
        "关联您的特斯拉账户（全球或中国），查看车辆与车架号，并由管理员配置 Fleet Telemetry — "
        "令牌加密保存在您自己的服务器上。"
    ),
    "Create an account": "创建账户",
    "Telemetry": "遥测",
    "Vehicles": "车辆",
}


def main() -> int:
    po = polib.pofile(str(PO))
    missing = []
    for entry in po:
        if entry.obsolete:
            continue
        if entry.msgid in ZH_HANS:
            entry.msgstr = ZH_HANS[entry.msgid]
            if "fuzzy" in entry.flags:
                entry.flags.remove("fuzzy")
        elif not entry.msgstr:
            missing.append(entry.msgid)
    po.metadata["Language"] = "zh_Hans"
    po.metadata["Content-Type"] = "text/plain; charset=UTF-8"
    po.metadata["Plural-Forms"] = "nplurals=1; plural=0;"
    po.save()
    po.save_as_mofile(str(PO.with_suffix(".mo")))
    for msgid in missing:
        print(f"untranslated: {msgid!r}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
