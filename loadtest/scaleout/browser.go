package main

import (
	"context"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// browser is one person's browser, as a client without a browser drives
// the kit's pages: its own cookie jar, every redirect seen, forms read
// from the HTML and posted as a same-origin page posts them.
type browser struct {
	d      *driver
	client *http.Client
	// seen lists which replica answered each request, and when.
	seen []visit
}

type visit struct {
	replica int
	at      time.Time
}

func (d *driver) newBrowser() (*browser, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	return &browser{d: d, client: &http.Client{
		Transport:     d.client.Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// page is an answer the browser saw, with the URL it came from.
type page struct {
	*reply
	url *url.URL
}

func (b *browser) do(req *http.Request) (*page, error) {
	r, err := b.d.send(b.client, req)
	if err != nil {
		return nil, err
	}
	b.seen = append(b.seen, visit{r.replica, time.Now()})
	return &page{reply: r, url: req.URL}, nil
}

func (b *browser) get(ctx context.Context, rawURL string) (*page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

// follow follows redirects that stay on the server's origin and returns
// the page it lands on, or the redirect that leaves (to the app).
func (b *browser) follow(ctx context.Context, p *page) (*page, error) {
	for range 10 {
		if p.location == "" {
			return p, nil
		}
		next, err := p.url.Parse(p.location)
		if err != nil {
			return nil, protocolf("redirect to %q: %v", p.location, err)
		}
		if next.Scheme+"://"+next.Host != b.d.origin {
			return p, nil
		}
		if p, err = b.get(ctx, next.String()); err != nil {
			return nil, err
		}
	}
	return nil, protocolf("more than 10 redirects")
}

// The kit's pages are plain HTML forms; these find what a browser would
// submit of the first POST form on a page.
var (
	postForm = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`)
	input    = regexp.MustCompile(`<input\b[^>]*>`)
	attr     = regexp.MustCompile(`\s([a-z-]+)(?:="([^"]*)")?`)
)

// form is what a page's first POST form submits: its hidden inputs and
// the ticked boxes, to its action.
func (p *page) form() (action *url.URL, values url.Values, err error) {
	m := postForm.FindSubmatch(p.body)
	if m == nil {
		return nil, nil, protocolf("no form on the page (HTTP %d)", p.status)
	}
	if action, err = p.url.Parse(html.UnescapeString(string(m[1]))); err != nil {
		return nil, nil, protocolf("form action: %v", err)
	}
	values = url.Values{}
	for _, tag := range input.FindAll(m[2], -1) {
		a := map[string]string{}
		for _, kv := range attr.FindAllSubmatch(tag, -1) {
			a[string(kv[1])] = html.UnescapeString(string(kv[2]))
		}
		_, checked := a["checked"]
		_, disabled := a["disabled"]
		if name := a["name"]; name != "" && !disabled && (a["type"] == "hidden" || a["type"] == "checkbox" && checked) {
			values.Add(name, a["value"])
		}
	}
	return action, values, nil
}

// submit posts p's first form with fields added (a button's name and
// value, the text a person types), as a same-origin page does.
func (b *browser) submit(ctx context.Context, p *page, fields url.Values) (*page, error) {
	action, values, err := p.form()
	if err != nil {
		return nil, err
	}
	for k, v := range fields {
		values[k] = v
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(values.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.d.origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// expect checks that p is the page named by marker (text only it has).
func (p *page) expect(what, marker string) error {
	if p.status != http.StatusOK || !strings.Contains(string(p.body), marker) {
		const show = 300
		body := string(p.body)
		if len(body) > show {
			body = body[:show]
		}
		return protocolf("want the %s page, got HTTP %d %s", what, p.status, body)
	}
	return nil
}

// replicas is how many distinct replicas answered the browser.
func (b *browser) replicas() int {
	seen := map[int]bool{}
	for _, v := range b.seen {
		seen[v.replica] = true
	}
	return len(seen)
}

// answeredBy reports whether replica n answered the browser before t.
func (b *browser) answeredBy(n int, t time.Time) bool {
	for _, v := range b.seen {
		if v.replica == n && v.at.Before(t) {
			return true
		}
	}
	return false
}
