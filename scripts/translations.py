"""Fill and compile the Simplified Chinese catalogue without GNU gettext.

`python scripts/translations.py` writes every translation below, and those in any app's
`translations_zh_hans.py` (a dict named ZH_HANS, so parallel work touches separate files), into
locale/zh_Hans/LC_MESSAGES/django.po (after `make messages` extracted new strings) and compiles
the .mo beside it. The test suite fails when a string has no translation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"

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
    # Linking Tesla accounts
    "Linking is not configured for this Tesla server: the operator must set %(id)s and "
    "%(secret)s.": "此特斯拉服务器尚未配置关联：运营方需设置 %(id)s 和 %(secret)s。",
    "Tesla accounts can only be linked from your dashboard, after signing in.": (
        "特斯拉账户只能在登录后从仪表板关联。"
    ),
    "This Tesla account is already linked to another portal user.": (
        "此特斯拉账户已关联到另一位门户用户。"
    ),
    "You cancelled at Tesla. No account was linked.": "您在特斯拉页面取消了操作，未关联任何账户。",
    "The answer came from a different Tesla sign-in server than the one this link was started "
    "with. Nothing was linked; please start again.": (
        "返回结果来自与发起关联时不同的特斯拉登录服务器。未关联任何账户，请重新开始。"
    ),
    "Tesla's sign-in server did not answer in time. Nothing was linked; please try again in a "
    "few minutes.": "特斯拉登录服务器未及时响应。未关联任何账户，请几分钟后重试。",
    "Tesla refused the sign-in code: it expired or was already used. Please start again.": (
        "特斯拉拒绝了登录代码：代码已过期或已被使用。请重新开始。"
    ),
    "Tesla reports that the redirect URI does not match the one registered for this portal. "
    "Ask the operator to check the redirect URI settings.": (
        "特斯拉报告重定向 URI 与本门户注册的不一致。请联系运营方检查重定向 URI 设置。"
    ),
    "Tesla refused this portal's client credentials. Ask the operator to check the Tesla client "
    "id and secret.": "特斯拉拒绝了本门户的客户端凭据。请联系运营方检查特斯拉客户端 ID 和密钥。",
    "Tesla refused the sign-in (%(error)s). Nothing was linked.": (
        "特斯拉拒绝了登录（%(error)s）。未关联任何账户。"
    ),
    "This portal is not yet registered with Tesla in your account's region. Nothing was linked; "
    "ask the operator to register the portal in every region.": (
        "本门户尚未在您账户所在区域向特斯拉注册。未关联任何账户；请联系运营方在所有区域完成注册。"
    ),
    "Tesla issued a token but could not tell the account's region (%(error)s). Nothing was "
    "linked; please try again later.": (
        "特斯拉已签发令牌，但无法确定账户所在区域（%(error)s）。未关联任何账户，请稍后重试。"
    ),
    "This link request could not be verified: it expired, was already used, or was started in "
    "another browser session. Nothing was linked; please start again from your dashboard.": (
        "无法验证此关联请求：请求已过期、已被使用，或是在另一个浏览器会话中发起的。"
        "未关联任何账户，请从仪表板重新开始。"
    ),
    "Linking the Tesla account failed. Nothing was linked; please start again.": (
        "关联特斯拉账户失败。未关联任何账户，请重新开始。"
    ),
    "Callback URL": "回调地址",
    "The whole address shown after you approved access at Tesla.": (
        "在特斯拉页面授权后显示的完整地址。"
    ),
    "This address has no sign-in result in it (it needs a state and a code).": (
        "此地址中没有登录结果（需要包含 state 和 code）。"
    ),
    "This address comes from an unknown Tesla sign-in server.": "此地址来自未知的特斯拉登录服务器。",
    "Global": "全球",
    "China": "中国",
    "Healthy": "正常",
    "Retrying": "重试中",
    "Needs relink": "需要重新关联",
    "Revoked": "已撤销",
    "authorization server": "授权服务器",
    "Tesla user id": "特斯拉用户 ID",
    "region": "区域",
    "Fleet API base URL": "Fleet API 基础地址",
    "Tesla account email": "特斯拉账户邮箱",
    "Tesla account name": "特斯拉账户名称",
    "granted scopes": "已授予的权限范围",
    "access token expires": "访问令牌过期时间",
    "refresh token issued": "刷新令牌签发时间",
    "last refresh": "上次刷新",
    "health": "状态",
    "reason": "原因",
    "linked": "关联时间",
    "Tesla link": "特斯拉关联",
    "Tesla links": "特斯拉关联",
    "Your Tesla account %(account)s needs to be linked again: the portal can no longer act for "
    "it.": "您的特斯拉账户 %(account)s 需要重新关联：门户已无法代表该账户操作。",
    "Reason:": "原因：",
    "Relink": "重新关联",
    "Account": "账户",
    "Region": "区域",
    "Health": "状态",
    "Access token expires": "访问令牌过期时间",
    "Last refresh": "上次刷新",
    "Scopes": "权限范围",
    "Actions": "操作",
    "Unlink": "解除关联",
    "Link Tesla account (China)": "关联特斯拉账户（中国）",
    "Link Tesla account (Global)": "关联特斯拉账户（全球）",
    "Not configured: the operator must set %(id)s and %(secret)s.": (
        "尚未配置：运营方需设置 %(id)s 和 %(secret)s。"
    ),
    "Finish a link by pasting Tesla's callback address": "粘贴特斯拉回调地址以完成关联",
    "Finish linking": "完成关联",
    "After you approved access at Tesla, your browser showed a page outside this portal. Copy "
    "that page's whole address and paste it here.": (
        "在特斯拉页面授权后，浏览器会显示一个门户之外的页面。请复制该页面的完整地址并粘贴到这里。"
    ),
    "Unlink Tesla account": "解除关联特斯拉账户",
    "Unlink %(account)s? The portal deletes its tokens at once and its vehicles are detached. "
    "You can link it again later.": (
        "确定解除关联 %(account)s？门户会立即删除其令牌，并解除其车辆关联。您之后可以再次关联。"
    ),
    "Cancel": "取消",
    "The Tesla account was unlinked and its tokens deleted.": "已解除关联该特斯拉账户并删除其令牌。",
}


def all_translations() -> dict[str, str]:
    merged = dict(ZH_HANS)
    for path in sorted(ROOT.glob("*/translations_zh_hans.py")):
        namespace: dict[str, object] = {}
        exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - our own file
        merged.update(namespace["ZH_HANS"])  # type: ignore[arg-type]
    return merged


def main() -> int:
    translations = all_translations()
    po = polib.pofile(str(PO))
    missing = []
    for entry in po:
        if entry.obsolete:
            continue
        if entry.msgid in translations:
            entry.msgstr = translations[entry.msgid]
            if "fuzzy" in entry.flags:
                entry.flags.remove("fuzzy")
            # The old msgid a fuzzy match left behind is history, not a translation.
            entry.previous_msgid = entry.previous_msgid_plural = entry.previous_msgctxt = None
        elif not entry.msgstr or entry.fuzzy:
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
