"""Simplified Chinese for telemetry configurations; merged by scripts/translations.py."""

ZH_HANS = {
    # Admin
    "Push to every assigned vehicle": "推送到所有已分配的车辆",
    "Pushes queued: %(n)d, vehicles: %(v)d.": "已排队推送：%(n)d 个，车辆：%(v)d 辆。",
    # Field catalogue
    "Location and navigation": "位置与导航",
    "Battery and charging": "电池与充电",
    "Driving": "驾驶",
    "Climate": "空调",
    "Doors and security": "车门与安全",
    "Media, lights and settings": "媒体、灯光与设置",
    "Vehicle and other": "车辆及其他",
    # Forms
    "Service alerts": "服务警报",
    "Alert types": "警报类型",
    "Port": "端口",
    "Expires": "到期时间",
    "The car drops the config after this moment; the portal re-signs it before then.": (
        "超过此时间车辆将丢弃该配置；门户会在此之前重新签名。"
    ),
    "Field": "字段",
    "Interval (s)": "间隔（秒）",
    "Resend interval (s)": "重发间隔（秒）",
    "Enter a whole number of seconds, at least 1.": "请输入整数秒数，至少为 1。",
    "%(name)s is listed twice.": "%(name)s 重复列出。",
    "Add at least one field.": "请至少添加一个字段。",
    "VINs": "车架号",
    "One or more VINs, separated by spaces, commas or new lines.": (
        "一个或多个车架号，以空格、逗号或换行分隔。"
    ),
    "Enter at least one VIN.": "请至少输入一个车架号。",
    "Not a VIN: %(vins)s": "不是车架号：%(vins)s",
    # Models
    "Car default": "车辆默认",
    "Latest (resend un-acknowledged data)": "最新（重发未确认的数据）",
    "name": "名称",
    "server host name": "服务器主机名",
    "port": "端口",
    "CA certificate chain (PEM)": "CA 证书链（PEM）",
    "expires": "到期时间",
    "delivery policy": "投递策略",
    "alert types": "警报类型",
    "prefer typed values": "优先使用类型化值",
    "created": "创建时间",
    "updated": "更新时间",
    "telemetry configuration": "遥测配置",
    "telemetry configurations": "遥测配置",
    "Can build, assign, push and remove telemetry configurations": "可以创建、分配、推送和移除遥测配置",
    "field": "字段",
    "interval (s)": "间隔（秒）",
    "minimum change": "最小变化量",
    "resend interval (s)": "重发间隔（秒）",
    "telemetry field": "遥测字段",
    "telemetry fields": "遥测字段",
    "version": "版本",
    "content hash": "内容哈希",
    "config body": "配置内容",
    "telemetry configuration version": "遥测配置版本",
    "telemetry configuration versions": "遥测配置版本",
    "assigned": "分配时间",
    "telemetry assignment": "遥测分配",
    "telemetry assignments": "遥测分配",
    "Push": "推送",
    "Re-sign": "重新签名",
    "Removal": "移除",
    "Queued": "排队中",
    "Running": "运行中",
    "Done": "已完成",
    "Failed": "失败",
    "kind": "类型",
    "status": "状态",
    "vehicles": "车辆",
    "linked accounts": "关联账户",
    "linked accounts done": "已完成的关联账户",
    "error": "错误",
    "queued": "排队时间",
    "started": "开始时间",
    "finished": "完成时间",
    "telemetry push": "遥测推送",
    "telemetry pushes": "遥测推送",
    "Pending": "等待中",
    "Accepted, waiting for the car": "已接受，等待车辆",
    "Skipped": "已跳过",
    "Synced": "已同步",
    "Rejected by the car": "被车辆拒绝",
    "Different config on the car": "车辆上的配置不同",
    "Car at its limit of streaming apps": "车辆的数据流应用已达上限",
    "Replaced by a newer version": "已被新版本替换",
    "Removing": "移除中",
    "Removed": "已移除",
    "reason": "原因",
    "pushed": "推送时间",
    "synced": "同步时间",
    "checked": "检查时间",
    "removed": "移除时间",
    "telemetry deployment": "遥测部署",
    "telemetry deployments": "遥测部署",
    "Created": "已创建",
    "Edited": "已编辑",
    "Assigned": "已分配",
    "Unassigned": "已取消分配",
    "Pushed": "已推送",
    "Re-signed": "已重新签名",
    "who": "操作人",
    "action": "操作",
    "configuration": "配置",
    "outcome": "结果",
    "when": "时间",
    "telemetry audit entry": "遥测审计记录",
    "telemetry audit log": "遥测审计日志",
    # Services
    "new version": "新版本",
    "content unchanged": "内容未变",
    "The config includes location fields, but the owner's Tesla account did not grant "
    "vehicle_location: relink it with that permission or remove the location fields.": (
        "该配置包含位置字段，但车主的特斯拉账户未授予 vehicle_location 权限：请带此权限重新关联，或移除位置字段。"
    ),
    "No linked owner account lists this vehicle: Tesla accepts telemetry configs only from "
    "the owner's account.": (
        "没有已关联的车主账户列出此车辆：特斯拉只接受来自车主账户的遥测配置。"
    ),
    "No linked owner account lists this vehicle.": "没有已关联的车主账户列出此车辆。",
    "queued for the worker": "已排队，等待处理",
    "The Tesla account needs a relink: %(why)s": "特斯拉账户需要重新关联：%(why)s",
    "nothing to do": "无需操作",
    "The config was signed with a key the car does not hold: pair the portal's current key on "
    "the car (or register that key with Tesla), then push again.": (
        "该配置使用车辆未持有的密钥签名：请在车辆上配对门户当前的密钥（或向特斯拉注册该密钥），然后重新推送。"
    ),
    "Wrong key type: cars accept only NIST P-256 (prime256v1) keys. Use a P-256 key for the "
    "application, register it and pair it again.": (
        "密钥类型错误：车辆只接受 NIST P-256（prime256v1）密钥。请为应用使用 P-256 密钥，注册并重新配对。"
    ),
    "The signature did not verify on the car: the config was changed after signing or signed "
    "with another key. Push it again.": (
        "车辆未能验证签名：配置在签名后被更改，或使用了其他密钥签名。请重新推送。"
    ),
    "The car refused the telemetry server's TLS certificate: check the CA chain in the config "
    "against the server's certificate.": (
        "车辆拒绝了遥测服务器的 TLS 证书：请对照服务器证书检查配置中的 CA 证书链。"
    ),
    # Validation
    "Enter the host name of your telemetry server.": "请输入遥测服务器的主机名。",
    "Give the bare host name without a scheme, e.g. telemetry.example.com.": (
        "请填写不带协议的主机名，例如 telemetry.example.com。"
    ),
    "Give the bare host name without a path, e.g. telemetry.example.com.": (
        "请填写不带路径的主机名，例如 telemetry.example.com。"
    ),
    "The host name must be lower case.": "主机名必须为小写。",
    "Give the port in the port field, not in the host name.": "请在端口字段中填写端口，而不是写在主机名中。",
    "An IP address is not accepted: give the DNS name of the server.": (
        "不接受 IP 地址：请填写服务器的 DNS 名称。"
    ),
    "localhost is not reachable from a vehicle: give the server's public DNS name.": (
        "车辆无法访问 localhost：请填写服务器的公网 DNS 名称。"
    ),
    "%(host)s is not a valid DNS host name.": "%(host)s 不是有效的 DNS 主机名。",
    "The host name must be under %(root)s, the root of the partner domain registered with "
    "Tesla (%(domain)s).": (
        "主机名必须位于 %(root)s 之下，即在特斯拉注册的合作伙伴域名（%(domain)s）的根域名。"
    ),
    "The port must be a number from 1 to 65535.": "端口必须是 1 到 65535 之间的数字。",
    "Paste the CA certificate chain (PEM) the vehicle should trust.": (
        "请粘贴车辆应信任的 CA 证书链（PEM）。"
    ),
    "This contains a private key. Paste only the CA certificates: the private key must never "
    "leave your telemetry server.": (
        "其中包含私钥。请只粘贴 CA 证书：私钥绝不能离开您的遥测服务器。"
    ),
    "This is not PEM: it must start with -----BEGIN CERTIFICATE-----.": (
        "这不是 PEM 格式：必须以 -----BEGIN CERTIFICATE----- 开头。"
    ),
    "Only CERTIFICATE blocks are allowed in the CA chain.": "CA 证书链中只允许 CERTIFICATE 块。",
    "A certificate in the chain cannot be read: check that it was pasted whole.": (
        "证书链中有证书无法读取：请检查是否完整粘贴。"
    ),
    "Certificate %(n)d (%(subject)s) expired on %(date)s.": "证书 %(n)d（%(subject)s）已于 %(date)s 过期。",
    "Certificate %(n)d (%(subject)s) is not valid before %(date)s.": (
        "证书 %(n)d（%(subject)s）在 %(date)s 之前无效。"
    ),
    "The expiry must be in the future.": "到期时间必须在未来。",
    "%(name)s is a placeholder in Tesla's list, not a signal a car sends.": (
        "%(name)s 是特斯拉列表中的占位项，不是车辆会发送的信号。"
    ),
    "%(name)s is not a Fleet Telemetry field.": "%(name)s 不是 Fleet Telemetry 字段。",
    "The minimum change must be greater than 0.": "最小变化量必须大于 0。",
    # Views
    "Saved %(name)s, version %(number)d.": "已保存 %(name)s，版本 %(number)d。",
    "Vehicles assigned: %(n)d.": "已分配车辆：%(n)d 辆。",
    "Not known to the portal (sync the owner's account first): %(vins)s": (
        "门户中不存在（请先同步车主账户）：%(vins)s"
    ),
    "Push queued for %(n)d vehicles.": "已为 %(n)d 辆车排队推送。",
    "Choose the vehicles to remove the config from.": "请选择要移除该配置的车辆。",
    "Removal queued for %(n)d vehicles.": "已为 %(n)d 辆车排队移除。",
    # Templates
    "Telemetry configurations": "遥测配置",
    "New configuration": "新建配置",
    "Error inbox": "错误收件箱",
    "Name": "名称",
    "Server": "服务器",
    "Fields": "字段",
    "Vehicles": "车辆",
    "No telemetry configuration yet.": "尚无遥测配置。",
    "Edit %(name)s": "编辑 %(name)s",
    "New telemetry configuration": "新建遥测配置",
    "Saving a changed configuration makes a new version; cars keep the version they have until "
    "you push again.": "保存已更改的配置会生成新版本；在您再次推送之前，车辆保留现有版本。",
    "Minimum change": "最小变化量",
    "Resend (s)": "重发（秒）",
    "Remove": "移除",
    "Location fields (%(fields)s) need the vehicle_location permission on the owner's Tesla "
    "account.": "位置字段（%(fields)s）需要车主的特斯拉账户授予 vehicle_location 权限。",
    "Field catalogue": "字段目录",
    "Search fields": "搜索字段",
    "Save": "保存",
    "Cancel": "取消",
    "Edit": "编辑",
    "All configurations": "所有配置",
    "Current version": "当前版本",
    "never": "永不",
    "Assigned vehicles without the current version: %(n)s.": "未使用当前版本的已分配车辆：%(n)s 辆。",
    "Latest push": "最近一次推送",
    "%(kind)s of version %(number)s to %(total)s vehicles: %(status)s": (
        "版本 %(number)s 的%(kind)s（%(total)s 辆车）：%(status)s"
    ),
    "Not pushed yet.": "尚未推送。",
    "Not pushed yet": "尚未推送",
    "Assign": "分配",
    "VIN": "车架号",
    "Version": "版本",
    "Status": "状态",
    "When": "时间",
    "Problem": "问题",
    "Push to selected (all when none selected)": "推送到所选车辆（未选择时推送全部）",
    "Remove from selected vehicles": "从所选车辆移除",
    "No vehicle is assigned to this configuration.": "此配置尚未分配任何车辆。",
    "Audit log": "审计日志",
    "system": "系统",
    "Nothing yet.": "暂无。",
    "Telemetry error inbox": "遥测错误收件箱",
    "Reported by the cars (all vehicles)": "车辆上报的错误（所有车辆）",
    "Error": "错误",
    "What it means": "含义",
    "No errors reported.": "没有上报错误。",
    "Failed or rejected deployments": "失败或被拒绝的部署",
    "Configuration": "配置",
    "None.": "无。",
    "Telemetry": "遥测",
    "Last change": "最近变更",
    "No telemetry configuration is assigned to this vehicle.": "此车辆未分配遥测配置。",
    "Telemetry errors reported by this vehicle": "此车辆上报的遥测错误",
    "Errors reported by the vehicle": "车辆上报的错误",
    "Back to the vehicle": "返回车辆",
    # Whose link a car's telemetry page uses
    "Your Tesla account needs a relink: %(why)s": "您的特斯拉账户需要重新关联：%(why)s",
    "Tesla shows a vehicle's telemetry errors only to its owner's account, and your Tesla "
    "account has driver access to this vehicle. Ask the owner to link their Tesla account.": (
        "特斯拉只向车主账户显示车辆的遥测错误，而您的特斯拉账户对此车辆只有驾驶员权限。"
        "请让车主关联其特斯拉账户。"
    ),
    "The owner's Tesla account needs a relink.": "车主的特斯拉账户需要重新关联。",
    "through the Tesla account %(account)s of %(owner)s": "通过 %(owner)s 的特斯拉账户 %(account)s",
    "Errors read through an owner's link": "通过车主的关联读取错误",
    "errors reported: %(n)d": "上报的错误：%(n)d",
    "Asked through your Tesla account %(account)s.": "已通过您的特斯拉账户 %(account)s 查询。",
    "You have no Tesla account of your own linked to this vehicle. Tesla shows its telemetry "
    "errors only to an account that lists it: reading them uses the Tesla account %(account)s "
    "of %(owner)s, and is recorded in the telemetry audit log.": (
        "您自己没有关联可访问此车辆的特斯拉账户。特斯拉只向列出此车辆的账户显示其遥测错误："
        "读取这些错误将使用 %(owner)s 的特斯拉账户 %(account)s，并记录在遥测审计日志中。"
    ),
    "Read the errors through this account": "通过此账户读取错误",
}
