package webcapture

import (
	"bytes"
	"context"
	"fmt"
	"image/png"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// scrollJS scrolls down a screen at a time, at most scrollSteps times, so
// that lazy images and infinite lists load, and returns to the top.
var scrollJS = fmt.Sprintf(`(async () => {
  const step = Math.max(window.innerHeight, 200);
  for (let i = 0, y = 0; i < %d && y < document.documentElement.scrollHeight; i++) {
    y += step; window.scrollTo(0, y);
    await new Promise(r => setTimeout(r, 120));
  }
  window.scrollTo(0, 0);
  await new Promise(r => setTimeout(r, 120));
  return document.documentElement.scrollHeight;
})()`, scrollSteps)

// capturePage records the title, final URL, DOM and screenshot.
func capturePage(ctx context.Context, b *Bundle, cfg Config, warn func(string, ...any)) error {
	m := &b.Manifest
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return fmt.Errorf("final URL: %w", err)
	}
	m.FinalURL = loc
	if m.Title, err = chromedp.Run(ctx, chromedp.Title()); err != nil {
		return fmt.Errorf("title: %w", err)
	}
	cfg.Logger.DebugContext(ctx, "capture: title")
	// Cut in the page already: a DOM of hundreds of MB is not sent whole
	// over the DevTools connection. (JavaScript counts UTF-16 units, so the
	// cut there is at MaxBytes units, and then at MaxBytes bytes here.)
	type domText struct {
		HTML   string `json:"html"`
		Length int64  `json:"length"`
		Cut    bool   `json:"cut"`
	}
	d, err := chromedp.Run(ctx, chromedp.Evaluate[domText](fmt.Sprintf(`(() => {
  const s = (document.doctype ? new XMLSerializer().serializeToString(document.doctype) + "\n" : "") + document.documentElement.outerHTML;
  return {html: s.length > %[1]d ? s.slice(0, %[1]d) : s, length: s.length, cut: s.length > %[1]d};
})()`, cfg.MaxBytes)))
	if err != nil {
		return fmt.Errorf("DOM: %w", err)
	}
	dom := d.HTML
	if d.Cut || int64(len(dom)) > cfg.MaxBytes {
		warn("DOM of %d characters cut to --max-bytes %d", d.Length, cfg.MaxBytes)
		m.Page.Truncated = true
		if int64(len(dom)) > cfg.MaxBytes {
			dom = dom[:cfg.MaxBytes]
		}
	}
	b.Add(DOMName, []byte(dom))

	cfg.Logger.DebugContext(ctx, "capture: DOM", "bytes", len(dom))
	lm, err := chromedp.Call(ctx, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		return fmt.Errorf("layout: %w", err)
	}
	w, h := float64(cfg.Width), float64(cfg.Height)
	if cs := lm.CSSContentSize; cs != nil {
		w, h = max(w, cs.Width), max(h, cs.Height)
	}
	if h > maxShotHeight {
		warn("screenshot: the page is %.0f CSS pixels tall; the screenshot shows the top %d", h, maxShotHeight)
		h, m.Page.Truncated = maxShotHeight, true
	}
	yes := true
	shot, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng,
		Clip: &page.Viewport{Width: w, Height: h, Scale: 1}, CaptureBeyondViewport: &yes, FromSurface: &yes})
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	cfg.Logger.DebugContext(ctx, "capture: screenshot", "bytes", len(shot.Data))
	img, err := png.DecodeConfig(bytes.NewReader(shot.Data))
	if err != nil {
		return fmt.Errorf("screenshot: not a PNG: %w", err)
	}
	m.Page.Width, m.Page.Height = int64(img.Width), int64(img.Height)
	b.Add(ScreenshotName, shot.Data)
	return nil
}

// fetchBodies reads each finished response's body from the browser, while
// they fit in budget; what does not fit is cut and said so.
func fetchBodies(ctx context.Context, xs []*exchange, budget int64, warn func(string, ...any), truncated *bool) {
	var cut []string
	for _, x := range xs {
		if x.resp == nil || x.redirect || !x.finished {
			continue
		}
		if x.encoded > budget {
			x.bodyNote, x.cut = "not recorded: over --max-bytes", true
			cut = append(cut, x.req.URL)
			continue
		}
		res, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: x.id})
		if err != nil {
			x.bodyNote = "not kept by the browser: " + err.Error()
			if x.resp.Status/100 == 2 && x.encoded > 0 {
				warn("body of %s not recorded: %v", x.req.URL, err)
			}
			continue
		}
		body := res.Body
		if int64(len(body)) > budget {
			x.bodyNote, x.cut = fmt.Sprintf("cut at %d of %d bytes: over --max-bytes", budget, len(body)), true
			body = body[:max(budget, 0)]
			cut = append(cut, x.req.URL)
		}
		budget -= int64(len(body))
		x.body = body
	}
	if len(cut) > 0 {
		*truncated = true
		warn("--max-bytes reached: %d response bodies cut or left out%s", len(cut), listSome(cut))
	}
}
