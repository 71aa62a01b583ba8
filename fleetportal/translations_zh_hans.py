"""Simplified Chinese for portal-wide strings added after scripts/translations.py's core set."""

ZH_HANS = {
    "Staff": "管理",
    # 403.html: a staff page without its permission
    "Permission needed": "需要权限",
    "Your account does not have the permission this page needs. If your work requires it, ask "
    "an administrator of this portal to grant it.": (
        "您的账户没有此页面所需的权限。如工作需要，请联系本门户的管理员为您授予该权限。"
    ),
    "Back to the start page": "返回首页",
    # Staff permissions (fleetportal/permissions.py), shown in admin's permission lists
    "Can view the fleet roster and add VINs to it": "可查看车队名册并向其中添加 VIN",
    "Can view the token status page (link health and refreshes)": (
        "可查看令牌状态页面（关联健康状况与刷新情况）"
    ),
    "This account has no access to the admin.": "此账户无权访问管理后台。",
    "The task queue is not answering, so nothing was queued. Try again in a few minutes; if it keeps happening, tell the operator.": "任务队列没有响应，因此没有排队任何任务。请几分钟后重试；如果一直如此，请联系运维人员。",
}
