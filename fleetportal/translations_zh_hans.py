"""Simplified Chinese for portal-wide strings added after scripts/translations.py's core set."""

ZH_HANS = {
    "Staff": "管理",
    "The task queue is not answering, so nothing was queued. Try again in a few minutes; if it keeps happening, tell the operator.": "任务队列没有响应，因此没有排队任何任务。请几分钟后重试；如果一直如此，请联系运维人员。",
}
