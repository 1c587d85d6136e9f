package web

import (
	"html/template"
	"strings"
	"time"

	"github.com/courtledger/courtledger/evidence/certificate"
)

// message is one string of the pages in Chinese (the default) and English.
type message struct{ zh, en string }

// messages are the pages' words. Keys with a "js." prefix are also handed
// to the page script (scriptStrings), which builds the verdict panels.
var messages = map[string]message{
	"title":             {"电子证据核验", "Evidence verification"},
	"nav.verify":        {"核验文件", "Verify a file"},
	"nav.certificate":   {"核验证书", "Check a certificate"},
	"nav.status":        {"法院状态", "Court status"},
	"nav.signin":        {"法官、律师登录", "Sign in (judges, lawyers)"},
	"lang.switch":       {"English", "中文"},
	"noscript":          {"本页需要启用 JavaScript：文件在浏览器内计算 SM3 指纹，证书在浏览器内核验。", "This page needs JavaScript: files are hashed with SM3 and certificates checked inside the browser."},
	"trust.fingerprint": {"信任文件 SM3 指纹（可与法院公告核对）", "SM3 of the trust file (compare it with the court's announcement)"},

	"verify.heading":   {"核验文件", "Verify a file"},
	"verify.intro":     {"选择或拖入证据文件。文件在本机浏览器内计算 SM3 指纹，只有指纹发送给法院，文件内容不离开本机。持有文件即为持有证明：法院只答复指纹相符的存证记录。", "Pick or drop the evidence file. Its SM3 fingerprint is computed in this browser and only the fingerprint is sent to the court; the file's bytes never leave this computer. Holding the file is the proof of possession: the court answers only with records of that fingerprint."},
	"verify.drop":      {"将文件拖到此处，或点击选择文件（网页取证包 .wacz 亦可）", "Drop the file here, or click to choose it (a web capture bundle, .wacz, too)"},
	"verify.evidence":  {"证据编号（可选，核对文件是否为该编号下的证据）", "Evidence ID (optional: check that the file is the one filed under it)"},
	"verify.expected":  {"证书上的 SM3 指纹（来自二维码）", "SM3 fingerprint on the certificate (from its QR code)"},
	"verify.lookup":    {"按证据编号查询（法官；律师须同时提供文件指纹）", "Look up an evidence ID (judges; a lawyer must also give the file's fingerprint)"},
	"verify.lookupBtn": {"查询", "Look up"},
	"verify.button":    {"核验", "Verify"},

	"cert.heading":   {"核验证书", "Check a certificate"},
	"cert.intro":     {"拖入存证证明（JSON 或 PDF，页面自行取出 PDF 附带的 certificate.json），可同时拖入原始文件。核验完全在本页内进行：使用本项目的核验程序（WebAssembly）和法院公布的信任文件；页面加载后，即使所有法院节点都无法连接，核验仍可进行。", "Drop the proof certificate (JSON, or the PDF: the page takes out its attached certificate.json) and, optionally, the original file. The check runs entirely in this page, with the project's own verifier (WebAssembly) and the trust file the court publishes; once the page is loaded it works even when no court can be reached."},
	"cert.certfile":  {"存证证明（JSON 或 PDF）", "Certificate (JSON or PDF)"},
	"cert.file":      {"原始文件（可选）", "Original file (optional)"},
	"cert.trust":     {"信任文件（默认使用本法院公布的文件）", "Trust file (the one this court publishes unless you choose another)"},
	"cert.witnesses": {"至少需要的见证法院数", "Witness courts required at least"},
	"cert.button":    {"核验证书", "Check the certificate"},

	"signin.heading": {"法官、律师登录", "Sign in: judges and lawyers"},
	"signin.intro":   {"输入法院发放的访问令牌。会话保存在仅限本站、脚本不可读取的 Cookie 中，闲置或到期后自动退出。持有客户端证书的浏览器无需登录。", "Enter the access token the court issued you. The session lives in a cookie that only this site receives and no script can read; it ends when idle or expired. A browser with a client certificate needs no sign-in."},
	"signin.token":   {"访问令牌", "Access token"},
	"signin.button":  {"登录", "Sign in"},

	"status.heading":    {"法院状态", "Court status"},
	"status.node":       {"应答节点", "Node answering"},
	"status.ready":      {"就绪", "ready"},
	"status.notready":   {"未就绪", "not ready"},
	"status.head":       {"本院最新签名树头", "The court's newest signed tree head"},
	"status.size":       {"条目数", "Entries"},
	"status.root":       {"根哈希（SM3）", "Root (SM3)"},
	"status.time":       {"签名时间", "Signed at"},
	"status.note":       {"签名文本（C2SP checkpoint）", "Signed note (C2SP checkpoint)"},
	"status.witnesses":  {"见证法院的联署", "Witness courts' cosignatures"},
	"status.empty":      {"本院尚无存证，尚未签署树头。", "Nothing has been filed at this court yet, so it has signed no tree head."},
	"status.nowitness":  {"暂无见证法院联署此树头。", "No witness court has cosigned this head yet."},
	"status.mirrors":    {"本院镜像的其他法院账本", "Other courts' ledgers this court mirrors"},
	"status.court":      {"法院", "Court"},
	"status.checked":    {"最近核对", "Last checked"},
	"status.fresh":      {"新鲜度", "Freshness"},
	"status.tsa":        {"可信时间戳", "Trusted timestamps"},
	"status.tsas":       {"时间戳服务机构", "Time-stamping authorities"},
	"status.stamped":    {"已盖时间戳的最新树头（条目数）", "Newest stamped head (entries)"},
	"status.behind":     {"尚未盖时间戳的树头", "Heads not yet stamped"},
	"status.alarms":     {"告警", "Alarms"},
	"status.noalarm":    {"无活动告警。", "No active alarm."},
	"status.unreadable": {"无法读取法院状态：", "The court's status could not be read: "},

	// The page script's strings.
	"js.hashing":       {"正在浏览器内计算 SM3 指纹…", "Computing the SM3 fingerprint in this browser…"},
	"js.asking":        {"正在向法院查询指纹…", "Asking the court about the fingerprint…"},
	"js.fingerprint":   {"文件 SM3 指纹", "File SM3 fingerprint"},
	"js.timestamp":     {"可信时间戳", "Trusted timestamp"},
	"js.tsNotChecked":  {"未核验（信任文件中没有时间戳服务机构证书）", "not checked (the trust file holds no TSA certificate)"},
	"js.recordedFP":    {"存证的 SM3 指纹", "Recorded SM3 fingerprint"},
	"js.court":         {"存证法院", "Filing court"},
	"js.evidence":      {"证据编号", "Evidence ID"},
	"js.recorded":      {"存证时间", "Recorded at"},
	"js.platform":      {"提交平台", "Platform"},
	"js.position":      {"账本位置", "Ledger position"},
	"js.of":            {"共", "of"},
	"js.title":         {"标题", "Title"},
	"js.category":      {"类别", "Category"},
	"js.witnesses":     {"见证法院", "Witness courts"},
	"js.served":        {"应答法院", "Answered by"},
	"js.mirror":        {"答复来自本院对存证法院账本的镜像", "The answer comes from this court's mirror of the filing court's ledger"},
	"js.own":           {"答复来自存证法院自己的账本", "The answer comes from the filing court's own ledger"},
	"js.freshness":     {"所查账本最新签名树头", "Newest signed head of the ledger searched"},
	"js.ago":           {"前", "ago"},
	"js.downloadJSON":  {"下载证书（JSON）", "Download the certificate (JSON)"},
	"js.downloadPDF":   {"下载证书（PDF）", "Download the certificate (PDF)"},
	"js.error":         {"出错：", "Error: "},
	"js.signedInAs":    {"已登录：", "Signed in as "},
	"js.signout":       {"退出", "Sign out"},
	"js.expectedDiff":  {"文件指纹与证书二维码上的指纹不一致", "The file's fingerprint differs from the one on the certificate's QR code"},
	"js.expectedSame":  {"文件指纹与证书二维码上的指纹一致", "The file's fingerprint matches the one on the certificate's QR code"},
	"js.loadingWasm":   {"正在加载核验程序…", "Loading the verifier…"},
	"js.wasmReady":     {"核验程序已加载，可离线核验。", "The verifier is loaded; checks now work offline."},
	"js.trustLoaded":   {"信任文件 SM3：", "Trust file SM3: "},
	"js.issuer":        {"出具法院签名", "Issuer's signature"},
	"js.verified":      {"已验证", "verified"},
	"js.notVerified":   {"未验证", "not verified"},
	"js.trusted":       {"受信任", "trusted"},
	"js.untrusted":     {"不在信任文件中或未通过验证", "not in the trust file or not verified"},
	"js.batch":         {"批量提交", "Filed in batch"},
	"js.entry":         {"第", "entry"},
	"js.needFile":      {"请选择文件。", "Choose a file first."},
	"js.needCert":      {"请选择存证证明。", "Choose a certificate first."},
	"js.signedIn":      {"登录成功。", "Signed in."},
	"js.sessionGone":   {"会话已过期，请重新登录。", "The session has expired; sign in again."},
	"js.recordings":    {"存证记录", "Recordings"},
	"js.notRecordedAt": {"本院及其镜像中均无此指纹的存证记录。", "Neither this court nor its mirrors hold a recording of this fingerprint."},
	"js.found":         {"已取得该证据的存证证明。", "The evidence's certificate was found."},
	// The refusals a person meets, by the API's reason; the court's own
	// message (English) follows in brackets.
	"js.reason.PROOF_OF_POSSESSION_REQUIRED": {"须提供证据文件的 SM3 指纹（持有证明）。请在上方选择文件核验。", "The evidence file's SM3 fingerprint is required (proof of possession): verify the file above."},
	"js.reason.SESSION_EXPIRED":              {"会话已过期，请重新登录。", "The session has expired; sign in again."},
	"js.reason.CSRF_TOKEN_MISMATCH":          {"请求未带有效的防伪令牌，请刷新页面。", "The request lacked a valid anti-forgery token; reload the page."},
	"js.reason.UNKNOWN_TOKEN":                {"访问令牌不正确。", "The access token is not known at this court."},
	"js.reason.ROLE_NOT_ALLOWED":             {"此身份无权进行该操作。", "This role may not do that."},
	"js.reason.RATE_LIMITED":                 {"请求过于频繁，请稍后再试。", "Too many requests; try again shortly."},
	"js.reason.NOT_FOUND":                    {"未找到该证据（或文件指纹与之不符）。", "No such evidence here (or the file's fingerprint is not its)."},
	"js.checkingBundle":                      {"这是网页取证包：正在浏览器内逐一核对其中每个文件与取证清单是否相符…", "This is a web capture bundle: checking every file in it against its manifest, in this browser…"},
	"js.bundle":                              {"网页取证包", "Web capture bundle"},
	"js.bundleOK":                            {"取证包内 %d 个文件均与清单相符；清单的 SM3 指纹即存证的证据，已向法院核验。", "All %d files of the bundle match its manifest; the manifest's SM3 fingerprint is the evidence filed, verified with the court."},
	"js.bundleBad":                           {"取证包内以下文件与取证清单不符，取证内容已被改动：", "These files of the bundle differ from its manifest; the capture has been changed:"},
	"js.bundleMalformed":                     {"无法作为网页取证包读取：", "It cannot be read as a web capture bundle: "},
	"js.bundleTooBig":                        {"文件超过本页可按取证包核对的大小，按普通文件核验；请用 evidencectl verify 核对取证包。", "The file is larger than this page checks as a capture bundle, so it is verified as a plain file; check the bundle with evidencectl verify."},
	"js.manifestFP":                          {"取证清单 SM3 指纹（存证的证据）", "Manifest SM3 fingerprint (the evidence filed)"},
	"js.captureURL":                          {"取证网址", "Captured URL"},
	"js.finalURL":                            {"最终网址（跳转后）", "Final URL (after redirects)"},
	"js.pageTitle":                           {"网页标题", "Page title"},
	"js.capturedAt":                          {"取证时间（取证机器时钟）", "Captured at (the capturing machine's clock)"},
	"js.browser":                             {"浏览器", "Browser"},
	"js.bundleFiles":                         {"文件数", "Files"},
	"js.captureWarnings":                     {"取证提示", "Capture warnings"},
	"js.screenshot":                          {"取证截图（取自取证包，已与清单核对）", "Screenshot of the capture (from the bundle, checked against its manifest)"},
	"js.bytes":                               {"字节", "bytes"},
	"js.seconds":                             {"秒", "s"},
}

