package evidence

// Category says what kind of evidence a fingerprint stands for. The list is
// fixed: a judge reads it on the certificate, so it must mean the same thing
// at every court.
type Category string

// The categories, with the name a certificate prints.
const (
	CategoryContract    Category = "contract"    // 电子合同
	CategoryChat        Category = "chat"        // 聊天记录
	CategoryEmail       Category = "email"       // 电子邮件
	CategoryWebpage     Category = "webpage"     // 网页
	CategoryImage       Category = "image"       // 图片
	CategoryAudio       Category = "audio"       // 音频
	CategoryVideo       Category = "video"       // 视频
	CategoryDocument    Category = "document"    // 电子文档
	CategoryTransaction Category = "transaction" // 交易记录
	CategoryIP          Category = "ip"          // 知识产权作品
	CategoryOther       Category = "other"       // 其他
)

var categoryNames = map[Category]string{
	CategoryContract:    "电子合同",
	CategoryChat:        "聊天记录",
	CategoryEmail:       "电子邮件",
	CategoryWebpage:     "网页",
	CategoryImage:       "图片",
	CategoryAudio:       "音频",
	CategoryVideo:       "视频",
	CategoryDocument:    "电子文档",
	CategoryTransaction: "交易记录",
	CategoryIP:          "知识产权作品",
	CategoryOther:       "其他",
}

// Categories lists the accepted categories in a fixed order.
func Categories() []Category {
	return []Category{CategoryContract, CategoryChat, CategoryEmail, CategoryWebpage, CategoryImage,
		CategoryAudio, CategoryVideo, CategoryDocument, CategoryTransaction, CategoryIP, CategoryOther}
}

// Valid reports whether c is in the fixed list.
func (c Category) Valid() bool { _, ok := categoryNames[c]; return ok }

// ChineseName is the name a certificate prints, or "" for an unknown category.
func (c Category) ChineseName() string { return categoryNames[c] }
