package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/testutil"
)

var alice = handlers.User{Subject: "user-1", FHIRUser: "Practitioner/prac-1", Name: "Alice Adams"}

const alicePassword = "correct horse battery staple"

// countingDirectory counts lookups, to show which attempts reached the
// directory (and so a hash).
type countingDirectory struct {
	UserDirectory
	lookups atomic.Int32
}

func (d *countingDirectory) FindAccount(ctx context.Context, username string) (*Account, error) {
	d.lookups.Add(1)
	return d.UserDirectory.FindAccount(ctx, username)
}

// formRig is a Password over a directory holding alice, with cheap
// hashes and a clock the test moves.
type formRig struct {
	*Password
	users *countingDirectory
	clock *testutil.FakeClock
}

func newFormRig(t *testing.T, cfg PasswordConfig) formRig {
	t.Helper()
	dir := &Directory{params: testParams}
	require.NoError(t, dir.Add("alice", alicePassword, alice))
	users := &countingDirectory{UserDirectory: dir}
	clock := testutil.NewFakeClock()
	cfg.Users, cfg.Now = users, clock.Now
	cfg.Logger = slog.New(slog.DiscardHandler)
	p, err := newPassword(cfg, testParams)
	require.NoError(t, err)
	return formRig{Password: p, users: users, clock: clock}
}

// result is one answer of the form.
type result struct {
	w    *httptest.ResponseRecorder
	user *handlers.User
	err  error
}

// post submits the form from the client at remote (host:port).
func (g formRig) post(t *testing.T, form url.Values, remote string) result {
	t.Helper()
	form.Set("csrf_token", "checked-by-the-server")
	r := httptest.NewRequest(http.MethodPost, "https://auth.example.org/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = remote
	require.NoError(t, r.ParseForm())
	w := httptest.NewRecorder()
	u, err := g.Authenticate(w, r, &handlers.Login{State: map[string]string{}})
	return result{w, u, err}
}

func (g formRig) signIn(t *testing.T, username, password, remote string) result {
	t.Helper()
	return g.post(t, url.Values{"username": {username}, "password": {password}}, remote)
}

func requireRefused(t *testing.T, res result, status int, message string) {
	t.Helper()
	require.NoError(t, res.err)
	require.Nil(t, res.user)
	require.Equal(t, status, res.w.Code, res.w.Body.String())
	require.Contains(t, res.w.Body.String(), message)
	require.Contains(t, res.w.Body.String(), `name="username"`, "the form again")
}

func requireSignedIn(t *testing.T, res result) {
	t.Helper()
	require.NoError(t, res.err)
	require.NotNil(t, res.user, "status %d: %s", res.w.Code, res.w.Body.String())
	require.Equal(t, alice, *res.user)
	require.Zero(t, res.w.Body.Len(), "the server answers a successful login, not the form")
	require.Empty(t, res.w.Header())
}

func TestPasswordShowsTheFormUnlessPosted(t *testing.T) {
	t.Parallel()
	g := newFormRig(t, PasswordConfig{})
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(method, "https://auth.example.org/login", nil)
		u, err := g.Authenticate(w, r, &handlers.Login{State: map[string]string{}})
		require.NoError(t, err, method)
		assert.Nil(t, u, method)
		assert.Equal(t, http.StatusOK, w.Code, method)
		assert.Contains(t, w.Body.String(), `name="username"`, method)
		assert.Contains(t, w.Body.String(), "Sign in", method)
	}
	assert.Zero(t, g.users.lookups.Load())
}

func TestPasswordSignsInWithTheRightPassword(t *testing.T) {
	t.Parallel()
	g := newFormRig(t, PasswordConfig{})
	res := g.signIn(t, "alice", alicePassword, "192.0.2.1:5000")
	requireSignedIn(t, res)

	res.user.Name = "Mallory"
	requireSignedIn(t, g.signIn(t, "alice", alicePassword, "192.0.2.1:5000"))
}