// verdictKey is the page script's key of a verdict's words, by the API's
// enum name (VERDICT_VALID) and by the verifier's (VALID).
func verdictStrings(lang string, out map[string]string) {
	for v := certificate.Valid; v <= certificate.Malformed; v++ {
		name := v.String()
		api := "VERDICT_" + strings.ReplaceAll(name, " ", "_")
		word := name + "（" + v.Chinese() + "）"
		if lang == "en" {
			word = name + " (" + v.Chinese() + ")"
		}
		out["verdict."+api] = word
		out["verdict."+name] = word
	}
}

func text(lang, key string) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	if lang == "en" {
		return m.en
	}
	return m.zh
}

// scriptStrings are the strings the page script needs, in lang.
func scriptStrings(lang string) map[string]string {
	out := map[string]string{}
	for k := range messages {
		if strings.HasPrefix(k, "js.") {
			out[strings.TrimPrefix(k, "js.")] = text(lang, k)
		}
	}
	verdictStrings(lang, out)
	return out
}

var templateFuncs = template.FuncMap{
	"t": text,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.In(chinaTime).Format("2006-01-02 15:04:05 (UTC+8)")
	},
	"age": func(now, t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return now.Sub(t).Round(time.Second).String()
	},
	"other": func(lang string) string {
		if lang == "en" {
			return "zh"
		}
		return "en"
	},
}

var chinaTime = time.FixedZone("UTC+8", 8*3600)
