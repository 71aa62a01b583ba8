"""Simplified Chinese for partner onboarding; merged by scripts/translations.py."""

ZH_HANS = {
    # Permission and audit log
    "Can manage partner onboarding: application key, registration, pairing links": (
        "可管理合作伙伴接入：应用密钥、区域注册、配对链接"
    ),
    "Key generated": "已生成密钥",
    "Key imported": "已导入密钥",
    "Registration": "注册",
    "Registration check": "注册检查",
    "Succeeded": "成功",
    "Failed": "失败",
    "Refused": "已拒绝",
    "key fingerprint": "密钥指纹",
    "replaced key": "被替换的密钥",
    "detail": "详情",
    "partner audit entry": "合作伙伴审计条目",
    "partner audit log": "合作伙伴审计日志",
    "Audit log": "审计日志",
    "Every key change and registration, from these pages, the admin and the command line. The "
    "newest entries are shown; the whole log is in the admin.": (
        "来自本页面、管理后台和命令行的每一次密钥变更与注册。此处显示最新条目；完整日志见管理后台。"
    ),
    "When": "时间",
    "Who": "操作者",
    "Action": "操作",
    "Outcome": "结果",
    "Detail": "详情",
    "key %(fingerprint)s": "密钥 %(fingerprint)s",
    "(replaced %(fingerprint)s)": "（替换了 %(fingerprint)s）",
    "Nothing recorded yet.": "尚无记录。",
    # Admin
    "What to do": "处理方法",
    "Register again with Tesla": "向特斯拉重新注册",
    "Registered: %(ok)s. Not registered: %(failed)s.": "已注册：%(ok)s。未注册：%(failed)s。",
    # Advice
    "Nothing to do: Tesla holds this portal's key for %(domain)s.": (
        "无需操作：特斯拉已持有本门户用于 %(domain)s 的密钥。"
    ),
    "Tesla does not accept this application in %(region)s yet. Check that %(id)s belongs to the "
    "application on %(portal)s, then register again; a newly created application can take about "
    "an hour before Tesla accepts it.": (
        "特斯拉尚未在 %(region)s 接受此应用。请确认 %(id)s 属于 %(portal)s 上的该应用，然后重新注册；"
        "新创建的应用可能需要约一小时才会被特斯拉接受。"
    ),
    "Tesla refused the domain or the key. Make sure %(domain)s shares its root with an allowed "
    "origin of the application, and that the public key URL answers 200 over HTTPS, without "
    "redirects, with the P-256 key shown below.": (
        "特斯拉拒绝了该域名或密钥。请确认 %(domain)s 与应用的某个允许来源（allowed origin）具有相同的根域名，"
        "并且公钥地址通过 HTTPS 直接返回 200（无重定向），内容为下方显示的 P-256 密钥。"
    ),
    "Tesla refused the partner token for %(region)s. Register again; if it persists, check that "
    "the application on %(portal)s is a partner application.": (
        "特斯拉拒绝了 %(region)s 的合作伙伴令牌。请重新注册；如仍失败，请确认 %(portal)s 上的应用是合作伙伴应用。"
    ),
    "Tesla's sign-in server refused the application's credentials: check %(id)s and %(secret)s "
    "against the application on %(portal)s.": (
        "特斯拉登录服务器拒绝了应用凭据：请对照 %(portal)s 上的应用检查 %(id)s 和 %(secret)s。"
    ),
    "Tesla did not answer properly. Try again in a few minutes; registering again is safe.": (
        "特斯拉未正常响应。请几分钟后重试；重新注册不会造成问题。"
    ),
    "The portal's key was replaced after registering, so Tesla still holds the old one and cars "
    "will reject the new one: register %(region)s again.": (
        "门户密钥在注册后已被替换，特斯拉仍持有旧密钥，车辆将拒绝新密钥：请重新注册 %(region)s。"
    ),
    "Tesla holds a different key for %(domain)s than the one this portal serves. Register "
    "%(region)s again so Tesla fetches the current key; vehicles paired with the old key must be "
    "paired again.": (
        "特斯拉为 %(domain)s 持有的密钥与本门户提供的不同。请重新注册 %(region)s，让特斯拉获取当前密钥；"
        "使用旧密钥配对的车辆需要重新配对。"
    ),
    "Tesla accepted the registration but shows no key for %(domain)s. Register %(region)s "
    "again.": "特斯拉接受了注册，但未显示 %(domain)s 的密钥。请重新注册 %(region)s。",
    "Read Tesla's message above, fix the cause and register %(region)s again.": (
        "请阅读上方特斯拉的消息，排除原因后重新注册 %(region)s。"
    ),
    "Register %(region)s once the pre-flight checks pass.": "预检通过后请注册 %(region)s。",
    # App, forms
    "Partner onboarding": "合作伙伴接入",
    "All regions": "所有区域",
    "Replace the existing key (every region must be registered again)": (
        "替换现有密钥（所有区域都必须重新注册）"
    ),
    "VIN": "车架号",
    "A VIN has 17 letters and digits, without I, O or Q.": (
        "车架号由 17 位字母和数字组成，不含 I、O 或 Q。"
    ),
    # Keys
    "This is not a PEM file: expected a private key block labelled EC PRIVATE KEY (SEC1) or "
    "PRIVATE KEY (PKCS#8).": (
        "这不是 PEM 文件：应包含标记为 EC PRIVATE KEY（SEC1）或 PRIVATE KEY（PKCS#8）的私钥内容块。"
    ),
    "This is a public key (or certificate), but the private key is needed: the file whose block "
    "is labelled EC PRIVATE KEY or PRIVATE KEY. The portal derives the public key from it.": (
        "这是公钥（或证书），但需要的是私钥：即内容块标记为 EC PRIVATE KEY 或 PRIVATE KEY 的文件。"
        "门户会从私钥推导出公钥。"
    ),
    "This private key is protected by a passphrase. Remove it first (openssl ec -in "
    "encrypted.pem -out private-key.pem) and import the result.": (
        "此私钥受密码保护。请先移除密码（openssl ec -in encrypted.pem -out private-key.pem），再导入结果。"
    ),
    "This private key is protected by a passphrase.": "此私钥受密码保护。",
    "The PEM could not be read as a private key: it is damaged or incomplete.": (
        "无法将该 PEM 读取为私钥：文件已损坏或不完整。"
    ),
    "This is an RSA key. Tesla only accepts EC keys on the P-256 curve (prime256v1, secp256r1): "
    "openssl ecparam -name prime256v1 -genkey -noout -out private-key.pem": (
        "这是 RSA 密钥。特斯拉只接受 P-256 曲线（prime256v1、secp256r1）上的 EC 密钥："
        "openssl ecparam -name prime256v1 -genkey -noout -out private-key.pem"
    ),
    "This is a %(kind)s key. Tesla only accepts EC keys on the P-256 curve (prime256v1, "
    "secp256r1).": "这是 %(kind)s 密钥。特斯拉只接受 P-256 曲线（prime256v1、secp256r1）上的 EC 密钥。",
    "This EC key is on the %(curve)s curve. Tesla only accepts P-256 (prime256v1, secp256r1).": (
        "此 EC 密钥位于 %(curve)s 曲线上。特斯拉只接受 P-256（prime256v1、secp256r1）。"
    ),
    # Models
    "private key file": "私钥文件",
    "public key (PEM)": "公钥（PEM）",
    "public key (hex)": "公钥（十六进制）",
    "fingerprint (SHA-256)": "指纹（SHA-256）",
    "created": "创建时间",
    "last replaced": "上次替换时间",
    "application key": "应用密钥",
    "application keys": "应用密钥",
    "Not registered": "未注册",
    "Registered": "已注册",
    "Key mismatch": "密钥不一致",
    "Error": "错误",
    "None": "无",
    "Not accepted in this region": "此区域未接受",
    "Domain or key refused": "域名或密钥被拒绝",
    "Partner token refused": "合作伙伴令牌被拒绝",
    "Credentials refused": "凭据被拒绝",
    "Tesla unavailable": "特斯拉不可用",
    "Our key changed": "本方密钥已更改",
    "Tesla holds another key": "特斯拉持有其他密钥",
    "Tesla holds no key": "特斯拉未持有密钥",
    "Other": "其他",
    "domain": "域名",
    "state": "状态",
    "problem": "问题",
    "Tesla's message": "特斯拉的消息",
    "key held by Tesla": "特斯拉持有的密钥",
    "registered": "注册时间",
    "checked": "检查时间",
    "partner registration": "合作伙伴注册",
    "partner registrations": "合作伙伴注册",
    "partner token": "合作伙伴令牌",
    "partner tokens": "合作伙伴令牌",
    # Selectors
    "No application key exists yet.": "尚无应用密钥。",
    "The private key file %(path)s cannot be read.": "无法读取私钥文件 %(path)s。",
    "The private key file no longer matches the registered public key.": (
        "私钥文件与已登记的公钥不再匹配。"
    ),
    "No partner domain: set TESLA_PARTNER_DOMAIN (or PORTAL_PUBLIC_URL).": (
        "没有合作伙伴域名：请设置 TESLA_PARTNER_DOMAIN（或 PORTAL_PUBLIC_URL）。"
    ),
    "The domain %(domain)s contains a scheme: give the bare host, e.g. example.com.": (
        "域名 %(domain)s 包含协议：请只填写主机名，例如 example.com。"
    ),
    "The domain %(domain)s contains a path: give the bare host, e.g. example.com.": (
        "域名 %(domain)s 包含路径：请只填写主机名，例如 example.com。"
    ),
    "The domain %(domain)s must be lower case.": "域名 %(domain)s 必须为小写。",
    "The domain %(domain)s contains a port: Tesla fetches the key over HTTPS on port 443 (only "
    "the sandbox accepts a loopback host with a port).": (
        "域名 %(domain)s 包含端口：特斯拉通过 HTTPS 在 443 端口获取密钥（只有沙盒接受带端口的本机地址）。"
    ),
    "%(domain)s is not a valid host name.": "%(domain)s 不是有效的主机名。",
    # Services
    "An application key already exists (fingerprint %(fingerprint)s). Replacing it breaks every "
    "registration and every paired vehicle until they are redone; confirm to replace it.": (
        "应用密钥已存在（指纹 %(fingerprint)s）。替换后，所有注册和已配对车辆都将失效，直到重新注册和配对；"
        "请确认后再替换。"
    ),
    "TESLA_PRIVATE_KEY_FILE must be an absolute path, not %(path)s.": (
        "TESLA_PRIVATE_KEY_FILE 必须是绝对路径，而不是 %(path)s。"
    ),
    "TESLA_PRIVATE_KEY_FILE must be outside the project folder and every static or media "
    "folder, but %(path)s is inside %(dir)s: use a path such as "
    "/etc/fleetportal/tesla-private-key.pem.": (
        "TESLA_PRIVATE_KEY_FILE 必须位于项目目录及所有静态文件或媒体文件目录之外，但 %(path)s 位于 "
        "%(dir)s 内：请使用 /etc/fleetportal/tesla-private-key.pem 这样的路径。"
    ),
    "The folder of TESLA_PRIVATE_KEY_FILE (%(dir)s) does not exist.": (
        "TESLA_PRIVATE_KEY_FILE 所在的文件夹（%(dir)s）不存在。"
    ),
    "No credentials for this region: the operator must set %(id)s and %(secret)s.": (
        "此区域没有凭据：运营方需设置 %(id)s 和 %(secret)s。"
    ),
    "Unknown region %(region)s.": "未知区域 %(region)s。",
    "There is no application key yet: generate or import one first.": (
        "尚无应用密钥：请先生成或导入一个。"
    ),
    "Domain is a bare host": "域名为纯主机名",
    "Tesla will be given the domain %(domain)s.": "将向特斯拉提交域名 %(domain)s。",
    "Credentials for %(region)s": "%(region)s 的凭据",
    "%(id)s and %(secret)s are set.": "%(id)s 和 %(secret)s 已设置。",
    "Set %(id)s and %(secret)s.": "请设置 %(id)s 和 %(secret)s。",
    "Application key is EC P-256": "应用密钥为 EC P-256",
    "There is no application key yet: generate or import one.": "尚无应用密钥：请生成或导入一个。",
    "The stored key is not on the P-256 curve.": "已保存的密钥不在 P-256 曲线上。",
    "Fingerprint %(fingerprint)s.": "指纹 %(fingerprint)s。",
    "Public key served at %(url)s": "公钥发布于 %(url)s",
    "Nothing to serve until a key exists.": "密钥生成前没有可发布的内容。",
    "Not reachable (%(error)s).": "无法访问（%(error)s）。",
    "It redirects to %(location)s; Tesla does not follow redirects.": (
        "它重定向到 %(location)s；特斯拉不会跟随重定向。"
    ),
    "It answers HTTP %(status)s.": "它返回 HTTP %(status)s。",
    "It does not serve a PEM public key.": "它提供的不是 PEM 公钥。",
    "It serves a different key than this portal's.": "它提供的密钥与本门户的不同。",
    "It serves this portal's key.": "它提供的是本门户的密钥。",
    "Domain matches an allowed origin": "域名与允许来源匹配",
    "Unknown: TESLA_ALLOWED_ORIGINS is not set. Tesla requires the domain to share its root with "
    "one of the application's allowed origins.": (
        "未知：未设置 TESLA_ALLOWED_ORIGINS。特斯拉要求域名与应用的某个允许来源具有相同的根域名。"
    ),
    "%(domain)s shares its root with none of: %(origins)s.": (
        "%(domain)s 与以下任何一个的根域名都不相同：%(origins)s。"
    ),
    "Same root as %(origin)s.": "与 %(origin)s 根域名相同。",
    # Templates
    "Pairing link": "配对链接",
    "Show pairing link": "显示配对链接",
    "Open this link on the phone that has the Tesla app, or scan the code, to add this portal's "
    "key to the vehicle:": "在装有特斯拉应用的手机上打开此链接或扫描二维码，将本门户的密钥添加到车辆：",
    "QR code of the pairing link": "配对链接的二维码",
    "Back to partner onboarding": "返回合作伙伴接入",
    "Tesla must know this portal's domain and public key in every region it serves. Work from "
    "the top: key, pre-flight checks, then registration.": (
        "特斯拉必须在本门户服务的每个区域登记其域名和公钥。请自上而下操作：密钥、预检，然后注册。"
    ),
    "Application key": "应用密钥",
    "Curve": "曲线",
    "Fingerprint (SHA-256)": "指纹（SHA-256）",
    "Private key stored": "私钥保存位置",
    "in the file %(path)s (mode 0600)": "文件 %(path)s 中（权限 0600）",
    "encrypted in the database": "加密保存在数据库中",
    "Created": "创建时间",
    "Last replaced": "上次替换时间",
    "Public key (PEM)": "公钥（PEM）",
    "Served at:": "发布地址：",
    "There is no application key yet.": "尚无应用密钥。",
    "Replace key": "替换密钥",
    "Generate key": "生成密钥",
    "Pre-flight checks": "预检",
    "Registration of %(domain)s": "%(domain)s 的注册",
    "State": "状态",
    "Checked": "检查时间",
    "Register": "注册",
    "Check": "检查",
    "Register in all regions": "在所有区域注册",
    # Views
    "A new application key was created (fingerprint %(fingerprint)s).": (
        "已创建新的应用密钥（指纹 %(fingerprint)s）。"
    ),
    "%(region)s: %(state)s.": "%(region)s：%(state)s。",
    "%(region)s was not registered: %(reason)s": "%(region)s 未注册：%(reason)s",
    "%(region)s: registered, and Tesla holds this portal's key.": (
        "%(region)s：已注册，特斯拉持有本门户的密钥。"
    ),
    "%(region)s: %(state)s. %(advice)s": "%(region)s：%(state)s。%(advice)s",
}