func TestPasswordRefusals(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name    string
		form    url.Values
		status  int
		message string
		lookups int32 // 0: refused before the directory, and any hash
	}{
		{"wrong password", url.Values{"username": {"alice"}, "password": {"Correct horse battery staple"}}, 401, msgIncorrect, 1},
		{"unknown user", url.Values{"username": {"bob"}, "password": {alicePassword}}, 401, msgIncorrect, 1},
		{"username in another case", url.Values{"username": {"Alice"}, "password": {alicePassword}}, 401, msgIncorrect, 1},
		{"empty username", url.Values{"username": {""}, "password": {alicePassword}}, 400, msgMissing, 0},
		{"empty password", url.Values{"username": {"alice"}, "password": {""}}, 400, msgMissing, 0},
		{"no fields", url.Values{}, 400, msgMissing, 0},
		{"overlong password", url.Values{"username": {"alice"}, "password": {long(maxPasswordLen + 1)}}, 401, msgIncorrect, 0},
		{"overlong username", url.Values{"username": {long(maxUsernameLen + 1)}, "password": {"pw"}}, 401, msgIncorrect, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newFormRig(t, PasswordConfig{})
			requireRefused(t, g.post(t, tt.form, "192.0.2.1:5000"), tt.status, tt.message)
			assert.Equal(t, tt.lookups, g.users.lookups.Load())
		})
	}
}

// countingHash counts the passwords checked against a hash.
type countingHash struct {
	storedHash
	checks atomic.Int32
}

func (h *countingHash) verify(password string) (bool, error) {
	h.checks.Add(1)
	return h.storedHash.verify(password)
}

func TestPasswordAnswersUnknownUsersLikeWrongPasswords(t *testing.T) {
	t.Parallel()
	g := newFormRig(t, PasswordConfig{})
	dummy := &countingHash{storedHash: g.dummy}
	g.dummy = dummy
	wrong := g.signIn(t, "alice", "wrong", "192.0.2.1:5000")
	require.Zero(t, dummy.checks.Load())
	unknown := g.signIn(t, "nobody", "wrong", "192.0.2.2:5000")
	assert.Equal(t, int32(1), dummy.checks.Load(), "an unknown user costs a hash too")
	assert.Equal(t, wrong.w.Code, unknown.w.Code)
	assert.Equal(t, withoutNonce(t, wrong.w), withoutNonce(t, unknown.w))
}

// withoutNonce is the headers and body of an answer with the page's CSP
// nonce, different each time, taken out.
func withoutNonce(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	csp := w.Header().Get("Content-Security-Policy")
	_, nonce, _ := strings.Cut(csp, "'nonce-")
	nonce, _, _ = strings.Cut(nonce, "'")
	require.NotEmpty(t, nonce)
	var b strings.Builder
	require.NoError(t, w.Header().Write(&b))
	return strings.ReplaceAll(b.String()+w.Body.String(), nonce, "NONCE")
}

// brokenDirectory holds one account whose stored hash is unusable, or
// fails outright.
type brokenDirectory struct{ err error }

func (d brokenDirectory) FindAccount(context.Context, string) (*Account, error) {
	if d.err != nil {
		return nil, d.err
	}
	return &Account{User: alice, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw"}, nil
}

func TestPasswordFailsOnABrokenDirectory(t *testing.T) {
	t.Parallel()
	outage := errors.New("database unreachable")
	tests := []struct {
		name string
		dir  brokenDirectory
		want error
	}{
		{"malformed stored hash", brokenDirectory{}, ErrInvalidHash},
		{"directory error", brokenDirectory{err: outage}, outage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := newPassword(PasswordConfig{Users: tt.dir, MaxAccountAttempts: 1, Logger: slog.New(slog.DiscardHandler)}, testParams)
			require.NoError(t, err)
			g := formRig{Password: p}
			for range 2 { // neither counts as a failed attempt
				res := g.signIn(t, "alice", "s3cret-guess", "192.0.2.1:5000")
				require.ErrorIs(t, res.err, tt.want)
				assert.NotContains(t, res.err.Error(), "s3cret-guess")
				assert.Nil(t, res.user)
				assert.Zero(t, res.w.Body.Len())
			}
		})
	}
}

