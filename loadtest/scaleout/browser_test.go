package main

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormSubmitsWhatABrowserWould(t *testing.T) {
	t.Parallel()
	// The shape of the kit's consent page: a search form before it (the
	// picker's), hidden inputs, boxes ticked, unticked and disabled, and
	// the unticked category boxes of "Share only some kinds" (posting
	// none of them grants the whole scope).
	body := `<form method="get" action="/auth/authorize/patient"><input type="hidden" name="flow" value="nope"></form>
<form method="post" action="/auth/authorize/consent?flow=f1&amp;x=1">
<input type="hidden" name="csrf_token" value="a+b/c=">
<input type="hidden" name="scope" value="openid">
<input type="checkbox" id="scope-0" checked disabled> <label>needed</label>
<input type="checkbox" id="scope-1" name="scope" value="patient/*.rs" checked>
<input type="checkbox" id="scope-2" name="scope" value="offline_access">
<input type="checkbox" id="scope-3" name="scope" value="patient/Observation.rs" checked>
<details class="parts"><summary>Share only some kinds</summary>
<ul class="parts"><li><input type="checkbox" id="scope-3-0" name="narrow" value="patient/Observation.rs?category=laboratory"> <label for="scope-3-0">Laboratory</label></li></ul>
</details>
<button type="submit" name="decision" value="allow">Allow</button>
</form>
<form method="post" action="/other"><input type="hidden" name="csrf_token" value="second"></form>`
	from, err := url.Parse("http://127.0.0.1:1/auth/authorize/continue?flow=f1")
	require.NoError(t, err)
	p := &page{reply: &reply{status: 200, body: []byte(body)}, url: from}

	action, values, err := p.form()
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:1/auth/authorize/consent?flow=f1&x=1", action.String())
	assert.Equal(t, url.Values{"csrf_token": {"a+b/c="}, "scope": {"openid", "patient/*.rs", "patient/Observation.rs"}}, values)

	p.body = []byte(`<p>no form</p>`)
	_, _, err = p.form()
	assert.Equal(t, kindProtocol, kindOf(err))
}