func TestPasswordThrottlesAnAccount(t *testing.T) {
	t.Parallel()
	g := newFormRig(t, PasswordConfig{})
	for i := range 5 { // from different addresses, so only the account limit applies
		requireRefused(t, g.signIn(t, "alice", "guess", fmt.Sprintf("192.0.2.%d:5000", i)), 401, msgIncorrect)
	}
	lookups := g.users.lookups.Load()

	res := g.signIn(t, "alice", alicePassword, "198.51.100.7:5000")
	requireRefused(t, res, http.StatusTooManyRequests, "Too many sign-in attempts. Try again in 15 minutes.")
	assert.Equal(t, "900", res.w.Header().Get("Retry-After"))
	assert.Equal(t, lookups, g.users.lookups.Load(), "no password was checked")

	g.clock.Advance(14*time.Minute + 30*time.Second)
	res = g.signIn(t, "ALICE", alicePassword, "198.51.100.7:5000")
	requireRefused(t, res, http.StatusTooManyRequests, "Try again in 1 minute.")
	assert.Equal(t, "30", res.w.Header().Get("Retry-After"))

	g.clock.Advance(30 * time.Second)
	requireSignedIn(t, g.signIn(t, "alice", alicePassword, "198.51.100.7:5000"))
}

func TestPasswordThrottlesAnAddressAcrossUsernames(t *testing.T) {
	t.Parallel()
	g := newFormRig(t, PasswordConfig{MaxAddressAttempts: 3})
	for i := range 3 {
		requireRefused(t, g.signIn(t, fmt.Sprintf("user%d", i), "guess", "203.0.113.9:4000"), 401, msgIncorrect)
	}
	res := g.signIn(t, "alice", alicePassword, "203.0.113.9:4001")
	requireRefused(t, res, http.StatusTooManyRequests, "Too many sign-in attempts.")
	assert.NotEmpty(t, res.w.Header().Get("Retry-After"))

	requireSignedIn(t, g.signIn(t, "alice", alicePassword, "203.0.113.10:4000"))
}

func TestPasswordCountsAnIPv6ClientByIts64(t *testing.T) {
	t.Parallel()
	g := newFormRig(t, PasswordConfig{MaxAddressAttempts: 2})
	requireRefused(t, g.signIn(t, "u1", "guess", "[2001:db8:1:2::1]:4000"), 401, msgIncorrect)
	requireRefused(t, g.signIn(t, "u2", "guess", "[2001:db8:1:2:ffff::9]:4000"), 401, msgIncorrect)
	requireRefused(t, g.signIn(t, "alice", alicePassword, "[2001:db8:1:2::abcd]:4000"), 429, "Too many sign-in attempts.")
	requireSignedIn(t, g.signIn(t, "alice", alicePassword, "[2001:db8:1:3::1]:4000"))
}

func TestPasswordClientIPNamesTheAddress(t *testing.T) {
	t.Parallel()
	g := newFormRig(t, PasswordConfig{
		MaxAddressAttempts: 1,
		ClientIP:           func(r *http.Request) string { return r.Header.Get("X-Test-Client") },
	})
	sign := func(client, password string) result {
		form := url.Values{"username": {"alice"}, "password": {password}, "csrf_token": {"x"}}
		r := httptest.NewRequest(http.MethodPost, "https://auth.example.org/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Test-Client", client)
		w := httptest.NewRecorder()
		u, err := g.Authenticate(w, r, &handlers.Login{State: map[string]string{}})
		return result{w, u, err}
	}
	requireRefused(t, sign("203.0.113.1", "guess"), 401, msgIncorrect)
	requireRefused(t, sign("203.0.113.1", alicePassword), 429, "Too many sign-in attempts.")
	requireSignedIn(t, sign("203.0.113.2", alicePassword))
}

func TestPasswordSuccessClearsTheAccountCount(t *testing.T) {
	t.Parallel()
	g := newFormRig(t, PasswordConfig{})
	for range 2 { // 10 attempts in one window, under a limit of 5
		for range 4 {
			requireRefused(t, g.signIn(t, "alice", "guess", "192.0.2.1:5000"), 401, msgIncorrect)
		}
		requireSignedIn(t, g.signIn(t, "alice", alicePassword, "192.0.2.1:5000"))
	}
}

func TestPasswordSuccessDoesNotUseTheAddressLimit(t *testing.T) {
	t.Parallel()
	// An office behind one address signs in all day.
	g := newFormRig(t, PasswordConfig{MaxAddressAttempts: 2})
	for range 5 {
		requireSignedIn(t, g.signIn(t, "alice", alicePassword, "192.0.2.1:5000"))
	}
}

func TestPasswordNegativeLimitsTurnThrottlingOff(t *testing.T) {
	t.Parallel()
	g := newFormRig(t, PasswordConfig{MaxAccountAttempts: -1, MaxAddressAttempts: -1})
	for range 30 {
		requireRefused(t, g.signIn(t, "alice", "guess", "192.0.2.1:5000"), 401, msgIncorrect)
	}
	requireSignedIn(t, g.signIn(t, "alice", alicePassword, "192.0.2.1:5000"))
}

// Concurrent guesses are counted as they start, so a burst that hashes
// at once cannot get more than the limit through.
func TestPasswordConcurrentGuessesStayWithinTheLimit(t *testing.T) {
	t.Parallel()
	g := newFormRig(t, PasswordConfig{})
	var wg sync.WaitGroup
	codes := make([]int, 40)
	for i := range codes {
		wg.Go(func() {
			codes[i] = g.signIn(t, "alice", "guess", fmt.Sprintf("192.0.2.%d:5000", i)).w.Code
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	assert.Equal(t, map[int]int{401: 5, 429: 35}, count)
}

func TestNewPasswordRequiresUsers(t *testing.T) {
	t.Parallel()
	_, err := NewPassword(PasswordConfig{})
	require.ErrorContains(t, err, "Users")
}

func TestDirectoryRefusesAccountsThatCannotSignIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		username string
		password string
		user     handlers.User
	}{
		{"empty username", "", "pw", alice},
		{"overlong username", strings.Repeat("a", maxUsernameLen+1), "pw", alice},
		{"empty password", "alice", "", alice},
		{"overlong password", "alice", strings.Repeat("p", maxPasswordLen+1), alice},
		{"no subject", "alice", "pw", handlers.User{Name: "Alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &Directory{params: testParams}
			require.Error(t, d.Add(tt.username, tt.password, tt.user))
			_, err := d.FindAccount(t.Context(), tt.username)
			require.ErrorIs(t, err, ErrNoSuchAccount)
		})
	}
}

func TestDirectoryAddHashedChecksTheHash(t *testing.T) {
	t.Parallel()
	var d Directory // the zero Directory works
	err := d.AddHashed("alice", "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", alice)
	require.ErrorIs(t, err, ErrInvalidHash)

	hash, err := hashWith(testParams, "pw")
	require.NoError(t, err)
	require.NoError(t, d.AddHashed("alice", hash, alice))
	a, err := d.FindAccount(t.Context(), "alice")
	require.NoError(t, err)
	assert.Equal(t, Account{User: alice, PasswordHash: hash}, *a)
}

func TestDirectoryFindAccountReturnsACopy(t *testing.T) {
	t.Parallel()
	d := &Directory{params: testParams}
	require.NoError(t, d.Add("alice", "pw", alice))
	a, err := d.FindAccount(t.Context(), "alice")
	require.NoError(t, err)
	a.Subject, a.PasswordHash = "user-2", ""

	b, err := d.FindAccount(t.Context(), "alice")
	require.NoError(t, err)
	assert.Equal(t, alice, b.User)
	ok, err := CheckPassword(b.PasswordHash, "pw")
	require.NoError(t, err)
	assert.True(t, ok)

	_, err = d.FindAccount(t.Context(), "bob")
	assert.ErrorIs(t, err, ErrNoSuchAccount)
}

func TestDirectoryAddReplacesAnAccount(t *testing.T) {
	t.Parallel()
	g := newFormRig(t, PasswordConfig{})
	dir := g.users.UserDirectory.(*Directory)
	require.NoError(t, dir.Add("alice", "new password", alice))
	requireRefused(t, g.signIn(t, "alice", alicePassword, "192.0.2.1:5000"), 401, msgIncorrect)
	requireSignedIn(t, g.signIn(t, "alice", "new password", "192.0.2.1:5000"))
}
